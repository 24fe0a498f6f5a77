"""`tui-chat serve` holding many streams at once: limits of the process and of its upstream
connection pool must not refuse or queue streams that the machine can carry."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest

from tests.cli.server_process import environment
from tests.fake_openai import FakeOpenAI, Reply
from tests.relay.test_relay_workers import free_port

OPEN_FILES = 64
"""The soft open-file limit the relay is started with: room for ~20 streams (two sockets each,
after what Python and the event loop hold)."""
STREAMS = 40


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as server:
        yield server.fake


def low_open_file_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, hard))


class serving:
    """`tui-chat serve ARGS` with a low soft open-file limit, until its banner."""

    def __init__(self, *argv: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tui_chat", "serve", *argv], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(),
            preexec_fn=low_open_file_limit)

    def __enter__(self) -> subprocess.Popen[str]:
        assert self.process.stdout is not None
        if not self.process.stdout.readline():
            pytest.fail(f"the relay did not start: {self.process.communicate(timeout=10)[1]}")
        return self.process

    def __exit__(self, *exc_info: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def answers(url: str, count: int) -> list[str]:
    """`count` streams at once; each one's content, or its error event."""
    async def one(session: aiohttp.ClientSession) -> str:
        async with session.post(f"{url}/api/chat/stream", json={"message": "hi"}) as response:
            parts: list[str] = []
            async for line in response.content:
                if line.startswith(b"data:"):
                    event = json.loads(line[5:])
                    if "error" in event:
                        return f"error: {event['error']}"
                    parts.append(event.get("content", ""))
            return "".join(parts)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async with asyncio.timeout(30):
            return await asyncio.gather(*(one(session) for _ in range(count)))


def test_streams_past_the_soft_open_file_limit_are_served(fake: FakeOpenAI) -> None:
    # All open at once: 10 chunks at 20/s each.
    for _ in range(STREAMS):
        fake.script(Reply(chunks=[f"w{i} " for i in range(10)], chunks_per_second=20))
    port = free_port()
    with serving("--port", str(port), "--base-url", fake.url, "--model", "m") as relay:
        limits = open(f"/proc/{relay.pid}/limits").read() if os.path.exists("/proc") else ""
        texts = asyncio.run(answers(f"http://127.0.0.1:{port}", STREAMS))
    assert texts == ["".join(f"w{i} " for i in range(10))] * STREAMS
    if limits:  # Linux: the relay raised its own soft limit to the hard one
        line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        soft, hard = line.split()[3:5]
        assert soft == hard
