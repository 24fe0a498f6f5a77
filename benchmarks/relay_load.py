"""N concurrent streams through `tui-chat serve` against a local upstream.

The upstream, the relay and this load client each run in their own process on 127.0.0.1; this
process opens N concurrent `POST /api/chat/stream` requests and measures, per stream, the time
from starting its connection to the read that holds its first content event
(`data: {"content"`: not the response head, not a heartbeat), chunks delivered per second,
errors (a status other than 200, an error event, no `done` event, no end within the round's
timeout), and the relay's resident memory and CPU (all its processes with `--workers N`: the
parent and each worker). "MB/stream" is the relay's peak resident memory during the round less
its resident memory before it, per stream. The CPU line splits the machine's work by process:
the upstream, the relay, this client, up to the moment the 95th percentile stream had its first
content event and over the whole round.

By default the harness keeps its own share small, so that what is measured is the relay:
`--upstream lean` (`benchmarks/lean_upstream.py`, the same bytes on the same schedule as the
test fake, from pre-encoded events) and `--client lean` (a protocol that keeps the reads and
parses them after the round). `--upstream fake` (`tests.fake_openai`) and `--client aiohttp`
(a line-by-line aiohttp reader) are the heavier harness used before.

    python benchmarks/relay_load.py [--streams 10 100 500] [--chunks 100] [--rate 50]
                                    [--workers 2] [--upstream lean|fake] [--client lean|aiohttp]

The relay run is the `tui_chat` on PYTHONPATH, else this checkout's: `PYTHONPATH=../base python
benchmarks/relay_load.py` measures another build with the same harness (the first line says
which one ran).
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
FIRST_CONTENT = b'data: {"content"'
"""How the relay's first content event starts (`json.dumps` with its default separators)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen[str], timeout: float = 20) -> None:
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


