"""The provider alone reading an unthrottled answer: CPU and lateness per HTTP transport.

The fake OpenAI server runs in its own process (its CPU is not counted) and sends N chunks as
fast as it can; this process streams them through `OpenAICompatible` with each transport in
turn (alternated rounds, one sitting) and prints, per round: this process's CPU for the
request, how long after the server's last write the last event arrived (the server logs its
write times), and how many network reads the answer came in.

    python benchmarks/transport_bench.py [--chunks 20000] [--rounds 9] [--transports httpx aiohttp]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tui_chat.compat import ran  # noqa: E402
from tui_chat.models import Delta, Message, RequestParams  # noqa: E402
from tui_chat.providers.openai_compat import OpenAICompatible  # noqa: E402


def last_write(log: Path, request: int, chunks: int) -> float:
    """The monotonic time of the server's last content write for its `request`-th request (its
    send log: request, index, monotonic, wall per chunk; flushed when the answer ends)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        times = [float(fields[2]) for fields in
                 (line.split("\t") for line in log.read_text().splitlines())
                 if len(fields) == 4 and fields[0] == str(request)]
        if len(times) == chunks:
            return max(times)
        time.sleep(0.02)
    raise RuntimeError("the server's send log is incomplete")


async def one_round(url: str, transport: str, chunks: int) -> tuple[float, float, int, float]:
    provider = OpenAICompatible(url, "sk-bench-not-real", http_transport=transport)
    try:
        reads = ran["sse"] + ran["aiohttp_body"]
        cpu0 = time.process_time()
        started = time.monotonic()
        received = 0
        async for event in provider.stream([Message("user", "go")],
                                           RequestParams("fake-model")):
            if isinstance(event, Delta):
                received += event.chunks
        ended = time.monotonic()
        cpu = time.process_time() - cpu0
        if received != chunks:
            raise RuntimeError(f"{transport}: {received} of {chunks} chunks")
        return cpu, ended, ran["sse"] + ran["aiohttp_body"] - reads, ended - started
    finally:
        await provider.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--transports", nargs="+", default=["httpx", "aiohttp"])
    args = parser.parse_args()
    text = " ".join(f"w{i}" for i in range(args.chunks))
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "sent.jsonl"
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_openai", "--port", "0", "--text", text,
             "--chunks-per-second", "0", "--send-log", str(log)], cwd=REPO,
            stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().strip() if server.stdout else ""
            results: dict[str, list[tuple[float, float, int, float]]] = {
                name: [] for name in args.transports}
            print(f"{args.chunks:,} chunks, unthrottled; rounds alternate "
                  f"{' / '.join(args.transports)}")
            print(f"{'round':>5} {'transport':>9} {'CPU ms':>8} {'tail ms':>8} {'reads':>6} "
                  f"{'wall ms':>8}")
            request = 0
            for number in range(args.rounds + 1):  # round 0 warms both up, not counted
                for name in args.transports:
                    cpu, ended, reads, wall = asyncio.run(one_round(url, name, args.chunks))
                    request += 1
                    tail = ended - last_write(log, request, args.chunks)
                    if number:
                        results[name].append((cpu, tail, reads, wall))
                        print(f"{number:>5} {name:>9} {cpu * 1000:>8.0f} {tail * 1000:>8.0f} "
                              f"{reads:>6} {wall * 1000:>8.0f}")
            print()
            print("transport: CPU ms median (min-max); tail ms median (min-max); tail <= 250 ms")
            for name, rows in results.items():
                cpus = [r[0] * 1000 for r in rows]
                tails = [r[1] * 1000 for r in rows]
                within = sum(1 for t in tails if t <= 250)
                print(f"{name:>9}: {statistics.median(cpus):.0f} ({min(cpus):.0f}-"
                      f"{max(cpus):.0f}); {statistics.median(tails):.0f} ({min(tails):.0f}-"
                      f"{max(tails):.0f}); {within} of {len(tails)}")
        finally:
            server.terminate()
            server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
