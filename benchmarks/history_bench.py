"""Opening a long stored conversation: time to interactive, scroll-back cost, memory.

Fills a real SQLite file with N messages (prose and code answers), then opens it in the real
app headlessly (120x40) and measures: time from app start until the conversation is on screen
and the input accepts keys; the cost of each "load earlier" step as the person scrolls up;
resident memory after opening and after scrolling back through everything.

    python benchmarks/history_bench.py [--messages 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.screens.chat import ChatScreen
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.transcript import Transcript

PROSE = ("Streaming renderers keep finished blocks and redraw only the open tail, so the cost "
         "of a chunk follows the chunk. ") * 4
CODE = "```python\n" + "".join(f"def step_{i}(x):\n    return x * {i}\n" for i in range(12)) + "```"


def fill(store: ConversationStore, messages: int) -> int:
    conversation = store.create_conversation(title="long", model="m")
    for i in range(messages // 2):
        store.add_message(conversation, "user", f"Question {i}: how does this work?")
        answer = store.start_answer(conversation, model="m")
        body = f"{PROSE}\n\n{CODE}\n\n- point one\n- point two" if i % 2 else PROSE
        store.finish_answer(answer, body, "done")
    return conversation


async def run(path: Path, conversation: int) -> dict[str, float]:
    process = psutil.Process()
    store = ConversationStore(path)
    settings = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m")
    started = time.perf_counter()
    app = make_app(settings, ScriptedProvider(), store=store, conversation_id=conversation)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        while not screen.query("#earlier"):
            await pilot.pause(0.005)
        await pilot.press("x")  # the input takes a key: interactive
        interactive = time.perf_counter() - started
        rss_open = process.memory_info().rss
        steps = []
        while screen.transcript.unshown:
            before = time.perf_counter()
            await screen.transcript.show_earlier()
            await pilot.pause()
            steps.append(time.perf_counter() - before)
        mounted = len(screen.query(MessageView))
        frame = []
        screen.transcript.scroll_end(animate=False)
        await pilot.pause()
        for _ in range(20):  # scrolling through the whole transcript, one frame per step
            before = time.perf_counter()
            screen.transcript.scroll_y = max(0, screen.transcript.scroll_y - 30)
            # The screen's own frame: layout what scrolled in and paint it. (Pilot's pause
            # waits on every widget in turn, which would measure Pilot, not the app.)
            screen._on_timer_update()
            frame.append(time.perf_counter() - before)
            await asyncio.sleep(0)
        rss_all = process.memory_info().rss
    store.close()
    return {"interactive_s": interactive, "rss_open_mb": rss_open / 2**20,
            "load_step_ms": statistics.median(steps) * 1000 if steps else 0,
            "load_step_max_ms": max(steps) * 1000 if steps else 0, "mounted": mounted,
            "scroll_ms": statistics.median(frame) * 1000, "rss_all_mb": rss_all / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.db"
        with ConversationStore(path) as store:
            conversation = fill(store, args.messages)
        r = asyncio.run(run(path, conversation))
    print(f"messages: {args.messages}")
    print(f"open → interactive: {r['interactive_s']:.2f} s (window of {Transcript.WINDOW} "
          "mounted)")
    print(f"RSS after opening: {r['rss_open_mb']:.0f} MB")
    print(f"load 40 earlier messages: median {r['load_step_ms']:.0f} ms, "
          f"max {r['load_step_max_ms']:.0f} ms")
    print(f"scroll step with all {int(r['mounted'])} mounted: median {r['scroll_ms']:.1f} ms")
    print(f"RSS with all mounted: {r['rss_all_mb']:.0f} MB")


if __name__ == "__main__":
    main()
