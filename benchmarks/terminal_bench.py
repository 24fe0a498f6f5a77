"""The real app measured from the outside: a pty (120x40, xterm-256color) read through pyte.

For each scenario the fake OpenAI server (`python -m tests.fake_openai`, its own process, on
127.0.0.1) streams an answer whose every chunk carries a unique marker; the server logs when it
wrote each chunk (time.monotonic(), which is system-wide on Linux) and the harness notes when
that marker first appeared on the emulated screen. Also: the app's CPU (psutil) and the bytes it
wrote per chunk, launch-to-ready time, key echo delay while an answer streams, idle CPU and
bytes, and resident memory after the answer.

    python benchmarks/terminal_bench.py                  # all scenarios (about a minute)
    python benchmarks/terminal_bench.py --quick          # a quarter of the chunks
    python benchmarks/terminal_bench.py --only unthrottled

The "floor" scenario runs `sdk_print.py` instead of the app: the openai SDK's stream printed
as it arrives, the least CPU per chunk any client built on the SDK can spend. "floor-textual"
runs `textual_floor.py`: the same stream in the least Textual app that draws it the way
tui-chat does (only changed lines, at most 25 frames a second).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from tests.pty_harness import REPO, TerminalApp, tui_chat_argv


def marker(i: int) -> str:
    return f"q{i}z"


def prose(count: int) -> list[str]:
    return [f" {marker(i)} word" + ("\n\n" if i % 40 == 39 else "") for i in range(count)]


def code(count: int) -> list[str]:
    lines = 250
    per_line = max(1, count // lines)
    chunks = ["Code:\n\n```python\n"]
    i = 0
    while len(chunks) < count:
        line = i // per_line
        end = "\n" if (i + 1) % per_line == 0 else ""
        prefix = "    value = compute(" if i % per_line == 0 else " "
        chunks.append(f"{prefix}{marker(len(chunks))}{end}")
        i += 1
        if line >= lines:
            break
    chunks.append("\n```\n")
    return chunks


class FakeServer:
    """The fake OpenAI server in its own process, so it takes no time from the harness's
    terminal emulation (and the harness none from it)."""

    def __init__(self, chunks: list[str], rate: float, folder: str) -> None:
        chunks_file = Path(folder, "chunks.json")
        chunks_file.write_text(json.dumps(chunks), encoding="utf-8")
        self.log = Path(folder, "sent.tsv")
        self.count = len(chunks)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_openai", "--port", "0", "--chunks-file",
             str(chunks_file), "--chunks-per-second", str(rate), "--send-log", str(self.log)],
            stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), f"fake server said {self.url!r}"

    def send_times(self, timeout: float = 10.0) -> dict[int, float]:
        """Chunk index → time.monotonic() when the server wrote it (once the answer ended)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = [line.split("\t") for line in self.log.read_text().splitlines()]
            if len(rows) >= self.count or time.monotonic() > deadline:
                return {int(row[1]): float(row[2]) for row in rows if len(row) == 4}
            time.sleep(0.05)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class Watch:
    """After every read from the pty, notes which chunks are on screen by now.

    Text arrives in order, so the highest marker on screen proves every earlier chunk was
    drawn (at fast rates many chunks scroll past between two frames)."""

    MARK = re.compile(r"q(\d+)z")

    def __init__(self, chunks: list[str]) -> None:
        self.with_marker = [i for i, chunk in enumerate(chunks) if marker(i) in chunk]
        self.seen: dict[int, float] = {}
        self.highest = -1
        self.next = 0
        self.app: TerminalApp | None = None
        self.input_row = -1
        """The screen row of the prompt input (where its placeholder was at launch)."""
        self.echo_wanted: str | None = None
        self.echo_seen = threading.Event()

    def __call__(self, now: float) -> None:
        if self.app is None:
            return
        screen = self.app.display_unlocked()
        found = [int(m) for m in self.MARK.findall(screen)]
        if found and max(found) > self.highest:
            self.highest = max(found)
            while self.next < len(self.with_marker) and \
                    self.with_marker[self.next] <= self.highest:
                self.seen[self.with_marker[self.next]] = now
                self.next += 1
        if self.echo_wanted and self.echo_wanted in self.app.screen.display[self.input_row]:
            self.echo_seen.set()

    @property
    def markers(self) -> list[int]:
        return self.with_marker


