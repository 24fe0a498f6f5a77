"""`tui-chat serve`: the classic chat SSE backend (`POST /api/chat/stream`) over our providers.

Clients send `{"message", "conversationHistory"}` and get Server-Sent Events:
`data: {"content": …}` per chunk, then `data: {"done": true, "usage": {…}}`, or
`data: {"error": …}` when the upstream fails. A reasoning model's thinking comes first as
`data: {"reasoning": …}` events (with `"retracts_content": true` when content already sent turns
out to have been reasoning): every event already said what it is by its keys, so a client that
reads only `content` keeps working. The upstream key never leaves this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import sys
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import orjson

from tui_chat.command_line import (
    fail,
    relay_provider,
    settings_for_relay,
    settings_from_args,
    setup_logging,
    subcommand_options,
)
from tui_chat.config import ConfigError
from tui_chat.context_window import estimate_tokens
from tui_chat.models import (
    AuthFailed,
    BadResponse,
    ContextTooLong,
    Delta,
    Finished,
    Message,
    ModelNotFound,
    NoApiKey,
    ProviderError,
    RateLimited,
    ReasoningDelta,
    RequestParams,
    ServerError,
    StreamBroken,
    StreamStalled,
    Unreachable,
    Usage,
)
from tui_chat.models import BadRequest as BadRequest_
from tui_chat.providers.relay import leading_status
from tui_chat.urls import shown_url

if TYPE_CHECKING:
    from aiohttp import web

    from tui_chat.config import Settings
    from tui_chat.providers.base import Provider

log = logging.getLogger(__name__)

TOKEN_ENV = "TUI_CHAT_RELAY_TOKEN"
MAX_BODY = 1_000_000
BACKLOG = 4096
"""Connections the kernel queues before the relay accepts them (aiohttp's default is 128; the
kernel caps it at net.core.somaxconn). When many clients connect at once, the ones past a full
queue wait for a SYN retry: 1 s, then 3 s, then 7 s."""
GC_THRESHOLD = (20_000, 10, 10)
"""The collector's thresholds in a relay process (Python's default is 700 allocations between
young collections). A relay allocates a few objects per event, and with 1,000 streams open the
default ran ~300 collections in a 7 s round at 1,000 streams, a sixth of the relay's CPU
(measured with `gc.callbacks`; `benchmarks/relay_load.py`); at 20,000 about 10."""
_ROLES = ("user", "assistant", "system")
DISCONNECT_POLL = 0.1
"""Seconds between checks that a streaming client is still there while the upstream is silent:
aiohttp does not cancel handlers when a client goes (unless the server is told to), and a silent
upstream gives no write that would fail."""


class BadRequest(Exception):
    """The request cannot be served; `str(error)` is the one sentence sent back, with `status`
    (400, or 413 for a body over the limit)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_chat_request(raw: bytes, max_body: int = MAX_BODY) -> tuple[str, list[Message]]:
    """Validate a chat request body. Raises BadRequest with one clear sentence."""
    if len(raw) > max_body:
        raise too_large(max_body)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    message = body.get("message")
    if not isinstance(message, str):
        raise BadRequest("'message' must be a string.")
    if not message.strip():
        raise BadRequest("'message' must not be empty.")
    history_raw = body.get("conversationHistory", [])
    if not isinstance(history_raw, list):
        raise BadRequest("'conversationHistory' must be a list of {role, content} objects.")
    history: list[Message] = []
    for index, item in enumerate(history_raw):
        if not (isinstance(item, dict) and item.get("role") in _ROLES
                and isinstance(item.get("content"), str)):
            raise BadRequest(f"'conversationHistory' item {index} must be {{role: user|"
                             "assistant|system, content: string}}.")
        history.append(Message(item["role"], item["content"]))
    return message, history


def too_large(max_body: int) -> BadRequest:
    return BadRequest(f"The request body is larger than {max_body:,} bytes.", 413)


def _event(data: dict[str, Any]) -> bytes:
    # UTF-8, not \\u escapes: any client that decodes UTF-8 sees the text as sent.
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _content_event(text: str) -> bytes:
    """`_event({"content": text})`, byte for byte (orjson escapes a string as `json.dumps`
    with `ensure_ascii=False` does), at a tenth of the cost: one of these per event relayed."""
    try:
        return b'data: {"content": ' + orjson.dumps(text) + b"}\n\n"
    except TypeError:  # a lone surrogate: what json makes of it
        return _event({"content": text})


