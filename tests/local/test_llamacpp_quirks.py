"""The provider against llama.cpp's own bytes: chunks recorded from the real server
(tests/real/record_chunks.py wrote tests/real/llamacpp_recording.json) replayed on 127.0.0.1.

The quirks: a first chunk whose content is null, a finish chunk with an empty delta, usage in a
last chunk with no choices and an extra `timings` object, keep-alive comments before the first
chunk while a long prompt is read, a context overflow as a 400 with both sizes, and an empty
message list accepted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tui_chat.models import ContextTooLong, Delta, Finished, Message, RequestParams, Usage
from tui_chat.providers.openai_compat import OpenAICompatible

RECORDING = json.loads((Path(__file__).parents[1] / "real" / "llamacpp_recording.json")
                       .read_text(encoding="utf-8"))
EXCHANGES: dict[str, dict[str, Any]] = RECORDING["exchanges"]
PARAMS = RequestParams("SmolLM2-135M-Instruct")
QUESTION = [Message("user", "What is the capital of France?")]


def events_of(name: str) -> list[dict[str, Any]]:
    """The JSON events of a recorded stream, as the server sent them."""
    body = "".join(text for _, text in EXCHANGES[name]["reads"])
    return [json.loads(line[6:]) for line in body.splitlines()
            if line.startswith("data: {")]


@dataclass
class Replay:
    """Serves one recorded exchange per request, read by read, on a loopback port."""

    name: str = "answer"
    max_gap: float = 0.0
    """Replay the recorded pause before each keep-alive, cut to at most this many seconds (the
    rest of the stream is sent at once)."""
    keepalives: int | None = None
    """Keep only the first N keep-alive-only reads (the recording has one every ~2 s)."""
    port: int = 0

    async def __aenter__(self) -> Replay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        exchange = EXCHANGES[self.name]
        writer.write(f"HTTP/1.1 {exchange['status']} X\r\nContent-Type: "
                     f"{exchange['content_type']}\r\nConnection: close\r\n\r\n".encode())
        previous, comments = 0.0, 0
        for at, text in exchange["reads"]:
            if text.strip() == ":":
                comments += 1
                if self.keepalives is not None and comments > self.keepalives:
                    continue
                await asyncio.sleep(min(self.max_gap, at - previous))
            previous = at
            writer.write(text.encode("utf-8"))
            await writer.drain()
        writer.close()


async def collect(url: str, messages: list[Message], *, stall_timeout: float = 10.0) -> list:
    provider = OpenAICompatible(url, "no-key-needed", connect_timeout=2,
                                stall_timeout=stall_timeout)
    try:
        async with aclosing(provider.stream(messages, PARAMS)) as stream:
            return [event async for event in stream]
    finally:
        await provider.aclose()


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    async with Replay() as server:
        yield server


async def test_a_recorded_answer_becomes_text_usage_and_finish(replay: Replay) -> None:
    events = await collect(replay.url, QUESTION)
    recorded = events_of("answer")
    assert recorded[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    assert recorded[-2]["choices"][0]["delta"] == {}  # the finish chunk
    assert recorded[-1]["choices"] == [] and "timings" in recorded[-1]  # usage chunk
    texts = [e.text for e in events if isinstance(e, Delta)]
    assert all(texts), "a null content must not become an empty piece"
    expected = "".join(c["choices"][0]["delta"].get("content") or "" for c in recorded[:-1])
    assert "".join(texts) == expected and "Paris" in expected
    usage = recorded[-1]["usage"]
    assert [e for e in events if isinstance(e, Usage)] == [
        Usage(usage["prompt_tokens"], usage["completion_tokens"])]
    assert usage["completion_tokens"] == recorded[-1]["timings"]["predicted_n"]
    assert events[-1] == Finished("stop")


async def test_keepalives_while_the_prompt_is_read_are_not_a_stall() -> None:
    # Six comments 0.6 s apart before the first chunk: 3.6 s of silence but for them, three
    # times the stall timeout. Comments are life.
    async with Replay("long_prompt", max_gap=0.6, keepalives=6) as server:
        events = await collect(server.url, QUESTION, stall_timeout=1.2)
    assert isinstance(events[-1], Finished)
    assert any(isinstance(e, Delta) and e.text for e in events)


async def test_a_context_overflow_is_one_line_with_both_sizes() -> None:
    body = json.loads(EXCHANGES["overflow"]["reads"][0][1])["error"]
    assert body["type"] == "exceed_context_size_error"
    async with Replay("overflow") as server:
        with pytest.raises(ContextTooLong) as raised:
            await collect(server.url, QUESTION)
    assert str(raised.value) == (
        f"this conversation is {body['n_prompt_tokens']:,} tokens; the model's context is "
        f"{body['n_ctx']:,}: start a new one, or lower context_tokens")


async def test_an_empty_message_list_is_answered() -> None:
    async with Replay("no_messages") as server:
        events = await collect(server.url, [])
    assert isinstance(events[-1], Finished)