def wait_until_quiet(process: psutil.Process, *, window: float = 0.3,
                     timeout: float = 15.0) -> float:
    """When the process last spent at most one clock tick (10 ms) of CPU in `window` s."""
    deadline = time.monotonic() + timeout
    before = sum(process.cpu_times()[:2])
    while time.monotonic() < deadline:
        time.sleep(window)
        now = sum(process.cpu_times()[:2])
        if now - before <= 0.011:
            break
        before = now
    return time.monotonic()


def scenario(name: str, chunks: list[str], rate: float, *, echo: bool = False,
             floor: str = "") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeServer(chunks, rate, tmp)
        try:
            return _measure(name, chunks, rate, fake, tmp, echo=echo, floor=floor)
        finally:
            fake.close()


def _measure(name: str, chunks: list[str], rate: float, fake: FakeServer, tmp: str, *,
             echo: bool, floor: str = "") -> dict:
    env = {f"XDG_{n}_HOME": f"{tmp}/{n.lower()}" for n in ("CONFIG", "DATA", "STATE", "CACHE")}
    watch = Watch(chunks)
    started = time.monotonic()
    argv = tui_chat_argv("--base-url", fake.url, "--model", "bench", "--db", f"{tmp}/b.db",
                         "--system", "")
    if floor:  # sdk_print.py: the SDK's stream printed; textual_floor.py: the least Textual app
        argv = [sys.executable, str(Path(__file__).with_name(floor)), fake.url]
    with TerminalApp(argv, env=env, on_output=watch) as app:
        watch.app = app
        assert app.wait_for("Ask anything", 20), "app did not start"
        ready = time.monotonic() - started
        watch.input_row = next(i for i, row in enumerate(app.screen.display)
                               if "Ask anything" in row)
        process = psutil.Process(app.process.pid)
        # The app imports the SDK and the renderer in a thread once it is ready (about a
        # second of CPU on a slow machine). That is a one-off, not a cost per chunk: start
        # the answer once the app has gone quiet, as it has by the time a person has typed.
        settled = wait_until_quiet(process) - started
        time.sleep(0.2)
        app.type("go")
        time.sleep(0.2)
        cpu0 = sum(process.cpu_times()[:2])
        bytes0 = len(app.output)
        app.press("enter")
        echoes = []
        deadline = time.monotonic() + 180
        typed = ""
        while watch.next < len(watch.markers) and time.monotonic() < deadline:
            if echo and len(typed) < 20 and watch.highest >= 0:
                typed += "abcdefghijklmnopqrst"[len(typed)]
                watch.echo_wanted = typed
                watch.echo_seen.clear()
                sent = time.monotonic()
                app.type(typed[-1])
                if watch.echo_seen.wait(2):
                    echoes.append((time.monotonic() - sent) * 1000)
                time.sleep(0.2)
            else:
                time.sleep(0.01)
        sent_at = fake.send_times()
        time.sleep(0.6)  # let the final frame and the figures land
        cpu = sum(process.cpu_times()[:2]) - cpu0
        written = len(app.output) - bytes0
        rss = process.memory_info().rss
        idle_cpu0 = sum(process.cpu_times()[:2])
        idle_bytes0 = len(app.output)
        time.sleep(3)
        idle_cpu = sum(process.cpu_times()[:2]) - idle_cpu0
        idle_bytes = len(app.output) - idle_bytes0
        app.press("ctrl+q")
        app.close(10)
    server_done = max(sent_at.values()) if sent_at else float("nan")
    last_shown = max(watch.seen.values()) if watch.seen else float("nan")
    latencies = sorted((watch.seen[i] - sent_at[i]) * 1000 for i in watch.seen if i in sent_at)
    n = len(chunks)
    return {
        "name": name, "rate": rate or "max", "chunks": n, "seen": len(watch.seen),
        "markers": len(watch.markers),
        "p50": statistics.median(latencies), "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "max": latencies[-1], "cpu_ms": cpu * 1000 / n, "bytes": written / n,
        "ready": ready, "settled": settled, "tail_ms": (last_shown - server_done) * 1000,
        "send_s": server_done - min(sent_at.values()) if sent_at else float("nan"),
        "echo_p50": statistics.median(echoes) if echoes else None,
        "echo_max": max(echoes) if echoes else None, "echoes": len(echoes), "typed": len(typed),
        "idle_cpu_ms": idle_cpu * 1000, "idle_bytes": idle_bytes, "rss_mb": rss / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the chunks")
    parser.add_argument("--only", choices=["floor", "floor-textual", "prose50", "prose500",
                                           "code500", "unthrottled"],
                        action="append", help="run only these scenarios")
    args = parser.parse_args()
    scale = 4 if args.quick else 1
    plan = {
        "floor": lambda: scenario("floor: SDK + print", prose(400 // scale), 50,
                                  floor="sdk_print.py"),
        "floor-textual": lambda: scenario("floor: SDK + Textual", prose(400 // scale), 50,
                                          floor="textual_floor.py"),
        "prose50": lambda: scenario("prose", prose(400 // scale), 50),
        "prose500": lambda: scenario("prose", prose(2000 // scale), 500),
        "code500": lambda: scenario("code block (250 lines)", code(2000 // scale), 500),
        "unthrottled": lambda: scenario("unthrottled", prose(20000 // scale), 0, echo=True),
    }
    runs = [run() for key, run in plan.items() if not args.only or key in args.only]
    print(f"machine: {os.cpu_count()} cores · {time.strftime('%Y-%m-%d')} · "
          f"Python {sys.version.split()[0]}")
    print(f"{'scenario':<24}{'rate':>6}{'chunks':>7}{'p50':>7}{'p95':>7}{'max':>7}"
          f"{'CPU ms/ch':>10}{'B/ch':>7}{'last−srv':>9}{'echo':>8}{'ready':>7}"
          f"{'idle CPU':>9}{'idle B':>7}{'RSS MB':>7}")
    for r in runs:
        echo = f"{r['echo_p50']:.0f}/{r['echo_max']:.0f}" if r["echo_p50"] is not None else "—"
        print(f"{r['name']:<24}{r['rate']!s:>6}{r['chunks']:>7}{r['p50']:>7.1f}{r['p95']:>7.1f}"
              f"{r['max']:>7.1f}{r['cpu_ms']:>10.2f}{r['bytes']:>7.0f}{r['tail_ms']:>9.0f}"
              f"{echo:>8}{r['ready']:>7.2f}{r['settled']:>7.2f}{r['idle_cpu_ms']:>9.0f}{r['idle_bytes']:>7}"
              f"{r['rss_mb']:>7.0f}")
        if r["seen"] != r["markers"]:
            print(f"  !! {r['markers'] - r['seen']} chunk markers never seen on screen")
        if r["rate"] == "max":
            print(f"  the server wrote its {r['chunks']:,} chunks in {r['send_s']:.2f} s")
        if r["typed"] and r["echoes"] != r["typed"]:
            print(f"  !! {r['typed'] - r['echoes']} of {r['typed']} keys not echoed within 2 s")
    print("latency = server write → marker on the emulated screen (ms); last−srv = last chunk on "
          "screen after the server finished (ms); echo = key echo while streaming p50/max (ms); "
          "idle = CPU ms and bytes over 3 s with nothing happening; ready = launch → prompt on "
          "screen, quiet = launch → the app's warm-up done (s)")


if __name__ == "__main__":
    main()
