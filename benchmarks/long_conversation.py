"""A 10,000-message conversation in the real app, headless (Pilot, 120x40).

Fills a real SQLite file (in a temp dir) with N messages (questions; answers of prose, code and
lists), opens the app on an empty conversation, then measures:

- open: `load_conversation` (what picking it from the list does) → its last message on screen;
- scrolling with keys on the transcript: Home (to the start), End (back), then PgUp `--pages`
  times and PgDn as many: the longest stall of the event loop (how late a 5 ms timer fired),
  the peak resident memory, and the most messages mounted at once;
- CPU per streamed chunk (the process's CPU time over the chunks, 1,000 chunks at 500/s) for an
  answer streaming at the end of that conversation, against the same answer in an empty one:
  `--cpu-rounds` rounds (default 5), the two alternated in one process (long, empty, long, ...:
  the conversation is opened again between rounds, outside the measured time), and the median
  of each, since single runs of either moved 3x between runs.

    python benchmarks/long_conversation.py               # 10,000 messages
    python benchmarks/long_conversation.py --messages 2000 --pages 50

Prints one line per figure. Only public behaviour of the app is used, so the same script runs
on an older build (copy it into that tree).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

import tui_chat
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.models import Delta, Finished
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.screens.chat import ChatScreen
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView

PROSE = ("Streaming renderers keep finished blocks and redraw only the open tail, so the cost "
         "of a chunk follows the chunk. ") * 4
CODE = "```python\n" + "".join(f"def step_{i}(x):\n    return x * {i}\n" for i in range(8)) + "```"
SIZE = (120, 40)
CHUNKS = 1000
RATE = 500.0


def fill(path: Path, messages: int) -> int:
    with ConversationStore(path) as store:
        conversation = store.create_conversation(title="long", model="m")
        for i in range(messages // 2):
            store.add_message(conversation, "user", f"Question {i}: how does this work?")
            answer = store.start_answer(conversation, model="m")
            body = (f"{PROSE}\n\n{CODE}\n\n- point one\n- point two" if i % 3 == 1
                    else PROSE if i % 3 == 0 else f"Short answer {i}.")
            store.finish_answer(answer, body, "done")
    return conversation


class Monitor:
    """Runs in the app's event loop: how late a 5 ms sleep wakes (a stall of the screen), and
    the resident memory every 50 ms."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.stall = 0.0
        self.rss = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def reset(self) -> None:
        self.stall = 0.0
        self.rss = self.process.memory_info().rss

    async def _run(self) -> None:
        last_rss = 0.0
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.stall = max(self.stall, now - before - 0.005)
            if now - last_rss > 0.05:
                last_rss = now
                self.rss = max(self.rss, self.process.memory_info().rss)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def on_screen(screen: ChatScreen) -> list[MessageView]:
    viewport = screen.transcript.scrollable_content_region
    return sorted((view for view in screen.query(MessageView)
                   if view.region and view.region.overlaps(viewport)),
                  key=lambda view: view.region.y)


