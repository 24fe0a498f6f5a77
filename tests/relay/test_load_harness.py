"""The lean upstream of `benchmarks/relay_load.py` sends what the test fake sends.

The relay load benchmark swaps the test fake for `benchmarks/lean_upstream.py`, which costs a
fraction of the CPU; the relay must get the same bytes from it, or the benchmark would measure
a different relay workload.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

from tests.fake_openai import FakeOpenAI
from tui_chat.models import Delta, Finished, Message, RequestParams, Usage
from tui_chat.providers.openai_compat import OpenAICompatible

LEAN = Path(__file__).resolve().parents[2] / "benchmarks" / "lean_upstream.py"
TEXT = "word0 word1 word2 wörd3 word4"
BODY = {"model": "fake-model", "messages": [{"role": "user", "content": "go"}],
        "stream": True, "stream_options": {"include_usage": True}}


async def raw_answer(url: str) -> bytes:
    """The whole response to one streamed request, as the bytes on the wire."""
    host, port = re.fullmatch(r"http://([\d.]+):(\d+)/v1", url).groups()  # type: ignore[union-attr]
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps(BODY).encode()
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                 b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    data = b""
    async with asyncio.timeout(10):
        while not data.endswith(b"\r\n0\r\n\r\n"):
            piece = await reader.read(65536)
            assert piece, f"the server closed the connection early: {data!r}"
            data += piece
    writer.close()
    return data


def comparable(data: bytes) -> bytes:
    """Without what differs by request: the request id header, ids, times, chunk sizes (which
    follow from them)."""
    data = re.sub(rb"x-request-id: \S+\r\n", b"", data)
    data = re.sub(rb'"(id|created)": ("[^"]*"|\d+)', b"", data)
    return re.sub(rb"\r\n[0-9a-f]+\r\n", b"\r\n", data)


async def start_lean(rate: float) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(LEAN), "--port", "0", "--text", TEXT, "--chunks-per-second",
        str(rate), stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    async with asyncio.timeout(20):
        url = (await process.stdout.readline()).decode().strip()
    return process, url


async def stop(process: asyncio.subprocess.Process) -> None:
    process.terminate()
    async with asyncio.timeout(10):
        await process.wait()


async def test_the_lean_upstream_sends_the_fakes_bytes() -> None:
    lean, url = await start_lean(0)
    try:
        async with FakeOpenAI(text=TEXT, chunks_per_second=0) as fake:
            expected = await raw_answer(fake.url)
        assert comparable(await raw_answer(url)) == comparable(expected)
    finally:
        await stop(lean)


async def test_the_lean_upstream_keeps_the_rate_and_serves_one_request_after_another() -> None:
    lean, url = await start_lean(50)
    provider = OpenAICompatible(url, "sk-test-not-real")
    try:
        for _ in range(2):  # the second request reuses the connection
            loop = asyncio.get_running_loop()
            started = loop.time()
            events = [event async for event in provider.stream(
                [Message("user", "go")], RequestParams("fake-model", stream=True))]
            elapsed = loop.time() - started
            assert "".join(e.text for e in events if isinstance(e, Delta)) == TEXT
            assert Usage(1, 5) in events
            assert events[-1] == Finished("stop")
            # Chunk 4 is due 4/50 s after the first: the schedule is kept, not flooded.
            assert elapsed >= 4 / 50
    finally:
        await provider.aclose()
        await stop(lean)
