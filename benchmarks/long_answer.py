"""Resident memory of the real app after one long answer (pty, like terminal_bench.py).

The fake OpenAI server (its own process) streams a prose answer of about `--mb` megabytes as
fast as it can; the app runs in a pty (120x40) read through pyte. Printed: the app's resident
memory once the answer is on screen, and for comparison before the answer.

    python benchmarks/long_answer.py            # a 2 MB answer
    python benchmarks/long_answer.py --mb 0.64  # the size RESULTS.md measured first
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.terminal_bench import marker, scenario

FILLER = ("streaming renderers keep finished blocks and redraw only the open tail so the "
          "cost of a chunk follows the chunk")


def long_prose(megabytes: float) -> list[str]:
    """Chunks of about 120 bytes, each with its marker; a paragraph every eight chunks."""
    size = int(megabytes * 2**20)
    chunks: list[str] = []
    total = 0
    while total < size:
        i = len(chunks)
        chunk = f" {marker(i)} {FILLER}" + ("\n\n" if i % 8 == 7 else "")
        chunks.append(chunk)
        total += len(chunk)
    return chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=2.0, help="answer size in MB (2**20 B)")
    args = parser.parse_args()
    chunks = long_prose(args.mb)
    r = scenario(f"{args.mb:g} MB answer", chunks, 0)
    size = sum(len(c) for c in chunks)
    print(f"answer: {size / 2**20:.2f} MB in {len(chunks):,} chunks; "
          f"{r['markers'] - r['seen']} chunk markers never seen on screen")
    print(f"long answer RSS after {size / 2**20:.2f} MB: {r['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
