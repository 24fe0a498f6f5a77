"""A loopback HTTP server that speaks OpenAI chat completions, with scripted answers and faults.

Used three ways: `async with FakeOpenAI() as fake:` inside a test's loop,
`FakeOpenAI.start_in_thread()` for sync tests and benchmarks, and
`python -m tests.fake_openai --port 0 ...` (prints its base URL as the first stdout line).

Each chat request takes the next `Reply` from the script queue (or the default reply) and the
server records what it was sent and what it wrote, so tests can assert on both sides of the wire.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import dataclasses
import http
import itertools
import json
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from tui_chat.titles import INSTRUCTION as TITLE_INSTRUCTION
from tui_chat.titles import TURN_INSTRUCTION as TITLE_TURN

DEFAULT_TEXT = "Hello! This is the fake server answering."
DEFAULT_MODELS = ("fake-model", "gpt-4o-mini")
MAX_HEAD_BYTES = 64 * 1024
BACKLOG = 4096

_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    # status: (message, type, code) shaped like OpenAI's own errors. A 401 echoes the key on
    # purpose: a careless server might, and the client must not pass it on.
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided: {api_key}.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource.", "permission_error", None),
    404: ("The model `{model}` does not exist or you do not have access to it.",
          "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
}
_IMAGE_MAGIC = {
    # What a vision server checks the decoded bytes against: its own table, not the client's.
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
_DATA_URL = re.compile(r"data:([a-z]+/[a-z0-9.+-]+);base64,(.*)", re.DOTALL)


def llamacpp_no_images() -> Reply:
    """llama.cpp's server without a vision projector, refusing an image (a 500, its words)."""
    return Reply.error(500, body={"error": {
        "code": 500, "type": "server_error",
        "message": "image input is not supported - hint: if this is unexpected, you may need "
                   "to provide the mmproj"}})


def openai_no_images() -> Reply:
    """OpenAI refusing an image sent to a model without vision (a 400, its words)."""
    return Reply.error(400, "Invalid content type. image_url is only supported by certain "
                            "models.", type="invalid_request_error")


@dataclass(frozen=True)
class ReceivedImage:
    """An image content part a vision-mode server took: its bytes, as decoded."""

    mime: str
    data: bytes

    @property
    def png_size(self) -> tuple[int, int] | None:
        if self.mime != "image/png" or self.data[12:16] != b"IHDR":
            return None
        return (int.from_bytes(self.data[16:20], "big"), int.from_bytes(self.data[20:24], "big"))

    def describe(self) -> str:
        size = self.png_size
        dims = f" {size[0]}x{size[1]}" if size else ""
        return f"{self.mime} {len(self.data)} bytes{dims}"


def check_content_parts(messages: list[dict[str, Any]]) -> tuple[list[ReceivedImage], str | None]:
    """The images of a request's messages, checked as a vision server would, or the first
    problem found (as the error message to send)."""
    images: list[ReceivedImage] = []
    for number, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, str) or content is None:
            continue
        if not isinstance(content, list):
            return images, f"messages[{number}].content must be a string or a list of parts"
        for index, part in enumerate(content):
            where = f"messages[{number}].content[{index}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    return images, f"{where}.text must be a string"
                continue
            if kind != "image_url":
                return images, f"{where}: unknown content part type {kind!r}"
            url = (part.get("image_url") or {}).get("url")
            match = _DATA_URL.fullmatch(url) if isinstance(url, str) else None
            if match is None:
                return images, f"{where}: image_url.url is not a base64 data URL"
            mime, payload = match.groups()
            try:
                data = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                return images, f"{where}: the base64 data does not decode"
            if mime not in _IMAGE_MAGIC:
                return images, f"{where}: unsupported image type {mime}"
            if not data.startswith(_IMAGE_MAGIC[mime]):
                return images, f"{where}: the data is not a {mime} image"
            images.append(ReceivedImage(mime, data))
    return images, None


_SERVER_ERROR = ("The server had an error while processing your request.", "server_error", None)


