"""N concurrent streams through `tui-chat serve` against the local upstream.

The fake OpenAI server and the relay each run in their own process on 127.0.0.1; this process
opens N concurrent `POST /api/chat/stream` requests and measures first-byte latency, chunks
delivered per second, errors, and the relay's resident memory and CPU (all its processes with
`--workers N`: the parent and each worker). "MB/stream" is the relay's peak resident memory
during the round less its resident memory before it, per stream.

    python benchmarks/relay_load.py [--streams 10 100 500] [--chunks 100] [--rate 50]
                                    [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import psutil

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the relay exited with {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def tree(process: psutil.Process) -> list[psutil.Process]:
    return [process, *process.children(recursive=True)]


def rss(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            total += sum(process.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


class PeakMemory:
    """The highest resident memory of `processes` (summed), sampled every 50 ms in a thread."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        self.processes = processes
        self.peak = rss(processes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss(self.processes))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


async def one(session: aiohttp.ClientSession, url: str) -> tuple[float, int, bool]:
    started = time.monotonic()
    first = None
    chunks = 0
    done = False
    async with session.post(url, json={"message": "go"}) as response:
        async for line in response.content:
            if first is None:
                first = time.monotonic() - started
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                if "content" in event:
                    # Chunks that reach the relay together go out as one event: count the
                    # chunks ("wordN " each), not the events.
                    chunks += len(event["content"].split())
                if event.get("done"):
                    done = True
                if "error" in event:
                    return first or 0.0, chunks, False
    return first or 0.0, chunks, done


async def bounded(session: aiohttp.ClientSession, url: str, seconds: float
                  ) -> tuple[float, int, bool]:
    # A stream that never ends is an error, not a hung benchmark.
    async with asyncio.timeout(seconds):
        return await one(session, url)


async def run(url: str, streams: int, seconds: float) -> tuple[list[float], int, int, float]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=300)) as session:
        started = time.monotonic()
        results = await asyncio.gather(*(bounded(session, url, seconds)
                                         for _ in range(streams)),
                                       return_exceptions=True)
        elapsed = time.monotonic() - started
    firsts = [r[0] for r in results if not isinstance(r, BaseException)]
    chunks = sum(r[1] for r in results if not isinstance(r, BaseException))
    errors = sum(1 for r in results if isinstance(r, BaseException) or not r[2])
    return firsts, chunks, errors, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="chunks/s per stream")
    parser.add_argument("--workers", type=int, default=1, help="relay processes (serve --workers)")
    parser.add_argument("--round-timeout", type=float, default=120.0,
                        help="seconds a stream may take before it counts as an error")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    text = " ".join(f"word{i}" for i in range(args.chunks))
    upstream = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--port", "0", "--text", text,
         "--chunks-per-second", str(args.rate)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    upstream_url = upstream.stdout.readline().strip() if upstream.stdout else ""
    port = free_port()
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench-not-real"}
    relay = subprocess.Popen(
        [sys.executable, "-m", "tui_chat", "serve", "--port", str(port), "--base-url",
         upstream_url, "--model", "fake-model", "--system", "", "--workers", str(args.workers)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        # The banner is printed once every worker listens.
        if relay.stdout is None or not relay.stdout.readline():
            raise RuntimeError(f"the relay exited with {relay.wait()} before listening")
        wait_port(port, relay)
        processes = tree(psutil.Process(relay.pid))
        url = f"http://127.0.0.1:{port}/api/chat/stream"
        print(f"relay: {args.workers} worker(s), {len(processes)} processes; "
              f"{args.chunks} chunks per stream at {args.rate:g}/s")
        print(f"{'streams':>8}{'first byte p50 ms':>19}{'p95 ms':>9}{'chunks/s':>10}"
              f"{'errors':>8}{'relay RSS MB':>14}{'peak MB':>9}{'MB/stream':>11}"
              f"{'relay CPU s':>13}")
        total_errors = 0
        for streams in args.streams:
            cpu0 = cpu(processes)
            before = rss(processes)
            with PeakMemory(processes) as memory:
                firsts, chunks, errors, elapsed = asyncio.run(run(url, streams,
                                                                  args.round_timeout))
            total_errors += errors
            used = cpu(processes) - cpu0
            firsts.sort()
            p50 = statistics.median(firsts) * 1000 if firsts else float("nan")
            p95 = firsts[int(0.95 * (len(firsts) - 1))] * 1000 if firsts else float("nan")
            per_stream = (memory.peak - before) / 2**20 / streams
            print(f"{streams:>8}{p50:>19.1f}{p95:>9.1f}{chunks / elapsed:>10.0f}{errors:>8}"
                  f"{rss(processes) / 2**20:>14.0f}{memory.peak / 2**20:>9.0f}"
                  f"{per_stream:>11.3f}{used:>13.2f}")
    finally:
        relay.terminate()
        upstream.terminate()
        relay.wait(10)
        upstream.wait(10)
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
