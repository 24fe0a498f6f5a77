"""N concurrent streams through `tui-chat serve` against the local upstream.

The fake OpenAI server and the relay each run in their own process on 127.0.0.1; this process
opens N concurrent `POST /api/chat/stream` requests and measures first-byte latency, chunks
delivered per second, errors, and the relay's resident memory and CPU.

    python benchmarks/relay_load.py [--streams 10 100 500] [--chunks 100] [--rate 50]
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
                    chunks += 1
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
         upstream_url, "--model", "fake-model", "--system", ""], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL)
    try:
        wait_port(port, relay)
        process = psutil.Process(relay.pid)
        url = f"http://127.0.0.1:{port}/api/chat/stream"
        print(f"{'streams':>8}{'first byte p50 ms':>19}{'p95 ms':>9}{'chunks/s':>10}"
              f"{'errors':>8}{'relay RSS MB':>14}{'relay CPU s':>13}")
        total_errors = 0
        for streams in args.streams:
            cpu0 = sum(process.cpu_times()[:2])
            firsts, chunks, errors, elapsed = asyncio.run(run(url, streams,
                                                              args.round_timeout))
            total_errors += errors
            cpu = sum(process.cpu_times()[:2]) - cpu0
            firsts.sort()
            p50 = statistics.median(firsts) * 1000 if firsts else float("nan")
            p95 = firsts[int(0.95 * (len(firsts) - 1))] * 1000 if firsts else float("nan")
            rss = process.memory_info().rss / 2**20
            print(f"{streams:>8}{p50:>19.1f}{p95:>9.1f}{chunks / elapsed:>10.0f}{errors:>8}"
                  f"{rss:>14.0f}{cpu:>13.2f}")
    finally:
        relay.terminate()
        upstream.terminate()
        relay.wait(10)
        upstream.wait(10)
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
