"""CPU cost of the streaming renderer per chunk: appends, renders, the worst render.

Each scenario's text is cut into 2,000 chunks. The widget renders at most once per frame
(16 ms), so at 500 chunks/s one render follows every 8 appends and at 50 chunks/s one follows
every append. Times are CPU time of this process (single-threaded), in milliseconds.

    python benchmarks/render_bench.py              # our renderer, plus Rich-per-render baseline
    python benchmarks/render_bench.py --textual    # also Textual's stock Markdown.append
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tui_chat.render import StreamingDocument

CHUNKS = 2_000
WIDTH = 100
CURSOR = "▌"
FRAME_EVERY = {"500/s": 8, "50/s": 1}


def prose_text() -> str:
    words = ("the quick brown fox jumps over a lazy dog while streaming tokens arrive in "
             "order and the renderer keeps up with **every** one of them using `code` too").split()
    paragraphs = []
    for p in range(40):
        paragraphs.append(" ".join(words[(p + i) % len(words)] for i in range(55)))
    return "\n\n".join(paragraphs) + "\n"


def code_text(lines: int = 250) -> str:
    body = "".join(f"    value_{i} = compute(item, {i}) + offset  # step {i}\n"
                   for i in range(lines))
    return "Here is the code:\n\n```python\ndef run(item, offset):\n" + body + "```\n"


def list_text(items: int = 120) -> str:
    return "Items:\n\n" + "".join(f"- item {i}: a **short** note about `thing_{i}` and why\n"
                                  for i in range(items))


def table_text(rows: int = 150) -> str:
    head = "| name | value | note |\n|------|------:|------|\n"
    return head + "".join(f"| row {i} | {i * 37} | a note for row {i} |\n" for i in range(rows))


SCENARIOS: dict[str, Callable[[], str]] = {
    "prose (40 paragraphs)": prose_text,
    "code (one 250-line fence)": code_text,
    "list (one 120-item list)": list_text,
    "table (150 rows)": table_text,
}


def cut(text: str, count: int = CHUNKS) -> list[str]:
    size = len(text) / count
    return [text[round(i * size):round((i + 1) * size)] for i in range(count)]


def ms(ns: int | float) -> float:
    return ns / 1e6


def run_ours(chunks: list[str], every: int) -> dict[str, float]:
    gc.collect()
    clock = time.process_time_ns
    document = StreamingDocument()
    append_ns = 0
    renders: list[int] = []
    start = clock()
    for index, chunk in enumerate(chunks, 1):
        t0 = clock()
        document.append(chunk)
        append_ns += clock() - t0
        if index % every == 0 or index == len(chunks):
            t0 = clock()
            document.render(WIDTH, cursor=CURSOR)
            renders.append(clock() - t0)
    t0 = clock()
    document.finish()
    document.render(WIDTH)
    final = clock() - t0
    total = clock() - start
    return {
        "append_us": append_ns / len(chunks) / 1e3,
        "renders": len(renders),
        "render_ms": ms(statistics.mean(renders)),
        "render_p50_ms": ms(statistics.median(renders)),
        "render_worst_ms": ms(max(renders)),
        "render_last_ms": ms(statistics.mean(renders[-5:])),
        "final_ms": ms(final),
        "total_ms": ms(total),
        "per_chunk_ms": ms(total / len(chunks)),
    }


def run_rich_whole(chunks: list[str], every: int, limit_s: float = 20.0) -> dict[str, float]:
    """Baseline: Rich's Markdown on the whole text at every render (no incremental work)."""
    import io

    from rich.console import Console
    from rich.markdown import Markdown

    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor",
                      width=WIDTH)
    gc.collect()
    clock = time.process_time_ns
    parts: list[str] = []
    renders: list[int] = []
    start = clock()
    for index, chunk in enumerate(chunks, 1):
        parts.append(chunk)
        if index % every == 0 or index == len(chunks):
            t0 = clock()
            console.render_lines(Markdown("".join(parts) + CURSOR, hyperlinks=False),
                                 console.options, pad=False)
            renders.append(clock() - t0)
            if clock() - start > limit_s * 1e9:
                break
    total = clock() - start
    done = index
    return {"renders": len(renders), "render_ms": ms(statistics.mean(renders)),
            "render_worst_ms": ms(max(renders)), "total_ms": ms(total),
            "per_chunk_ms": ms(total / done), "chunks_done": done}