class Sampler:
    """Every 50 ms in a thread: the relay's resident memory (its peak) and the CPU seconds
    used so far by each group of processes, so CPU can be read at any moment of the round."""

    def __init__(self, relay: list[psutil.Process],
                 groups: dict[str, list[psutil.Process]]) -> None:
        self.relay = relay
        self.groups = groups
        self.peak = rss(relay)
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _take(self) -> None:
        self.samples.append((time.monotonic(), {name: cpu(processes)
                                                for name, processes in self.groups.items()}))

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss(self.relay))
            self._take()

    def used(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds per group between two moments (the nearest samples)."""
        def at(moment: float) -> dict[str, float]:
            return min(self.samples, key=lambda sample: abs(sample[0] - moment))[1]
        first, last = at(start), at(end)
        return {name: last[name] - first[name] for name in self.groups}

    def __enter__(self) -> Sampler:
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()


class Outcome:
    """One stream: when it started, when its first content event came, what it read."""

    __slots__ = ("chunks", "done", "ended", "first", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.first: float | None = None
        self.chunks = 0
        self.done = False
        self.ended: float | None = None

    @property
    def ok(self) -> bool:
        return self.done and self.first is not None


def count_events(events: list[dict[str, object]], outcome: Outcome) -> None:
    for event in events:
        content = event.get("content")
        if isinstance(content, str):
            # Chunks that reach the relay together go out as one event: count the chunks
            # ("wordN " each), not the events.
            outcome.chunks += len(content.split())
        if "error" in event:
            outcome.done = False
            return
        if event.get("done"):
            outcome.done = True


# -- the lean client: reads kept as they come, parsed after the round -------------------------

class LeanStream(asyncio.Protocol):
    """One request; in the round it only notes the first content event and the end."""

    def __init__(self, request: bytes, outcome: Outcome, finished: asyncio.Future[None]) -> None:
        self.request = request
        self.outcome = outcome
        self.finished = finished
        self.reads: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.reads.append(data)
        if self.outcome.first is None:
            # The marker may straddle two reads: look at the joined reads (short until then).
            if FIRST_CONTENT in (data if len(self.reads) == 1 else b"".join(self.reads)):
                self.outcome.first = time.monotonic() - self.outcome.started
        # The chunked body's last chunk (the relay sends nothing after it).
        if data.endswith(b"0\r\n\r\n") and b"".join(self.reads[-2:]).endswith(b"\r\n0\r\n\r\n"):
            self.outcome.ended = time.monotonic()
            if self.transport is not None:
                self.transport.close()
            if not self.finished.done():
                self.finished.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_result(None)

    def parse(self) -> None:
        """After the round: the status, the de-chunked body, its events."""
        raw = b"".join(self.reads)
        head, _, body = raw.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200 "):
            self.outcome.done = False
            return
        text = bytearray()
        position = 0
        while True:
            line_end = body.find(b"\r\n", position)
            if line_end < 0:
                break
            size = int(body[position:line_end].split(b";")[0], 16)
            if size == 0:
                break
            text += body[line_end + 2:line_end + 2 + size]
            position = line_end + 2 + size + 2
        events = [json.loads(block[5:]) for block in bytes(text).split(b"\n\n")
                  if block.startswith(b"data:")]
        count_events(events, self.outcome)
        if self.outcome.ended is None:
            self.outcome.done = False


async def lean_round(port: int, streams: int, seconds: float) -> list[Outcome]:
    loop = asyncio.get_running_loop()
    payload = json.dumps({"message": "go"}).encode()
    request = (b"POST /api/chat/stream HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
               % (port, len(payload), payload))
    protocols: list[LeanStream] = []
    outcomes: list[Outcome] = []

    async def one() -> None:
        outcome = Outcome(time.monotonic())
        outcomes.append(outcome)
        finished: asyncio.Future[None] = loop.create_future()
        protocol = LeanStream(request, outcome, finished)
        protocols.append(protocol)
        await loop.create_connection(lambda: protocol, "127.0.0.1", port)
        await finished

    tasks = [asyncio.ensure_future(one()) for _ in range(streams)]
    try:
        async with asyncio.timeout(seconds):
            await asyncio.gather(*tasks, return_exceptions=True)
    except TimeoutError:
        pass  # the streams that did not end count as errors
    for task in tasks:
        task.cancel()
    for protocol in protocols:
        if protocol.transport is not None:
            protocol.transport.abort()
        protocol.parse()
    return outcomes


# -- the aiohttp client: what the benchmark used before ----------------------------------------

async def aiohttp_round(port: int, streams: int, seconds: float) -> list[Outcome]:
    url = f"http://127.0.0.1:{port}/api/chat/stream"
    outcomes: list[Outcome] = []

    async def one(session: aiohttp.ClientSession) -> None:
        outcome = Outcome(time.monotonic())
        outcomes.append(outcome)
        async with session.post(url, json={"message": "go"}) as response:
            if response.status != 200:
                return
            async for line in response.content:
                if line.startswith(b"data:"):
                    event = json.loads(line[5:])
                    if outcome.first is None and "content" in event:
                        outcome.first = time.monotonic() - outcome.started
                    count_events([event], outcome)
                    if "error" in event:
                        return
        outcome.ended = time.monotonic()

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=None)) as session:
        tasks = [asyncio.ensure_future(one(session)) for _ in range(streams)]
        try:
            async with asyncio.timeout(seconds):
                await asyncio.gather(*tasks, return_exceptions=True)
        except TimeoutError:
            pass
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return outcomes


def start_upstream(kind: str, text: str, rate: float) -> tuple[subprocess.Popen[str], str]:
    command = ([sys.executable, str(REPO / "benchmarks" / "lean_upstream.py")] if kind == "lean"
               else [sys.executable, "-m", "tests.fake_openai"])
    upstream = subprocess.Popen([*command, "--port", "0", "--text", text,
                                 "--chunks-per-second", str(rate)],
                                cwd=REPO, stdout=subprocess.PIPE, text=True)
    url = upstream.stdout.readline().strip() if upstream.stdout else ""
    if not url:
        raise RuntimeError(f"the upstream exited with {upstream.wait()} before listening")
    return upstream, url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="chunks/s per stream")
    parser.add_argument("--workers", type=int, default=1, help="relay processes (serve --workers)")
    parser.add_argument("--upstream", choices=("lean", "fake"), default="lean",
                        help="lean: benchmarks/lean_upstream.py; fake: tests.fake_openai")
    parser.add_argument("--client", choices=("lean", "aiohttp"), default="lean",
                        help="how this process reads the streams")
    parser.add_argument("--round-timeout", type=float, default=120.0,
                        help="seconds a stream may take before it counts as an error")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    text = " ".join(f"word{i}" for i in range(args.chunks))
    upstream, upstream_url = start_upstream(args.upstream, text, args.rate)
    port = free_port()
    # The relay is the tui_chat found on PYTHONPATH (a baseline checkout, say), else this
    # checkout's: -P keeps `-m` from putting the working directory first on the path.
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench-not-real",
           "PYTHONPATH": os.environ.get("PYTHONPATH") or str(REPO)}
    relay = subprocess.Popen(
        [sys.executable, "-P", "-m", "tui_chat", "serve", "--port", str(port), "--base-url",
         upstream_url, "--model", "fake-model", "--system", "", "--workers", str(args.workers)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        # The banner is printed once every worker listens.
        if relay.stdout is None or not relay.stdout.readline():
            raise RuntimeError(f"the relay exited with {relay.wait()} before listening")
        wait_port(port, relay)
        processes = tree(psutil.Process(relay.pid))
        groups = {"upstream": [psutil.Process(upstream.pid)], "relay": processes,
                  "client": [psutil.Process()]}
        # Each relay process on its own too: how evenly the kernel spread the streams over
        # the workers shows in their CPU (the parent only supervises).
        children = [p for p in processes[1:] if "resource_tracker" not in " ".join(p.cmdline())]
        workers = {"parent": processes[:1],
                   **{f"worker {n}": [process] for n, process in enumerate(children, 1)}}
        import_path = subprocess.run(
            [sys.executable, "-P", "-c", "import tui_chat; print(tui_chat.__file__)"], env=env,
            capture_output=True, text=True, check=True).stdout.strip()
        print(f"relay: {Path(import_path).parents[1]}; "
              f"{args.workers} worker(s), {len(processes)} processes; "
              f"{args.chunks} chunks per stream at {args.rate:g}/s; upstream {args.upstream}, "
              f"client {args.client}; load average {os.getloadavg()[0]:.2f}")
        print(f"{'streams':>8}{'first byte p50 ms':>19}{'p95 ms':>9}{'chunks/s':>10}"
              f"{'errors':>8}{'relay RSS MB':>14}{'peak MB':>9}{'MB/stream':>11}"
              f"{'relay CPU s':>13}")
        total_errors = 0
        round_of = lean_round if args.client == "lean" else aiohttp_round
        for streams in args.streams:
            before = rss(processes)
            with Sampler(processes, {**groups, **workers}) as sampler:
                started = time.monotonic()
                outcomes = asyncio.run(round_of(port, streams, args.round_timeout))
                ended = max((o.ended for o in outcomes if o.ended is not None), default=started)
            errors = sum(1 for o in outcomes if not o.ok) + streams - len(outcomes)
            total_errors += errors
            chunks = sum(o.chunks for o in outcomes)
            firsts = sorted(o.first for o in outcomes if o.first is not None)
            p50 = statistics.median(firsts) * 1000 if firsts else float("nan")
            p95_at = firsts[int(0.95 * (len(firsts) - 1))] if firsts else 0.0
            p95 = p95_at * 1000 if firsts else float("nan")
            per_stream = (sampler.peak - before) / 2**20 / streams
            whole = sampler.used(started, sampler.samples[-1][0])
            burst = sampler.used(started, started + p95_at)
            print(f"{streams:>8}{p50:>19.1f}{p95:>9.1f}{chunks / (ended - started):>10.0f}"
                  f"{errors:>8}{rss(processes) / 2**20:>14.0f}{sampler.peak / 2**20:>9.0f}"
                  f"{per_stream:>11.3f}{whole['relay']:>13.2f}")
            if firsts:
                # The spread says whether first bytes trickle in or come in one burst (each
                # worker setting up all its streams before any writes its first event).
                print(f"{'':>8}first byte min / p50 / p95 / p99 / max ms: " + " / ".join(
                    f"{firsts[int(q * (len(firsts) - 1))] * 1000:.0f}"
                    for q in (0, 0.5, 0.95, 0.99, 1)))
            print(f"{'':>8}CPU s until p95 first byte ({p95_at:.2f} s): "
                  + ", ".join(f"{name} {burst[name]:.2f}" for name in groups)
                  + f"; whole round ({ended - started:.2f} s): "
                  + ", ".join(f"{name} {whole[name]:.2f}" for name in groups))
            if len(workers) > 2:
                print(f"{'':>8}relay processes, CPU s until p95 / whole round: "
                      + ", ".join(f"{name} {burst[name]:.2f} / {whole[name]:.2f}"
                                  for name in workers))
    finally:
        relay.terminate()
        upstream.terminate()
        relay.wait(10)
        upstream.wait(10)
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