def _usage(usage: Usage | None, prompt: Sequence[Message], answer: str) -> dict[str, Any]:
    """The usage object every answer carries (clients read `usage.total_tokens`): the upstream's
    counts, or our estimate, marked `"estimated": true`, when it gave none or only zeros."""
    if usage is not None and usage.total_tokens > 0:
        return {"prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens}
    prompt_tokens = sum(estimate_tokens(m.content) for m in prompt)
    completion_tokens = estimate_tokens(answer)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens, "estimated": True}


_CATEGORIES: tuple[tuple[type[ProviderError], str, int | None], ...] = (
    (NoApiKey, "the relay has no API key for the upstream", None),
    (AuthFailed, "upstream rejected the API key", 401),
    (RateLimited, "upstream rate limit reached", 429),
    (ModelNotFound, "upstream does not know the model", 404),
    (ContextTooLong, "the conversation is too long for the model", 400),
    (BadRequest_, "upstream refused the request", 400),
    (ServerError, "upstream error", None),
    (StreamStalled, "upstream stopped sending", None),
    (StreamBroken, "upstream connection dropped mid-answer", None),
    (Unreachable, "upstream unavailable", None),
    (BadResponse, "upstream sent a malformed answer", None),
)


def public_error(error: ProviderError) -> tuple[str, int | None]:
    """A short category and the upstream's HTTP status (when there was one) for a remote
    client. The full message (the upstream's address, hints meant for the operator) is for
    the server's log only."""
    category, default = next(((name, status) for kind, name, status in _CATEGORIES
                              if isinstance(error, kind)), ("upstream request failed", None))
    status = leading_status(str(error)) or getattr(error, "status", None) or default
    return (f"{category} ({status})" if status else category), status


def _error_event(error: ProviderError) -> bytes:
    log.warning("upstream request failed: %s", error)
    message, status = public_error(error)
    return _event({"error": message, "status": status} if status else {"error": message})


class Relay:
    """The request handlers, bound to one upstream provider and the settings."""

    def __init__(self, settings: Settings, provider: Provider, *, token: str | None,
                 cors_origins: Sequence[str], heartbeat: float, max_body: int) -> None:
        self.settings = settings
        self.provider = provider
        self.token = token
        self.cors_origins = tuple(cors_origins)
        self.heartbeat = heartbeat
        self.max_body = max_body

    def messages_for(self, message: str, history: list[Message]) -> list[Message]:
        system = self.settings.system
        has_system = any(m.role == "system" for m in history)
        start = [Message("system", system)] if system and not has_system else []
        return [*start, *history, Message("user", message)]

    def params(self, stream: bool) -> RequestParams:
        s = self.settings
        return RequestParams(s.model, temperature=s.temperature, max_tokens=s.max_tokens,
                             stream=stream)

    async def events(self, messages: list[Message]) -> AsyncGenerator[bytes, None]:
        """The SSE body for one request; closing it closes the upstream request."""
        usage: Usage | None = None
        parts: list[str] = []
        try:
            async with aclosing(self.provider.stream(messages, self.params(True))) as stream:
                async for event in stream:
                    match event:
                        case Delta(text=text):
                            parts.append(text)
                            yield _content_event(text)
                        case ReasoningDelta(text=text, retracts_answer=retracts):
                            # Counted in the estimate (the model was paid to write it), and
                            # never mixed into the content of clients that show only that.
                            parts.append(text)
                            yield _event({"reasoning": text, "retracts_content": True}
                                         if retracts else {"reasoning": text})
                        case Usage():
                            usage = event
                        case Finished():
                            pass
        except ProviderError as error:
            yield _error_event(error)
            return
        yield _event({"done": True, "usage": _usage(usage, messages, "".join(parts)),
                      "model": self.settings.model})