@dataclass
class Reply:
    """What the server does for one chat completions request.

    The answer is `chunks` if given, else `text` (or the server's text) split into pieces of
    `chunk_size` characters (or into words when no size is set). Counts such as `cut_after=N`
    refer to content chunks: "after N content chunks were written".
    """

    text: str | None = None
    chunks: Sequence[str] | None = None
    chunk_size: int | None = None
    chunks_per_second: float | None = None
    """None uses the server's rate; 0 sends as fast as possible."""
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None
    """(prompt_tokens, completion_tokens); None estimates them."""
    delay: float = 0.0
    """Seconds before the response head is written (time to first byte)."""
    status: int = 200
    error_body: Any = None
    """For status >= 400: a dict sent as JSON, a str sent as text/html; None: OpenAI-shaped."""
    error_message: str | None = None
    """Message of the default error body; `{model}` and `{api_key}` are filled in."""
    error_code: str | None = None
    error_type: str | None = None
    retry_after: float | str | None = None
    """Sent as the Retry-After header (seconds, or an HTTP date as a string)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers."""
    cut_after: int | None = None
    """Close the socket abruptly after N chunks: no finish_reason, no [DONE], no end of body."""
    end_after: int | None = None
    """End the body cleanly after N chunks, with no finish_reason and no [DONE]."""
    malformed_after: int | None = None
    """Send a data line that is not JSON after N chunks, then carry on."""
    stall_after: int | None = None
    """Stop sending after N chunks (the connection stays open)."""
    stall_seconds: float | None = None
    """How long a stall lasts before the answer goes on; None: until the client goes."""
    keepalive_every: float | None = None
    """During a stall, send a `: keep-alive` comment line this often."""
    release: asyncio.Event | None = field(default=None, compare=False)
    """During a stall, go on as soon as this is set (the test says when the answer goes on),
    instead of after `stall_seconds`. A non-streaming reply waits for it before its head."""
    no_done: bool = False
    """Send finish_reason (and usage) but no `data: [DONE]`, then close."""
    split_utf8: bool = False
    """Write every event holding a multi-byte character in two writes that split it."""
    line_ending: str = "\n"
    """How event lines end: "\n", "\r\n" or "\r" (all three are valid event streams)."""
    data_prefix: str = "data: "
    """The field name before each event's data; "data:" (no space) is valid too."""
    reasoning: str | Sequence[str] | None = None
    """Reasoning sent before the answer: chunks, or a text split into words. Chunk counts
    (`cut_after=N`, ...) count reasoning chunks first, then content chunks."""
    reasoning_form: str = "reasoning_content"
    """How the reasoning is sent: in `delta.reasoning_content`, in `delta.reasoning`, as
    "think" (`<think>...</think>` in the content) or "think_no_open" (no opening tag)."""
    reasoning_with_answer: bool = False
    """Send the last reasoning chunk and the first answer chunk in one delta."""
    obey_max_tokens: bool = False
    """Cut the answer at the request's `max_tokens` (a chunk counts as a token) and end it
    with finish_reason "length", as a server does when the answer reaches its limit."""
    continues: str | None = None
    """Continuation mode: the whole answer that a partial answer is the start of. The server
    finds the partial answer in the request (a trailing assistant message, or the last
    assistant message when a user message asking to go on follows it) and answers with the
    rest of `continues` after it (all of it if the partial is not its start)."""
    repeat_tail: int = 0
    """Continuation mode: first repeat this many characters of the partial answer's end, as
    models asked to go on often do."""

    def for_request(self, messages: Sequence[Any], max_tokens: Any, default_text: str,
                    default_chunk_size: int | None) -> Reply:
        """This reply made concrete for a request: its continuation and length cut applied."""
        reply = self
        if reply.continues is not None:
            assistant = [m for m in messages if isinstance(m, dict)
                         and m.get("role") == "assistant"]
            partial = str(assistant[-1].get("content") or "") if assistant else ""
            rest = (reply.continues[len(partial):] if reply.continues.startswith(partial)
                    else reply.continues)
            tail = partial[len(partial) - reply.repeat_tail:] if reply.repeat_tail else ""
            reply = replace(reply, text=tail + rest, chunks=None, continues=None)
        if reply.obey_max_tokens and isinstance(max_tokens, int) and max_tokens > 0:
            pieces = reply.pieces(default_text, default_chunk_size)
            if len(pieces) > max_tokens:
                reply = replace(reply, chunks=pieces[:max_tokens], finish_reason="length")
        return reply

    def deltas(self, pieces: list[str]) -> list[tuple[dict[str, Any], str | None]]:
        """Each delta to send, with the content it adds to the answer (None: none)."""
        reasoning = self.reasoning
        if reasoning is None:
            return [({"content": piece}, piece) for piece in pieces]
        thinking = (re.findall(r"\s+|\S+\s*", reasoning) if isinstance(reasoning, str)
                    else list(reasoning))
        form = self.reasoning_form
        items: list[tuple[dict[str, Any], str | None]] = []
        if form in ("think", "think_no_open"):
            if form == "think":
                items.append(({"content": "<think>"}, None))
            items += [({"content": piece}, None) for piece in thinking]
            items.append(({"content": "</think>\n\n"}, None))
        else:
            items += [({form: piece}, None) for piece in thinking]
        answer = [({"content": piece}, piece) for piece in pieces]
        if self.reasoning_with_answer and answer and items:
            (last, _), (first, text) = items.pop(), answer.pop(0)
            if "content" in last:
                merged = {"content": last["content"] + first["content"]}
            else:
                merged = {**last, **first}
            items.append((merged, text))
        return items + answer

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        code: str | None = None,
        type: str | None = None,
        retry_after: float | str | None = None,
        body: Any = None,
        **kwargs: Any,
    ) -> Reply:
        """An HTTP error reply, e.g. `Reply.error(429, retry_after=7)`."""
        return cls(status=status, error_message=message, error_code=code, error_type=type,
                   retry_after=retry_after, error_body=body, **kwargs)

    @classmethod
    def context_too_long(cls) -> Reply:
        return cls.error(
            400,
            "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 9120 tokens. Please reduce the length of the messages.",
            code="context_length_exceeded",
        )

    def pieces(self, default_text: str, default_chunk_size: int | None) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        text = self.text if self.text is not None else default_text
        size = self.chunk_size if self.chunk_size is not None else default_chunk_size
        if size:
            return [text[i : i + size] for i in range(0, len(text), size)]
        return re.findall(r"\s+|\S+\s*", text)


