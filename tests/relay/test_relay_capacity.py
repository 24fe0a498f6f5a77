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
from aiohttp import web

from tests.cli.server_process import environment
from tests.fake_openai import FakeOpenAI, Reply
from tests.relay.serving import serving as app_on_loopback
from tests.relay.test_relay_workers import free_port
from tui_chat.config import load_settings
from tui_chat.providers import make_provider, make_relay_provider
from tui_chat.relay.server import make_relay_app, upstream_connections

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


# -- the upstream connection pool --------------------------------------------------------------

KEY = "sk-test-CAPACITY-0123456789"



def relay_over(fake: FakeOpenAI, max_connections: int | None,
               transport: str = "aiohttp") -> web.Application:
    settings = load_settings(None, {"OPENAI_API_KEY": KEY}, base_url=fake.url, model="m",
                             retries=0, http_transport=transport)
    return make_relay_app(settings, make_provider(settings, max_connections=max_connections))


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_upstream_connections_caps_the_streams_open_upstream_at_once(
        fake_openai, transport) -> None:
    # Three streams of 5 chunks at 20/s through a relay allowed 2 upstream connections: the
    # third starts upstream only once one of the first two has ended.
    for _ in range(3):
        fake_openai.script(Reply(chunks=[f"w{i} " for i in range(5)], chunks_per_second=20))
    async with app_on_loopback(relay_over(fake_openai, 2, transport)) as url:
        texts = await answers(url, 3)
    assert texts == ["w0 w1 w2 w3 w4 "] * 3
    first, second, third = sorted(fake_openai.chat_requests, key=lambda r: r.chunks[0].monotonic)
    assert third.chunks[0].monotonic >= min(first.chunks[-1].monotonic,
                                            second.chunks[-1].monotonic)


async def test_a_relay_over_a_relay_opens_more_than_aiohttps_100_connections(
        fake_openai) -> None:
    # serve --relay URL: the upstream is another relay, reached through aiohttp, whose pool
    # stops at 100 connections unless told otherwise. All 120 streams must be open upstream
    # at once (each waits there until released), not 100 with 20 waiting behind them.
    streams = 120
    release = asyncio.Event()
    for _ in range(streams):
        fake_openai.script(Reply(chunks=["a", "b"], stall_after=1, release=release))
    async with app_on_loopback(relay_over(fake_openai, None)) as inner:
        settings = load_settings(None, {}, model="m", retries=0)
        outer = make_relay_app(settings, make_relay_provider(
            inner, settings, max_connections=upstream_connections(None)))
        async with app_on_loopback(outer) as url:
            streaming = asyncio.ensure_future(answers(url, streams))
            try:
                async with asyncio.timeout(10):
                    while len(fake_openai.chat_requests) < streams and not streaming.done():
                        await asyncio.sleep(0.02)
            except TimeoutError:
                pass  # said below, once the streams that were let through have ended
            finally:
                opened = len(fake_openai.chat_requests)
                release.set()
            texts = await streaming
    assert opened == streams, f"only {opened} of {streams} streams were open upstream at once"
    assert texts == ["ab"] * streams


def test_upstream_connections_must_be_positive() -> None:
    result = subprocess.run([sys.executable, "-m", "tui_chat", "serve", "--base-url",
                             "http://127.0.0.1:9/v1", "--upstream-connections", "0"],
                            capture_output=True, text=True, env=environment(), timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("--upstream-connections must be 1 or more")
