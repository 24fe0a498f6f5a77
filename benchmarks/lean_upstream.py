"""A lean OpenAI-compatible streaming upstream for load benchmarks (`relay_load.py`).

It sends the same bytes as `tests.fake_openai` for a plain streamed answer (the same chunked
body, the same chunk objects with `"usage": null`, the finish chunk, the usage chunk and
`[DONE]`) on the same schedule (the head, the role chunk and chunk 0 at once, chunk k at
start + k / rate), but at a fraction of the CPU: it is an `asyncio.Protocol` that writes bytes
encoded once at start, from one timer callback per chunk, with no task, no JSON and no
records per event. At 1,000 streams of 50 chunks/s that is 50,000 events a second, which the
test fake (a coroutine per stream, a timeout and a drain per event, every chunk recorded)
spends most of a core on, on the same 2 cores as the relay it is meant to load.

    python benchmarks/lean_upstream.py --port 0 --text "..." --chunks-per-second 50

prints its base URL (`http://127.0.0.1:PORT/v1`) as the first line, serves until SIGTERM.
Only `POST /v1/chat/completions` with `"stream": true` is answered; anything else gets a 404.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import time
from typing import Any

BACKLOG = 4096
MAX_HEAD = 64 * 1024


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _sse(payload: Any) -> bytes:
    return _http_chunk(b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n")


class Answer:
    """Every byte of one answer, encoded once: `first` goes out at once, `chunks[k]` (k ≥ 1)
    at start + k / rate, `tail` right after the last chunk."""

    def __init__(self, pieces: list[str], model: str, usage: bool) -> None:
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model, "system_fingerprint": None}
        extra = {"usage": None} if usage else {}

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse({**base, "choices": [choice], **extra})

        head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: keep-alive\r\n\r\n")
        self.chunks = [event({"content": piece}) for piece in pieces]
        self.first = head + event({"role": "assistant", "content": ""}) + self.chunks[0]
        tail = [event({}, "stop")]
        if usage:
            tail.append(_sse({**base, "choices": [], "usage": {
                "prompt_tokens": 1, "completion_tokens": len(pieces),
                "total_tokens": 1 + len(pieces)}}))
        tail += [_http_chunk(b"data: [DONE]\n\n"), _http_chunk(b"")]
        self.tail = b"".join(tail)


class Upstream:
    """The answers (encoded per model and usage flag, on first use) and the schedule."""

    def __init__(self, pieces: list[str], rate: float) -> None:
        self.pieces = pieces
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._answers: dict[tuple[str, bool], Answer] = {}

    def answer(self, model: str, usage: bool) -> Answer:
        key = (model, usage)
        if key not in self._answers:
            self._answers[key] = Answer(self.pieces, model, usage)
        return self._answers[key]


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_NOT_FOUND = (b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
              b"Content-Length: 36\r\n\r\n"
              b'{"error": {"message": "not found"}}\n')


class StreamProtocol(asyncio.Protocol):
    """One connection: reads requests one after another, streams each answer by timers."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer: Answer | None = None
        self.next = 0
        self.start = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.answer is not None and self.timer is None:
            self._send_due()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.answer is None:
            self._take_request()

    def _take_request(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD and self.transport is not None:
                self.transport.close()
            return
        head = bytes(self.buffer[:end])
        match = _CONTENT_LENGTH.search(head)
        length = int(match.group(1)) if match else 0
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        assert self.transport is not None
        try:
            request = json.loads(body) if head.startswith(b"POST /v1/chat/completions ") else None
        except ValueError:
            request = None
        if not isinstance(request, dict) or not request.get("stream"):
            self.transport.write(_NOT_FOUND)
            return
        usage = bool((request.get("stream_options") or {}).get("include_usage"))
        self.answer = self.upstream.answer(str(request.get("model")), usage)
        self.start = self.loop.time()
        self.next = 1
        self.transport.write(self.answer.first)
        self._send_due()

    def _send_due(self) -> None:
        """Write every chunk due by now (one write), then set the timer for the next one."""
        self.timer = None
        answer, transport = self.answer, self.transport
        if answer is None or transport is None or self.paused:
            return
        interval = self.upstream.interval
        total = len(answer.chunks)
        now = self.loop.time()
        due = total if not interval else min(total, int((now - self.start) / interval) + 1)
        if due > self.next:
            transport.write(b"".join(answer.chunks[self.next:due]))
            self.next = due
        if self.next < total:
            self.timer = self.loop.call_at(self.start + self.next * interval, self._send_due)
            return
        transport.write(answer.tail)
        self.answer = None
        if self.buffer:
            self._take_request()


async def serve(host: str, port: int, upstream: Upstream) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StreamProtocol(upstream), host, port,
                                      backlog=BACKLOG)
    bound = server.sockets[0].getsockname()
    print(f"http://{bound[0]}:{bound[1]}/v1", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--text", default="Hello! This is the lean upstream answering.")
    parser.add_argument("--chunks-per-second", type=float, default=0.0,
                        help="per stream; 0 sends as fast as possible")
    args = parser.parse_args(argv)
    # Words with their trailing space, as the test fake splits a text.
    pieces = re.findall(r"\s+|\S+\s*", args.text) or [args.text]
    asyncio.run(serve(args.host, args.port, Upstream(pieces, args.chunks_per_second)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