@dataclass(frozen=True)
class SentChunk:
    """One content chunk as the server wrote it."""

    text: str
    monotonic: float
    wall: float


class RecordedRequest:
    """One HTTP request as the server saw it, and what became of it."""

    def __init__(self, method: str, path: str, headers: dict[str, str], raw_body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        """Header names in lower case."""
        self.raw_body = raw_body
        try:
            self.body: Any = json.loads(raw_body) if raw_body else None
        except ValueError:
            self.body = None
        self.received_monotonic = time.monotonic()
        self.received_wall = time.time()
        self.reply: Reply | None = None
        self.status: int | None = None
        self.chunks: list[SentChunk] = []
        self.images: list[ReceivedImage] = []
        """Image parts a vision-mode server took (see FakeOpenAI's `vision`)."""
        self.reasoning_chunks: list[SentChunk] = []
        """Deltas sent before the answer (reasoning, and any think tags)."""
        self.outcome: str | None = None
        """complete | ended | cut | no_done | disconnected | stopped | error, once done."""
        self._disconnected = threading.Event()
        self._done = threading.Event()

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", []) if isinstance(self.body, dict) else []

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def api_key(self) -> str | None:
        value = self.authorization or ""
        return value[7:] if value.lower().startswith("bearer ") else None

    @property
    def text_sent(self) -> str:
        return "".join(chunk.text for chunk in self.chunks)

    @property
    def disconnected(self) -> bool:
        """The client went away before the server finished this response."""
        return self._disconnected.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def wait_disconnected(self) -> None:
        """Wait until the client is gone. Put it under `asyncio.timeout`; works across threads."""
        while not self._disconnected.is_set():
            await asyncio.sleep(0.005)

    async def wait_done(self) -> None:
        """Wait until the server finished with this request (any outcome)."""
        while not self._done.is_set():
            await asyncio.sleep(0.005)

    def wait_disconnected_blocking(self, timeout: float) -> bool:
        return self._disconnected.wait(timeout)

    def wait_done_blocking(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def _finish(self, outcome: str) -> None:
        if self.outcome is None:
            self.outcome = outcome
        self._done.set()

    def __repr__(self) -> str:
        return (f"<RecordedRequest {self.method} {self.path} status={self.status} "
                f"chunks={len(self.chunks)} outcome={self.outcome}>")


class _Connection:
    """A client socket with our own read buffer, so a watcher can read while we write."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.gone = asyncio.Event()
        """Set when the client closed or reset the connection, or the server is stopping."""

    async def _fill(self) -> None:
        try:
            data = await self.reader.read(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.gone.set()
            raise ConnectionResetError("client closed the connection")
        self.buffer += data

    async def read_head(self) -> bytes | None:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                return None
            try:
                await self._fill()
            except ConnectionError:
                return None
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        return head

    async def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def read_line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            await self._fill()
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    async def watch(self) -> None:
        """Notice a client leaving while we write: reads EOF (or a reset) at once."""
        with contextlib.suppress(ConnectionError):
            while True:
                await self._fill()

    async def write(self, data: bytes) -> bool:
        """Write and flush; False when the client is gone."""
        if self.gone.is_set():
            return False
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            self.gone.set()
            return False
        return not self.gone.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless the client leaves first; False when it left."""
        if self.gone.is_set():
            return False
        if seconds <= 0:
            return True
        try:
            async with asyncio.timeout(seconds):
                await self.gone.wait()
        except TimeoutError:
            return True
        return False

    def abort(self) -> None:
        self.gone.set()
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


def _asks_for_title(request: RecordedRequest) -> bool:
    messages = request.messages
    return bool(messages) and isinstance(messages[0], dict) and isinstance(messages[-1], dict) \
        and (messages[0].get("content") == TITLE_INSTRUCTION  # the quoted form (hosted)
             or messages[-1].get("content") == TITLE_TURN)  # the conversation's own (local)


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def _split_inside_character(data: bytes) -> tuple[bytes, bytes] | None:
    for index, byte in enumerate(data):
        if byte >= 0xC0:  # lead byte of a multi-byte character
            return data[: index + 1], data[index + 1 :]
    return None


class FakeOpenAI:
    """An OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

    Args:
        replies: Scripted replies for the first chat requests, in order.
        default: The reply once the script is used up (default: `Reply()`, i.e. `text`).
        text: The answer text of replies that set none.
        chunk_size: Characters per chunk for replies that set none (None: split into words).
        chunks_per_second: Rate for replies that set none; 0 sends as fast as possible.
        models: Ids listed by `GET /v1/models`.
        models_status: Status of `GET /v1/models`; anything but 200 answers with an error.
        api_key: When set, requests without `Authorization: Bearer <api_key>` get a 401.
        check_model: When set, chat requests for a model not in `models` get a 404.
        reject_stream_options: Answer 400 to requests that carry `stream_options`, like some
            older servers.
        vision: Whether models take images. None: content is not looked at. True (or a
            list of the model ids that do): image parts are checked (a data URL, base64 that
            decodes, bytes of the type named) and, unless the script says otherwise, the
            answer describes the images received; a bad part gets a 400. False (or a model
            not in the list): a request with an image part is refused with `no_vision`.
        no_vision: The refusal for images sent to a model without vision (default:
            llama.cpp's 500).
        host, port: Where to listen; port 0 picks a free one.

    The app asks a server on loopback (this one) for a conversation title after the first
    answer (`tui_chat/titles.py`). Those requests are told apart by their instruction and
    answered from their own script (`script_titles`, default `TITLE_REPLY`), and listed in
    `title_requests`, not `chat_requests`: a test's scripted answers stay its own, whenever the
    background title request happens to arrive.
    """

    TITLE_REPLY = Reply(text="Scripted Title")

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        default: Reply | None = None,
        text: str = DEFAULT_TEXT,
        chunk_size: int | None = None,
        chunks_per_second: float = 0.0,
        models: Sequence[str] = DEFAULT_MODELS,
        models_status: int = 200,
        api_key: str | None = None,
        check_model: bool = False,
        reject_stream_options: bool = False,
        vision: bool | Sequence[str] | None = None,
        no_vision: Reply | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.script_queue: deque[Reply] = deque(replies)
        self.title_queue: deque[Reply] = deque()
        self.default = default or Reply()
        self.text = text
        self.chunk_size = chunk_size
        self.chunks_per_second = chunks_per_second
        self.models = list(models)
        self.models_status = models_status
        self.api_key = api_key
        self.check_model = check_model
        self.reject_stream_options = reject_stream_options
        self.vision = vision
        self.no_vision = no_vision or llamacpp_no_images()
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        """Every HTTP request, in arrival order."""
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self.connections_opened = 0
        """TCP connections accepted so far (a client that reuses its connection opens one)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self.send_log: TextIO | None = None
        """When set, every content chunk written is logged as a line `request chunk monotonic
        wall` (tab-separated; flushed when the request ends), so another process can read the
        send times. time.monotonic() is system-wide on Linux, so it compares across processes."""

    # -- owner's side -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, ending in /v1, to give the SDK as `base_url`."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Chat requests, title requests left out."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")
                and not _asks_for_title(r)]

    @property
    def title_requests(self) -> list[RecordedRequest]:
        """The app's requests for a conversation title (see the class docstring)."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")
                and _asks_for_title(r)]

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next chat requests, in order."""
        self.script_queue.extend(replies)

    def script_titles(self, *replies: Reply) -> None:
        """Queue replies for the next title requests, in order."""
        self.title_queue.extend(replies)

    async def wait_for_requests(self, count: int) -> RecordedRequest:
        """Wait until `count` chat requests arrived and return the last of them."""
        while len(chats := self.chat_requests) < count:
            await asyncio.sleep(0.005)
        return chats[count - 1]

    async def start(self) -> FakeOpenAI:
        # A deep accept queue: the relay benchmark opens 1,000 connections at once, and a full
        # queue (asyncio's default is 100) costs the ones over it a 1 s SYN retry or more.
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  backlog=BACKLOG)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening, drop every connection and end every handler (stalls included)."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.abort()
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    def start_in_thread(cls, *args: Any, **kwargs: Any) -> RunningFakeOpenAI:
        """Run a server on its own event loop in a daemon thread (for sync code)."""
        return RunningFakeOpenAI(cls(*args, **kwargs))

    # -- HTTP ---------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        connection = _Connection(reader, writer)
        self._connections.add(connection)
        self.connections_opened += 1
        try:
            while not connection.gone.is_set():
                request = await self._read_request(connection)
                if request is None:
                    break
                keep_alive = await self._respond(connection, request)
                if not keep_alive or request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(connection)
            self._tasks.discard(task)
            if connection.gone.is_set():
                connection.abort()
            else:
                writer.close()

    async def _read_request(self, connection: _Connection) -> RecordedRequest | None:
        head = await connection.read_head()
        if not head:
            return None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return None
        method, target, _version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int((await connection.read_line()).split(b";")[0], 16):
                body += await connection.read_exactly(size)
                await connection.read_line()
            await connection.read_line()
            raw = bytes(body)
        else:
            raw = await connection.read_exactly(int(headers.get("content-length", "0")))
        request = RecordedRequest(method, target.split("?")[0], headers, raw)
        self.requests.append(request)
        return request

    async def _respond(self, connection: _Connection, request: RecordedRequest) -> bool:
        """Answer one request; True when the connection can carry another."""
        watcher = asyncio.create_task(connection.watch())
        try:
            keep_alive = await self._route(connection, request)
            if keep_alive:  # before the client's next move can look like a disconnect
                request._finish("complete")
        except asyncio.CancelledError:
            request._finish("stopped")
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            if connection.gone.is_set() and not request.done:
                request._disconnected.set()
                request._finish("disconnected")
            request._finish("complete")
            if self.send_log is not None:
                self.send_log.flush()
        return keep_alive and not connection.gone.is_set()

    async def _route(self, connection: _Connection, request: RecordedRequest) -> bool:
        path = request.path.removeprefix("/v1")
        if self.api_key is not None and request.api_key != self.api_key:
            return await self._error(connection, request, Reply.error(401))
        if path == "/models":
            if request.method != "GET":
                return await self._error(connection, request, Reply.error(405, "Use GET."))
            if self.models_status != 200:
                return await self._error(connection, request, Reply.error(self.models_status))
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                    for m in self.models]
            return await self._json(connection, request, 200, {"object": "list", "data": data})
        if path != "/chat/completions":
            return await self._error(connection, request,
                                     Reply.error(404, body="404 page not found"))
        if request.method != "POST":
            return await self._error(connection, request, Reply.error(405, "Use POST."))
        if not isinstance(request.body, dict):
            return await self._error(connection, request,
                                     Reply.error(400, "The body is not a JSON object."))
        if self.reject_stream_options and "stream_options" in request.body:
            return await self._error(connection, request, Reply.error(
                400, "Unrecognized request argument supplied: stream_options"))
        if self.check_model and request.model not in self.models:
            return await self._error(connection, request, Reply.error(404))
        seen: list[ReceivedImage] = []
        if self.vision is not None:
            takes_images = (self.vision if isinstance(self.vision, bool)
                            else request.model in self.vision)
            has_parts = any(isinstance(m.get("content"), list) and any(
                isinstance(p, dict) and p.get("type") == "image_url" for p in m["content"])
                for m in request.messages)
            if has_parts and not takes_images:
                return await self._error(connection, request, self.no_vision)
            seen, problem = check_content_parts(request.messages)
            if problem is not None:
                return await self._error(connection, request, Reply.error(400, problem))
            request.images = seen
        if _asks_for_title(request):
            reply = self.title_queue.popleft() if self.title_queue else self.TITLE_REPLY
        else:
            reply = self.script_queue.popleft() if self.script_queue else self.default
        if seen and reply.text is None and reply.chunks is None:
            described = "; ".join(image.describe() for image in seen)
            reply = dataclasses.replace(reply, text=f"I see {len(seen)} image(s): {described}.")
        reply = reply.for_request(request.messages, request.body.get("max_tokens"), self.text,
                                  self.chunk_size)
        request.reply = reply
        if not await connection.sleep(reply.delay):
            return False
        if reply.status >= 400:
            return await self._error(connection, request, reply)
        if request.body.get("stream"):
            return await self._stream(connection, request, reply)
        if reply.release is not None and not await self._released(connection, reply.release):
            return False
        return await self._complete(connection, request, reply)

    async def _write_head(self, connection: _Connection, request: RecordedRequest, status: int,
                          headers: Mapping[str, str]) -> bool:
        request.status = status
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}", f"x-request-id: req_{next(self._ids)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return await connection.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def _json(self, connection: _Connection, request: RecordedRequest, status: int,
                    payload: Any, headers: Mapping[str, str] | None = None) -> bool:
        body = json.dumps(payload, ensure_ascii=False).encode()
        all_headers = {"Content-Type": "application/json", "Content-Length": str(len(body)),
                       **(headers or {})}
        return (await self._write_head(connection, request, status, all_headers)
                and await connection.write(body))

    async def _error(self, connection: _Connection, request: RecordedRequest,
                     reply: Reply) -> bool:
        headers = dict(reply.headers)
        if reply.retry_after is not None:
            headers["Retry-After"] = str(reply.retry_after)
        if isinstance(reply.error_body, str):
            body = reply.error_body.encode()
            kind = "text/html" if body.lstrip().startswith(b"<") else "text/plain"
            headers.update({"Content-Type": kind, "Content-Length": str(len(body))})
            ok = (await self._write_head(connection, request, reply.status, headers)
                  and await connection.write(body))
        else:
            ok = await self._json(connection, request, reply.status,
                                  reply.error_body or self._error_body(request, reply), headers)
        request._finish("error")
        return ok

    @staticmethod
    def _error_body(request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        message, kind, code = _DEFAULT_ERRORS.get(
            reply.status, _SERVER_ERROR if reply.status >= 500 else ("Error.", "error", None))
        message = reply.error_message if reply.error_message is not None else message
        message = message.replace("{model}", str(request.model)).replace(
            "{api_key}", request.api_key or "")
        return {"error": {"message": message, "type": reply.error_type or kind, "param": None,
                          "code": reply.error_code or code}}

    def _usage(self, request: RecordedRequest, reply: Reply, pieces: list[str]) -> dict[str, int]:
        if reply.usage is not None:
            prompt, completion = reply.usage
        else:
            chars = sum(len(str(m.get("content", ""))) for m in request.messages)
            prompt, completion = max(1, chars // 4), len(pieces)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}

    async def _complete(self, connection: _Connection, request: RecordedRequest,
                        reply: Reply) -> bool:
        pieces = reply.pieces(self.text, self.chunk_size)
        text = "".join(pieces)
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if reply.reasoning is not None:
            deltas = [delta for delta, content in reply.deltas(pieces) if content is None]
            if reply.reasoning_form in ("think", "think_no_open"):
                message["content"] = "".join(d["content"] for d in deltas) + text
            else:
                message[reply.reasoning_form] = "".join(d[reply.reasoning_form] for d in deltas)
        payload = {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion",
            "created": int(time.time()), "model": request.model,
            "choices": [{"index": 0, "logprobs": None, "finish_reason": reply.finish_reason,
                         "message": message}],
            "usage": self._usage(request, reply, pieces),
        }
        body = json.dumps(payload, ensure_ascii=False).encode()
        if reply.malformed_after is not None:
            body = body[: len(body) // 2]
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        if not await self._write_head(connection, request, 200, headers):
            return False
        if reply.cut_after is not None:  # half the body, then hang up
            await connection.write(body[: len(body) // 2])
            request._finish("cut")
            connection.abort()
            return False
        if not await connection.write(body):
            return False
        request.chunks.append(SentChunk(text, time.monotonic(), time.time()))
        return True

    async def _stream(self, connection: _Connection, request: RecordedRequest,
                      reply: Reply) -> bool:
        pieces = reply.pieces(self.text, self.chunk_size)
        rate = reply.chunks_per_second
        rate = self.chunks_per_second if rate is None else rate
        interval = 1.0 / rate if rate > 0 else 0.0
        assert isinstance(request.body, dict)
        include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
        base = {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": request.model, "system_fingerprint": None}

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            extra = {"usage": None} if include_usage else {}
            return _sse({**base, "choices": [choice], **extra})

        closing = reply.no_done
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
                   "Transfer-Encoding": "chunked",
                   "Connection": "close" if closing else "keep-alive", **reply.headers}
        if not await self._write_head(connection, request, 200, headers):
            return False
        if not await self._send_event(connection, reply, event({"role": "assistant",
                                                                "content": ""})):
            return False
        started = time.monotonic()
        deltas = reply.deltas(pieces)
        for index in range(len(deltas) + 1):
            if reply.cut_after == index:
                request._finish("cut")
                connection.abort()
                return False
            if reply.end_after == index:
                request._finish("ended")
                return await connection.write(_http_chunk(b""))
            if reply.malformed_after == index and not await connection.write(
                    _http_chunk(b"data: {\"choices\": [{\"delta\": {\"content\": \"x\"\n\n")):
                return False
            if reply.stall_after == index:
                if not await self._stall(connection, reply):
                    return False
                started = time.monotonic() - index * interval
            if index == len(deltas):
                break
            if interval and not await connection.sleep(started + index * interval
                                                       - time.monotonic()):
                return False
            delta, content = deltas[index]
            if not await self._send_event(connection, reply, event(delta)):
                return False
            if content is None:
                request.reasoning_chunks.append(SentChunk(str(next(iter(delta.values()))),
                                                          time.monotonic(), time.time()))
                continue
            request.chunks.append(SentChunk(content, time.monotonic(), time.time()))
            if self.send_log is not None:
                sent = request.chunks[-1]
                self.send_log.write(f"{len(self.requests)}\t{index}\t{sent.monotonic:.6f}\t"
                                    f"{sent.wall:.6f}\n")
        if not await self._send_event(connection, reply, event({}, reply.finish_reason)):
            return False
        if include_usage:
            usage = _sse({**base, "choices": [], "usage": self._usage(request, reply, pieces)})
            if not await self._send_event(connection, reply, usage):
                return False
        if reply.no_done:
            request._finish("no_done")
        elif not await self._send_event(connection, reply, b"data: [DONE]\n\n"):
            return False
        if not await connection.write(_http_chunk(b"")):
            return False
        return not closing

    async def _send_event(self, connection: _Connection, reply: Reply, data: bytes) -> bool:
        if reply.data_prefix != "data: " and data.startswith(b"data: "):
            data = reply.data_prefix.encode() + data[6:]
        if reply.line_ending != "\n":
            data = data.replace(b"\n", reply.line_ending.encode())
        if reply.split_utf8 and (halves := _split_inside_character(data)):
            # Two chunks with a pause between them reach the client as two reads.
            return (await connection.write(_http_chunk(halves[0]))
                    and await connection.sleep(0.02)
                    and await connection.write(_http_chunk(halves[1])))
        return await connection.write(_http_chunk(data))

    async def _stall(self, connection: _Connection, reply: Reply) -> bool:
        """Send nothing (but keep-alive comments) for a while; False when the client left."""
        if reply.release is not None:
            return await self._released(connection, reply.release)
        deadline = None if reply.stall_seconds is None else time.monotonic() + reply.stall_seconds
        while deadline is None or time.monotonic() < deadline:
            left = 3600.0 if deadline is None else deadline - time.monotonic()
            step = min(left, reply.keepalive_every or left)
            if not await connection.sleep(step):
                return False
            if reply.keepalive_every and (deadline is None or time.monotonic() < deadline):
                if not await connection.write(_http_chunk(b": keep-alive\n\n")):
                    return False
        return True


    @staticmethod
    async def _released(connection: _Connection, release: asyncio.Event) -> bool:
        """Wait until the test sets `release`; False when the client left first."""
        released = asyncio.ensure_future(release.wait())
        gone = asyncio.ensure_future(connection.gone.wait())
        await asyncio.wait({released, gone}, return_when=asyncio.FIRST_COMPLETED)
        released.cancel()
        gone.cancel()
        return not connection.gone.is_set()


class RunningFakeOpenAI:
    """A FakeOpenAI serving from a daemon thread. `stop()` (or leaving `with`) ends it."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"fake server did not start: {self._error}")

    @property
    def url(self) -> str:
        return self.fake.url

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            await self.fake.start()
        except BaseException as error:
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            await self.fake.stop()

    def release(self, event: asyncio.Event) -> None:
        """Set a reply's `release` event from the test's thread (the server's loop owns it)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(event.set)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stopped is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout)

    def __enter__(self) -> RunningFakeOpenAI:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def _serve_until_told(fake: FakeOpenAI) -> None:
    """Serve until SIGTERM/SIGINT, or until the parent process is gone (so no orphan lingers)."""
    await fake.start()
    print(fake.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await stop.wait()
    await fake.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--text", help="answer text")
    parser.add_argument("--text-file", type=Path, help="read the answer text from this file")
    parser.add_argument("--chunks-file", type=Path,
                        help="a JSON list of strings: the answer's chunks exactly as given")
    parser.add_argument("--send-log", type=Path,
                        help="log each content chunk's send time (monotonic and wall) here")
    parser.add_argument("--chunks-per-second", type=float, default=0.0,
                        help="0 sends as fast as possible")
    parser.add_argument("--chunk-size", type=int, help="characters per chunk (default: words)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated model ids")
    args = parser.parse_args(argv)
    text = DEFAULT_TEXT
    if args.text_file is not None:
        text = args.text_file.read_text(encoding="utf-8")
    elif args.text is not None:
        text = args.text
    chunks = None
    if args.chunks_file is not None:
        chunks = json.loads(args.chunks_file.read_text(encoding="utf-8"))
    fake = FakeOpenAI(default=Reply(delay=args.delay, chunks=chunks), text=text,
                      chunk_size=args.chunk_size, chunks_per_second=args.chunks_per_second,
                      models=[m for m in args.models.split(",") if m],
                      host=args.host, port=args.port)
    if args.send_log is None:
        asyncio.run(_serve_until_told(fake))
        return 0
    with args.send_log.open("w", encoding="utf-8") as log:
        fake.send_log = log
        asyncio.run(_serve_until_told(fake))
    return 0


if __name__ == "__main__":
    sys.exit(main())