def make_relay_app(settings: Settings, provider: Provider, *, token: str | None = None,
                   cors_origins: Sequence[str] = (), heartbeat: float = 15.0,
                   max_body: int = MAX_BODY) -> web.Application:
    """The aiohttp application (tests run it on 127.0.0.1)."""
    from aiohttp import web

    relay = Relay(settings, provider, token=token, cors_origins=cors_origins,
                  heartbeat=heartbeat, max_body=max_body)
    watch = _StreamWatch(heartbeat)

    def fail(status: int, message: str) -> web.Response:
        return web.json_response({"success": False, "error": message}, status=status,
                                 dumps=lambda d: json.dumps(d, ensure_ascii=False))

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        # Browsers send "simple" cross-site requests (a form, sendBeacon, a no-cors fetch with
        # text/plain) without a preflight, so CORS headers alone do not stop a page on another
        # site from making this relay spend the operator's tokens. Every check here runs
        # before any upstream call.
        origin = request.headers.get("Origin")
        allowed = origin is not None and origin in relay.cors_origins
        if origin is not None and not allowed:
            response: web.StreamResponse = fail(
                403, "Requests from this origin are not allowed (see serve --cors-origin).")
        elif request.method == "OPTIONS" and allowed:
            response = web.Response(status=204)
        elif relay.token is not None and not hmac.compare_digest(
                # surrogateescape: header bytes that are not UTF-8 must fail the check, not 500
                request.headers.get("Authorization", "").encode("utf-8", "surrogateescape"),
                f"Bearer {relay.token}".encode()):
            response = fail(401, "A valid bearer token is required.")
        elif request.method == "POST" and request.content_type != "application/json":
            response = fail(415, "The request body must be sent as application/json.")
        else:
            response = await handler(request)
        if allowed and not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = origin or ""
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Vary"] = "Origin"
        return response

    async def read(request: web.Request) -> tuple[str, list[Message]]:
        if request.content_length is not None and request.content_length > relay.max_body:
            raise too_large(relay.max_body)
        # content.read(n) returns what has arrived so far, not n bytes: gather the whole body
        # (Content-Length or chunked), stopping as soon as it is over the limit.
        raw = bytearray()
        async for piece in request.content.iter_any():
            raw += piece
            if len(raw) > relay.max_body:
                break
        return parse_chat_request(bytes(raw), relay.max_body)

    async def stream(request: web.Request) -> web.StreamResponse:
        try:
            message, history = await read(request)
        except BadRequest as error:
            return fail(error.status, str(error))
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        })
        if request.headers.get("Origin") in relay.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
            response.headers["Vary"] = "Origin"
        await response.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        stream = _OpenStream(task, request, response, asyncio.get_running_loop().time())
        watch.add(stream)
        try:
            # The events are written as they come: no queue and no task between the upstream
            # and the client, and a client that reads slowly slows the upstream read down
            # (aiohttp's write waits when the socket's buffer is full) instead of piling the
            # answer up in memory. The watch sends heartbeats and notices a client gone.
            try:
                async with aclosing(relay.events(relay.messages_for(message, history))) as body:
                    async for chunk in body:
                        await response.write(chunk)
                        stream.last_write = stream.loop.time()
            except (asyncio.CancelledError, ConnectionError):
                raise
            except Exception:
                # events() turns provider failures into an error event; anything else is a bug.
                log.exception("relay stream failed")
                await response.write(_event({"error": "The relay failed while streaming."}))
            await stream.settle()
            await response.write_eof()
            return response
        except asyncio.CancelledError:
            if not stream.cancelled_by_watch:
                raise  # the server is stopping, or aiohttp cancels handlers itself
            task.uncancel()
        except ConnectionError:
            pass  # the client went away between our check and the write
        finally:
            # Leaving the `async with` above closed the upstream request at once.
            watch.discard(stream)
        log.info("client went away; upstream request cancelled")
        return response

    async def chat(request: web.Request) -> web.Response:
        try:
            message, history = await read(request)
        except BadRequest as error:
            return fail(error.status, str(error))
        parts: list[str] = []
        thinking: list[str] = []
        usage: Usage | None = None
        messages = relay.messages_for(message, history)
        try:
            async with aclosing(relay.provider.stream(messages, relay.params(False))) as events:
                async for event in events:
                    if isinstance(event, Delta):
                        parts.append(event.text)
                    elif isinstance(event, ReasoningDelta):
                        if event.retracts_answer:
                            thinking += parts
                            parts.clear()
                        thinking.append(event.text)
                    elif isinstance(event, Usage):
                        usage = event
        except ProviderError as error:
            log.warning("upstream request failed: %s", error)
            return fail(502, public_error(error)[0])
        content = "".join(parts)
        reasoning = "".join(thinking)
        data: dict[str, Any] = {"content": content, "model": relay.settings.model,
                                "usage": _usage(usage, messages, reasoning + content)}
        if reasoning:
            data["reasoning"] = reasoning
        return web.json_response({"success": True, "data": data},
                                 dumps=lambda d: json.dumps(d, ensure_ascii=False))

    async def health(request: web.Request) -> web.Response:
        # The model lets a client show and store what answers it (`--relay`).
        return web.json_response({"status": "ok", "model": relay.settings.model},
                                 dumps=lambda d: json.dumps(d, ensure_ascii=False))

    async def preflight(request: web.Request) -> web.Response:
        return web.Response(status=204)  # the guard adds CORS headers for allowed origins

    app = web.Application(middlewares=[guard], client_max_size=max_body + 1024)
    app.router.add_post("/api/chat/stream", stream)
    app.router.add_post("/api/chat", chat)
    app.router.add_get("/api/health", health)
    app.router.add_route("OPTIONS", "/{tail:.*}", preflight)

    async def close_provider(_: web.Application) -> None:
        await provider.aclose()

    app.on_cleanup.append(close_provider)
    return app