async def run_textual(chunks: list[str], every: int, limit_s: float = 30.0) -> dict[str, float]:
    """Textual's stock widget: `await Markdown.append()` once per frame's worth of chunks."""
    from textual.app import App, ComposeResult
    from textual.widgets import Markdown

    class Bench(App[None]):
        def compose(self) -> ComposeResult:
            yield Markdown()

    app = Bench()
    async with app.run_test(size=(WIDTH, 40)) as pilot:
        markdown = app.query_one(Markdown)
        clock = time.process_time_ns
        appends: list[int] = []
        batch: list[str] = []
        start = clock()
        done = 0
        for index, chunk in enumerate(chunks, 1):
            batch.append(chunk)
            done = index
            if index % every == 0 or index == len(chunks):
                t0 = clock()
                await markdown.append("".join(batch))
                await pilot.pause()
                appends.append(clock() - t0)
                batch.clear()
                if clock() - start > limit_s * 1e9:
                    break
        total = clock() - start
    return {"appends": len(appends), "append_ms": ms(statistics.mean(appends)),
            "append_worst_ms": ms(max(appends)), "total_ms": ms(total),
            "per_chunk_ms": ms(total / done), "chunks_done": done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--textual", action="store_true",
                        help="also time Textual's stock Markdown.append (headless app)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the Rich-whole-text-per-render baseline")
    args = parser.parse_args()
    print(f"{CHUNKS} chunks per scenario, width {WIDTH}, CPU time. render() once per 16 ms "
          f"of arrival: every {FRAME_EVERY['500/s']} chunks at 500/s, every chunk at 50/s.\n")
    header = (f"{'scenario':27} {'rate':>6} {'append µs':>9} {'renders':>7} {'mean ms':>8} "
              f"{'p50 ms':>7} {'worst ms':>8} {'end ms':>7} {'final ms':>8} {'total ms':>9} "
              f"{'ms/chunk':>8}")
    print("ours: StreamingDocument (end = mean of the last 5 renders while streaming; "
          "final = finish() + render)")
    print(header)
    for name, make in SCENARIOS.items():
        chunks = cut(make())
        for rate, every in FRAME_EVERY.items():
            r = run_ours(chunks, every)
            print(f"{name:27} {rate:>6} {r['append_us']:9.2f} {r['renders']:7d} "
                  f"{r['render_ms']:8.3f} {r['render_p50_ms']:7.3f} {r['render_worst_ms']:8.3f} "
                  f"{r['render_last_ms']:7.3f} {r['final_ms']:8.2f} {r['total_ms']:9.1f} "
                  f"{r['per_chunk_ms']:8.3f}")
    if not args.no_baseline:
        print("\nbaseline: rich.markdown.Markdown of the whole text at every render "
              "(stops after 20 s CPU)")
        print(f"{'scenario':27} {'rate':>6} {'renders':>7} {'mean ms':>8} {'worst ms':>8} "
              f"{'total ms':>9} {'ms/chunk':>8} {'chunks':>6}")
        for name, make in SCENARIOS.items():
            chunks = cut(make())
            for rate, every in FRAME_EVERY.items():
                r = run_rich_whole(chunks, every)
                print(f"{name:27} {rate:>6} {r['renders']:7d} {r['render_ms']:8.2f} "
                      f"{r['render_worst_ms']:8.2f} {r['total_ms']:9.1f} "
                      f"{r['per_chunk_ms']:8.3f} {r['chunks_done']:6d}")
    if args.textual:
        print("\nstock: textual.widgets.Markdown.append per frame batch, with a screen refresh "
              "(headless; stops after 30 s CPU)")
        print(f"{'scenario':27} {'rate':>6} {'appends':>7} {'mean ms':>8} {'worst ms':>8} "
              f"{'total ms':>9} {'ms/chunk':>8} {'chunks':>6}")
        for name, make in SCENARIOS.items():
            chunks = cut(make())
            for rate, every in FRAME_EVERY.items():
                r = asyncio.run(run_textual(chunks, every))
                print(f"{name:27} {rate:>6} {r['appends']:7d} {r['append_ms']:8.2f} "
                      f"{r['append_worst_ms']:8.2f} {r['total_ms']:9.1f} "
                      f"{r['per_chunk_ms']:8.3f} {r['chunks_done']:6d}")


if __name__ == "__main__":
    main()
