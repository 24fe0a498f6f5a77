"""`tui-chat serve --workers N`: N real relay processes on one port (SO_REUSEPORT), stopped
together by Ctrl+C or SIGTERM, and never left behind when the parent is killed."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from collections.abc import Iterator

import aiohttp
import psutil
import pytest

from tests.cli.server_process import running
from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.relay.workers import can_share_port

pytestmark = pytest.mark.skipif(not can_share_port(), reason="needs SO_REUSEPORT")

STREAMS = 16
"""Concurrent streams: the chance that the kernel gives all of them to one of two workers is
2 in 2**16."""
DEAD_RELAY = "http://127.0.0.1:9"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as server:
        yield server.fake


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listeners(port: int, parent: psutil.Process) -> set[int]:
    """Pids among `parent`'s children that listen on `port`."""
    return {child.pid for child in parent.children()
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                   for c in _connections(child))}


def _connections(process: psutil.Process) -> list:
    try:
        return process.net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return []


def wait_until_gone(pids: set[int], timeout: float) -> set[int]:
    """The pids still running after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if psutil.pid_exists(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE}
        time.sleep(0.05)
    return alive


async def streams_seen_by(url: str, port: int, workers: set[int]) -> tuple[list[str], set[int]]:
    """Open STREAMS streams at once; while all are open, which workers hold them; then the
    text each one got."""
    opened = asyncio.Event()
    started = 0

    async def one(session: aiohttp.ClientSession) -> str:
        nonlocal started
        parts: list[str] = []
        async with session.post(f"{url}/api/chat/stream", json={"message": "hi"}) as response:
            # What a reverse proxy in front (nginx) needs to pass each event on at once.
            assert response.headers["X-Accel-Buffering"] == "no"
            async for line in response.content:
                if line.startswith(b"data:"):
                    event = json.loads(line[5:])
                    if not parts:
                        started += 1
                        if started == STREAMS:
                            opened.set()
                    parts.append(event.get("content", ""))
        return "".join(parts)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks = [asyncio.create_task(one(session)) for _ in range(STREAMS)]
        async with asyncio.timeout(30):
            await opened.wait()
        holders = {pid for pid in workers
                   if any(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
                          for c in _connections(psutil.Process(pid)))}
        async with asyncio.timeout(30):
            texts = await asyncio.gather(*tasks)
    return texts, holders


def test_workers_share_the_port_and_stop_together_on_ctrl_c(fake: FakeOpenAI) -> None:
    # Long enough that all streams are open at once: 20 chunks at 20/s.
    for _ in range(STREAMS):
        fake.script(Reply(chunks=[f"w{i} " for i in range(20)], chunks_per_second=20))
    port = free_port()
    server = running("serve", "--workers", "2", "--port", str(port), "--base-url", fake.url,
                     "--model", "m")
    with server as banner:
        assert f"127.0.0.1:{port} (2 workers)" in banner
        parent = psutil.Process(server.process.pid)
        workers = listeners(port, parent)
        assert len(workers) == 2
        texts, holders = asyncio.run(streams_seen_by(f"http://127.0.0.1:{port}", port, workers))
        assert texts == ["".join(f"w{i} " for i in range(20))] * STREAMS
        assert holders == workers  # the kernel spread the streams over both
        descendants = {p.pid for p in parent.children(recursive=True)}
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=20) == 0
    assert wait_until_gone(descendants, 10) == set()
    assert not server.process.stderr or "Traceback" not in server.process.stderr.read()


# The upstream of these two is another relay (nothing listens there: it is never asked):
# a relay upstream does not import the SDK, so the workers start in a fraction of the time.


def test_sigterm_stops_every_worker() -> None:
    port = free_port()
    server = running("serve", "--workers", "2", "--port", str(port), "--relay", DEAD_RELAY)
    with server:
        parent = psutil.Process(server.process.pid)
        assert len(listeners(port, parent)) == 2
        descendants = {p.pid for p in parent.children(recursive=True)}
        server.process.terminate()
        assert server.process.wait(timeout=20) == 0
    assert wait_until_gone(descendants, 10) == set()


def test_a_killed_parent_leaves_no_workers_behind() -> None:
    port = free_port()
    server = running("serve", "--workers", "2", "--port", str(port), "--relay", DEAD_RELAY)
    with server:
        parent = psutil.Process(server.process.pid)
        assert len(listeners(port, parent)) == 2
        descendants = {p.pid for p in parent.children(recursive=True)}
        server.process.kill()
        server.process.wait(10)
        assert wait_until_gone(descendants, 15) == set()
    with socket.create_server(("127.0.0.1", port)):  # and the port is free again
        pass


def test_a_taken_port_is_one_line_and_starts_no_worker() -> None:
    import subprocess
    import sys

    from tests.cli.server_process import environment

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tui_chat", "serve", "--workers", "2", "--port", str(port),
             "--relay", DEAD_RELAY], capture_output=True, text=True, env=environment(),
            timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"tui-chat: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert result.stdout == ""