def ready_for_many_streams() -> None:
    """Ready this process to hold many streams at once, once it has built its app.

    - Open files: every stream holds two sockets (the client's and the upstream's), and a
      soft limit of 1,024 (common) would refuse connections past ~500 streams while the hard
      limit allows far more: the soft limit is raised to the hard one, as servers do.
    - Garbage collection: what start-up built (the SDK's models, modules) is moved out of the
      collector's way (`gc.freeze`), and young collections run every `GC_THRESHOLD[0]`
      allocations instead of 700.
    """
    import gc

    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError) as error:  # no such limit here, or refused
        log.debug("open-file limit left as it is: %s", error)
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class _OpenStream:
    """One streaming response, as the watch sees it."""

    __slots__ = ("beat", "cancelled_by_watch", "last_write", "loop", "request", "response",
                 "task")

    def __init__(self, task: asyncio.Task[Any], request: web.Request,
                 response: web.StreamResponse, now: float) -> None:
        self.task = task
        self.request = request
        self.response = response
        self.loop = asyncio.get_running_loop()
        self.last_write = now
        self.beat: asyncio.Future[None] | None = None
        self.cancelled_by_watch = False

    async def settle(self) -> None:
        """Wait for a heartbeat being written (the end of the body must come after it)."""
        if self.beat is not None:
            with contextlib.suppress(ConnectionError):
                await self.beat


class _StreamWatch:
    """Heartbeats and disconnects for all of an app's open streams, from one timer.

    Every `DISCONNECT_POLL` seconds (or `heartbeat`, if shorter) while streams are open: a
    stream whose client has gone is cancelled (aiohttp does not cancel handlers when a client
    goes unless the server is told to, and a silent upstream gives no write that would fail),
    and one with nothing written for `heartbeat` seconds gets a comment line. One timer for a
    thousand streams costs less than a timer per event for each.
    """

    def __init__(self, heartbeat: float) -> None:
        self.heartbeat = heartbeat
        self.interval = min(DISCONNECT_POLL, heartbeat)
        self.streams: set[_OpenStream] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, stream: _OpenStream) -> None:
        self.streams.add(stream)
        if self._timer is None:
            self._timer = stream.loop.call_later(self.interval, self._check, stream.loop)

    def discard(self, stream: _OpenStream) -> None:
        self.streams.discard(stream)
        if stream.beat is not None and not stream.beat.done():
            stream.beat.cancel()

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        for stream in list(self.streams):
            if _client_gone(stream.request):
                self.streams.discard(stream)
                if not stream.task.done() and not stream.task.cancelling():
                    stream.cancelled_by_watch = True
                    stream.task.cancel()
            elif (now - stream.last_write >= self.heartbeat
                  and (stream.beat is None or stream.beat.done())):
                stream.last_write = now
                stream.beat = asyncio.ensure_future(_write_quietly(stream.response,
                                                                   b": heartbeat\n\n"))
        if self.streams:
            self._timer = loop.call_later(self.interval, self._check, loop)


async def _write_quietly(response: web.StreamResponse, data: bytes) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):  # gone, or ended
        await response.write(data)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_serve_parser(
    subparsers: Any,
    add_options: Callable[[argparse.ArgumentParser], None] = subcommand_options,
) -> None:
    """Add `serve` and its flags (with the shared options) to `subparsers`."""
    serve = subparsers.add_parser(
        "serve", help="run the chat relay (POST /api/chat/stream) over the configured endpoint",
        description="Serve POST /api/chat/stream (SSE), POST /api/chat and GET /api/health, "
                    "talking upstream with this machine's settings and key.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    serve.add_argument("--token", help=f"bearer token clients must send (or {TOKEN_ENV}); "
                                       "required when binding a non-loopback address")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="allow this browser origin, e.g. http://localhost:5173 (repeatable; "
                            "none by default: a request from any other origin gets 403)")
    serve.add_argument("--heartbeat", type=float, default=15.0, metavar="SECONDS",
                       help="comment line interval on idle streams (default 15)")
    serve.add_argument("--upstream-connections", type=int, metavar="N",
                       help="most connections each relay process opens to the upstream at "
                            "once; streams past it wait for one (default: no limit, one per "
                            "client stream)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="relay processes sharing the port (SO_REUSEPORT; default 1): "
                            "more clients at once, one per core at most")
    add_options(serve)
    serve.set_defaults(serve_command=True)


