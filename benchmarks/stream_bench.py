"""Per-chunk display latency and CPU of the real app, headless, against the local server.

Runs TuiChatApp (real provider, real worker, real renderer) under `App.run_test()` with the
fake OpenAI server in a thread on 127.0.0.1. For every frame the compositor produces, the
frame is turned into terminal bytes (as a real terminal driver would) and the time is noted
with how much of the answer the frame shows. A chunk's latency is the time from the server
writing it to the first frame that shows it. CPU is the app thread's CPU time per chunk (the
server runs on another thread and is not counted).

    python benchmarks/stream_bench.py              # all five scenarios
    python benchmarks/stream_bench.py --quick      # fewer chunks
    python benchmarks/stream_bench.py --reasoning  # only the reasoning one

The reasoning scenario sends 20,000 reasoning chunks (about a token each) at 500 a second,
then a short answer: its latency is from the server writing a reasoning chunk to the first
frame whose thinking section shows it. It runs with `reasoning = "show"`: folded (the default),
the section folds away as the answer starts, so the last reasoning chunks, which arrive with
the first answer chunk, are never drawn and have no latency to measure; unfolded, every chunk
must reach the screen, the harder case.
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

from tests.fake_openai import FakeOpenAI
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.widgets.message_view import MessageView


def prose_chunks(count: int) -> list[str]:
    words = ("the quick brown fox jumps over a lazy dog while streaming tokens arrive in "
             "order and the renderer keeps up with every one of them").split()
    chunks = []
    for i in range(count):
        word = words[i % len(words)]
        chunks.append(f" {word}" + ("\n\n" if i % 60 == 59 else ""))
    return chunks


def code_chunks(count: int, lines: int = 250) -> list[str]:
    body = "".join(f"    value_{i} = compute(item, {i}) + offset  # step {i}\n"
                   for i in range(lines))
    text = "Here is the code:\n\n```python\ndef run(item, offset):\n" + body + "```\n"
    size = max(1, len(text) // count)
    return [text[i:i + size] for i in range(0, len(text), size)]


def reasoning_chunks(count: int) -> list[str]:
    words = ("so the user wants the list sorted by length and ties kept in order which "
             "sorted with key len does because it is stable let me check an example").split()
    return [f"{words[i % len(words)]} " + ("\n\n" if i % 80 == 79 else "")
            for i in range(count)]


async def measure(chunks: list[str], rate: float,
                  reasoning: list[str] | None = None) -> dict[str, float]:
    async with FakeOpenAI(chunks_per_second=rate) as fake:
        from tests.fake_openai import Reply

        fake.script(Reply(chunks=chunks, reasoning=reasoning))
        settings = load_settings(None, {}, base_url=fake.url, model="fake-model",
                                 system="", retries=0,
                                 reasoning="show" if reasoning else "folded")
        with tempfile.TemporaryDirectory() as tmp:
            from tui_chat.store import ConversationStore

            store = ConversationStore(Path(tmp) / "bench.db")
            app = make_app(settings, store=store)
            frames: list[tuple[float, int]] = []
            async with app.run_test(size=(120, 40)) as pilot:
                original = app._display
                written = [0]

                def display(screen, renderable):  # type: ignore[no-untyped-def]
                    if renderable is not None:
                        written[0] += len(renderable.render_segments(app.console))
                        views = screen.query(MessageView)
                        view = views.last() if views else None
                        drawn = 0 if view is None else (
                            view.thinking_drawn_chars if reasoning else view.drawn_chars)
                        frames.append((time.monotonic(), drawn))
                    return original(screen, renderable)

                app._display = display  # type: ignore[method-assign]
                await pilot.press("h", "i")
                cpu_before = time.thread_time()
                written[0] = 0
                await pilot.press("enter")
                async with asyncio.timeout(120):
                    await app.workers.wait_for_complete()
                    await pilot.pause(0.2)
                cpu = time.thread_time() - cpu_before
                request = fake.chat_requests[-1]
            store.close()
    sent = request.reasoning_chunks if reasoning else request.chunks
    offsets = []
    total = 0
    for chunk in sent:
        total += len(chunk.text)
        offsets.append(total)
    latencies = []
    slow = []
    frame_index = 0
    for chunk, offset in zip(sent, offsets, strict=True):
        while frame_index < len(frames) and (frames[frame_index][1] < offset
                                             or frames[frame_index][0] < chunk.monotonic):
            frame_index += 1
        if frame_index == len(frames):
            break
        latencies.append((frames[frame_index][0] - chunk.monotonic) * 1000)
        if latencies[-1] > 100:
            slow.append(len(latencies) - 1)
    latencies.sort()
    count = len(sent)
    return {
        "chunks": count,
        "shown": len(latencies),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "cpu_ms": cpu * 1000 / count,
        "bytes": written[0] / count,
        "frames": len(frames),
        "over_100ms": len(slow),
        "slow_at": slow[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reasoning", action="store_true",
                        help="only the reasoning scenario (20,000 chunks at 500/s: 40 s)")
    args = parser.parse_args()
    slow, fast = (150, 600) if args.quick else (500, 2000)
    thinking = 2_000 if args.quick else 20_000
    scenarios: list[tuple[str, int, list[str], list[str] | None]] = [
        ("prose", 50, prose_chunks(slow), None),
        ("prose", 500, prose_chunks(fast), None),
        ("code block (250 lines)", 50, code_chunks(slow), None),
        ("code block (250 lines)", 500, code_chunks(fast), None),
    ]
    if args.reasoning:
        scenarios = []
    scenarios.append((f"reasoning ({thinking:,})", 500, prose_chunks(20),
                      reasoning_chunks(thinking)))
    print(f"{'scenario':<24}{'rate/s':>7}{'chunks':>8}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'max ms':>9}{'CPU ms/chunk':>14}{'bytes/chunk':>13}{'frames':>8}")
    for name, rate, chunks, reasoning in scenarios:
        r = asyncio.run(measure(chunks, rate, reasoning))
        print(f"{name:<24}{rate:>7}{int(r['chunks']):>8}{r['p50']:>9.1f}{r['p95']:>9.1f}"
              f"{r['max']:>9.1f}{r['cpu_ms']:>14.2f}{r['bytes']:>13.0f}{int(r['frames']):>8}")
        if r["over_100ms"]:
            print(f"  {r['over_100ms']} chunks over 100 ms (first at chunk {r['slow_at']})")
        if r["shown"] != r["chunks"]:
            print(f"  !! only {int(r['shown'])} of {int(r['chunks'])} chunks were seen on screen")


if __name__ == "__main__":
    main()