async def until(pilot, condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            return False
        await pilot.pause(0.002)
    return True


def answer_events() -> list[object]:
    words = "the quick brown fox jumps over a lazy dog while tokens arrive".split()
    return [*(Delta(f" {words[i % len(words)]}" + ("\n\n" if i % 50 == 49 else ""))
              for i in range(CHUNKS)), Finished("stop")]


async def stream_cpu(app, pilot) -> float:
    """CPU ms per chunk of one answer streamed at RATE into the open conversation."""
    screen = app.screen
    await pilot.pause(0.2)
    gc.collect()  # each round starts with no garbage pending from the one before
    await pilot.press(*"go", "enter")
    start = time.process_time()
    await app.workers.wait_for_complete()
    await pilot.pause(0.1)
    cpu = time.process_time() - start
    assert screen.query(MessageView).last().text.count(" ") >= CHUNKS
    return cpu * 1000 / CHUNKS


async def measure(path: Path, conversation: int, pages: int,
                  cpu_rounds: int) -> dict[str, Any]:
    settings = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m", system="")
    store = ConversationStore(path)
    provider = ScriptedProvider(answer_events(), delay=1 / RATE)
    app = make_app(settings, provider, store=store)
    r: dict[str, Any] = {}
    monitor = Monitor()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await stream_cpu(app, pilot)  # warm-up: first imports, first draws
        await screen.new_conversation()
        await stream_cpu(app, pilot)
        last_id = store.messages(conversation)[-1].id
        first_id = store.messages(conversation)[0].id
        await pilot.pause(0.2)
        monitor.start()
        monitor.reset()
        started = time.perf_counter()
        await screen.load_conversation(conversation)
        shown = await until(pilot, lambda: bool(on_screen(screen))
                            and on_screen(screen)[-1].message_id == last_id)
        r["open_s"] = time.perf_counter() - started if shown else float("nan")
        r["open_stall_ms"] = monitor.stall * 1000
        await pilot.pause(0.5)
        transcript = screen.transcript
        transcript.focus()
        monitor.reset()
        most = len(screen.query(MessageView))
        started = time.perf_counter()
        await pilot.press("home")
        reached = await until(pilot, lambda: transcript.scroll_y == 0 and bool(on_screen(screen))
                              and on_screen(screen)[0].message_id == first_id, timeout=60)
        r["home_s"] = time.perf_counter() - started if reached else float("nan")
        most = max(most, len(screen.query(MessageView)))
        r["home_stall_ms"] = monitor.stall * 1000
        stall, monitor.stall = monitor.stall, 0.0
        await pilot.press("end")
        await until(pilot, lambda: bool(on_screen(screen))
                    and on_screen(screen)[-1].message_id == last_id)
        r["end_stall_ms"] = monitor.stall * 1000
        stall, monitor.stall = max(stall, monitor.stall), 0.0
        for key in ("pageup", "pagedown"):
            for _ in range(pages):
                await pilot.press(key)
                most = max(most, len(screen.query(MessageView)))
        await until(pilot, lambda: bool(on_screen(screen))
                    and on_screen(screen)[-1].message_id == last_id)
        await pilot.pause(0.3)
        r["page_stall_ms"] = monitor.stall * 1000
        r["scroll_stall_ms"] = max(stall, monitor.stall) * 1000
        r["rss_peak_mb"] = monitor.rss / 2**20
        r["mounted_most"] = most
        r["total_s"] = time.perf_counter() - started
        monitor.stop()
        long_cpu: list[float] = []
        empty_cpu: list[float] = []
        for _ in range(cpu_rounds):
            # Opened again each round (as picking it from the list does), so every round
            # starts at its end, following; the paging above may leave it a line short.
            await screen.load_conversation(conversation)
            await until(pilot, lambda: bool(on_screen(screen))
                        and on_screen(screen)[-1].role == "assistant"
                        and screen.transcript.scroll_y >= screen.transcript.max_scroll_y - 1)
            screen.prompt_input.focus()
            long_cpu.append(await stream_cpu(app, pilot))
            await screen.new_conversation()
            screen.prompt_input.focus()
            empty_cpu.append(await stream_cpu(app, pilot))
        r["cpu_long"] = statistics.median(long_cpu)
        r["cpu_empty"] = statistics.median(empty_cpu)
        r["cpu_long_runs"] = long_cpu
        r["cpu_empty_runs"] = empty_cpu
    store.close()
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=200, help="PgUp presses (then as many PgDn)")
    parser.add_argument("--cpu-rounds", type=int, default=5,
                        help="answers streamed in each conversation, alternated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.db"
        conversation = fill(path, args.messages)
        r = asyncio.run(measure(path, conversation, args.pages, args.cpu_rounds))
    n = f"{args.messages:,}"
    print(f"build: {Path(tui_chat.__file__).resolve().parents[1]}")
    print(f"open {n} messages → end on screen: {r['open_s']:.2f} s "
          f"(longest stall {r['open_stall_ms']:.0f} ms)")
    print(f"Home → first message on screen: {r['home_s']:.2f} s (longest stall "
          f"{r['home_stall_ms']:.0f} ms; End back: {r['end_stall_ms']:.0f} ms; paging: "
          f"{r['page_stall_ms']:.0f} ms)")
    print(f"scroll Home, End, {args.pages} PgUp, {args.pages} PgDn: longest stall "
          f"{r['scroll_stall_ms']:.0f} ms")
    print(f"scroll: RSS peak {r['rss_peak_mb']:.0f} MB, at most {r['mounted_most']:.0f} "
          f"messages mounted")
    extra = (r["cpu_long"] / r["cpu_empty"] - 1) * 100
    print(f"CPU per chunk: {r['cpu_long']:.2f} ms in the {n}-message conversation, "
          f"{r['cpu_empty']:.2f} ms in an empty one ({extra:+.0f} %; medians of "
          f"{args.cpu_rounds} alternated rounds: "
          f"{' '.join(f'{x:.2f}' for x in r['cpu_long_runs'])} / "
          f"{' '.join(f'{x:.2f}' for x in r['cpu_empty_runs'])})")


if __name__ == "__main__":
    main()