def serve_command(args: argparse.Namespace) -> int:
    """Run the relay until interrupted; errors are one line on stderr and a non-zero code."""
    try:
        settings = settings_for_relay(args, settings_from_args(args))
    except ConfigError as error:
        return fail(str(error))
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not _is_loopback(args.host) and token is None:
        return fail(f"binding {args.host} needs a bearer token: --token or {TOKEN_ENV}")
    if args.heartbeat <= 0:
        return fail("--heartbeat must be more than 0 seconds")
    if args.workers < 1:
        return fail("--workers must be 1 or more")
    if args.upstream_connections is not None and args.upstream_connections < 1:
        return fail("--upstream-connections must be 1 or more")
    from tui_chat.relay.workers import can_share_port

    if args.workers > 1 and not can_share_port():
        return fail("--workers needs SO_REUSEPORT, which this system does not have; "
                    "run one relay per port behind a reverse proxy instead")
    import importlib.util

    if importlib.util.find_spec("aiohttp") is None:
        return fail("`serve` needs aiohttp: pip install aiohttp")
    setup_logging()
    from tui_chat.local import EngineError, prepare

    engine = None
    try:
        if not getattr(args, "relay", None):
            settings, engine = prepare(settings)  # the local model, when it is wanted
        if engine is not None:
            from tui_chat.local.cli import wait_for_engine

            wait_for_engine(engine, sys.stderr)
        return _serve(args, settings, token)
    except EngineError as error:
        return fail(str(error))
    finally:
        if engine is not None:
            engine.stop()


def _serve(args: argparse.Namespace, settings: Settings, token: str | None) -> int:
    from aiohttp import web

    if args.workers > 1:
        from tui_chat.command_line import relay_token
        from tui_chat.relay.workers import WorkerPlan, run_workers

        plan = WorkerPlan(settings, args.relay or None, relay_token(args), token,
                          tuple(args.cors_origin), args.heartbeat, args.host, args.port,
                          upstream_connections(args.upstream_connections))
        upstream_shown = f"{shown_url(args.relay or settings.base_url)} ({settings.model})"
        return run_workers(plan, args.workers, lambda port: (
            f"tui-chat relay on http://{args.host}:{port} ({args.workers} workers) → "
            f"{upstream_shown}"))
    from tui_chat.providers import make_provider

    limit = upstream_connections(args.upstream_connections)
    upstream = (relay_provider(args, settings, max_connections=limit)
                or make_provider(settings, max_connections=limit))
    app = make_relay_app(settings, upstream, token=token,
                         cors_origins=args.cors_origin, heartbeat=args.heartbeat)
    banner = (f"tui-chat relay on http://{args.host}:{args.port} → "
              f"{shown_url(args.relay or settings.base_url)} ({settings.model})")
    ready_for_many_streams()
    try:
        # handler_cancellation: a client that goes cancels its handler, so /api/chat's
        # upstream request is closed at once too (streams also notice on their own).
        # run_app calls `print` only once it listens, so a failed bind shows no banner.
        web.run_app(app, host=args.host, port=args.port, access_log=None, backlog=BACKLOG,
                    handler_cancellation=True, print=lambda _: print(banner, flush=True))
    except BrokenPipeError:
        raise  # stdout's reader went away: quiet, as for every command (cli.main)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        return fail(f"cannot listen on {args.host}:{args.port}: {reason}")
    return 0


def upstream_connections(asked: int | None) -> int:
    """The upstream connection limit of each relay process: what `--upstream-connections`
    asked, else none. The SDK's own pool stops at 1,000 connections (aiohttp's, to another
    relay, at 100), and the streams past it would wait, silent, for one to be free: a relay
    needs one upstream connection per client stream it accepts."""
    from tui_chat.providers import NO_CONNECTION_LIMIT

    return asked or NO_CONNECTION_LIMIT


