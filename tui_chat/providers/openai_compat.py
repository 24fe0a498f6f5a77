"""The provider for OpenAI-compatible endpoints: the only module that imports the `openai` SDK.

It owns the wire and nothing else: one request per answer, the SDK's own retries off (the
session retries and shows the countdown), and every SDK or transport failure turned into one
of our `ProviderError`s with a single sanitized line that never holds the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import importlib
import ipaddress
import json
import re
import socket
import ssl
import time
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import aiohttp
import openai
import orjson
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tui_chat.attachments import data_url, has_images, message_text
from tui_chat.compat import sdk_hooks
from tui_chat.models import (
    AuthFailed,
    BadRequest,
    BadResponse,
    ConnectionRefused,
    ContextTooLong,
    Delta,
    Finished,
    ImagesNotSupported,
    Message,
    ModelNotFound,
    ProviderError,
    RateLimited,
    ReasoningDelta,
    RequestParams,
    ServerError,
    StreamBroken,
    StreamEvent,
    StreamStalled,
    Unreachable,
    Usage,
)
from tui_chat.providers.sse import BatchDecoder
from tui_chat.providers.think import ThinkSplitter
from tui_chat.sanitize import sanitize_line
from tui_chat.urls import split_credentials, url_password

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionContentPartParam, ChatCompletionMessageParam

MODELS_LISTED = 10
"""How many model ids a "model not found" error names."""
DETAIL_CHARS = 200
"""Longest server message quoted in an error line."""
MODELS_TIMEOUT = 5.0
"""Seconds the model listing behind a 404 may take before the error is shown without it."""

DEFAULT_HTTP_TRANSPORT = "aiohttp"
"""How the SDK talks HTTP (`http_transport` in the config, `TUI_CHAT_HTTP_TRANSPORT`). Both keep
the SDK's types, timeouts and errors: the aiohttp client is the SDK's own
(`openai.DefaultAioHttpClient`) behind its httpx interface, and streamed answers on it are sent
with aiohttp directly (`_DirectPost`: the same request, a third of the CPU to start one).
Measured with `benchmarks/transport_bench.py` (20,000 chunks, unthrottled): httpx over h11
makes one read per HTTP chunk (20,004 reads); aiohttp's C parser hands over what has arrived
(1,000-6,500 reads, fewer the busier the machine), and read straight from aiohttp with the reads
of a flood spaced 2 ms apart (`compat.sdk_hooks.aiohttp_reads`: 60-300 reads) it takes about a
third of httpx's CPU and keeps up with the server instead of ending seconds behind it."""


def _http_client(transport: str, timeout: openai.Timeout, max_connections: int | None) -> Any:
    """The SDK's HTTP client for `transport`; None lets the SDK build its default (httpx).

    `max_connections` None keeps the SDK's pool limit (1,000 connections at once: requests
    past it wait for one to be free, up to the timeout); a number replaces it.
    """
    limits: dict[str, Any] = {}
    if max_connections is not None:
        default = openai.DEFAULT_CONNECTION_LIMITS
        limits["limits"] = type(default)(
            max_connections=max_connections, keepalive_expiry=default.keepalive_expiry,
            max_keepalive_connections=min(max_connections,
                                          default.max_keepalive_connections or max_connections))
    if transport == "aiohttp":
        return openai.DefaultAioHttpClient(timeout=timeout, **limits)
    if transport != "httpx":
        raise ValueError(f"unknown HTTP transport {transport!r}")
    return openai.DefaultAsyncHttpxClient(timeout=timeout, **limits) if limits else None


_CLOSED_BY_SERVER = frozenset({
    "RemoteProtocolError",  # httpx (h11)
    "ServerDisconnectedError", "ClientPayloadError", "TransferEncodingError",  # aiohttp
    "ContentLengthError",
})
"""Transport errors that mean the server closed the connection before the response ended."""

_CONTEXT_PATTERN = re.compile(
    r"context[ _](length|window)|maximum context|too many tokens|prompt is too long"
    r"|reduce the length", re.IGNORECASE)
_MODEL_MISSING_PATTERN = re.compile(r"model.*(not found|does not exist|unknown)", re.IGNORECASE)
# What servers say when a request carries images and the model takes none (only looked for
# when the request did): llama.cpp without a projector ("image input is not supported", a 500;
# older builds: "Unsupported content part type"), OpenAI ("Invalid content type. image_url is
# only supported by certain models.", a 400), LM Studio ("Model does not support images"),
# DeepSeek and other strict parsers ("unknown variant `image_url`", a 422).
_NO_IMAGES_PATTERN = re.compile(
    r"image input is not supported|image_url is only supported|(does not|doesn't|do not)"
    r" support (images?|vision|image input)|unsupported content part type|unknown variant"
    r"[^a-z]*image_url|not a (multimodal|vision) model|(vision|multimodal|image input) is not"
    r" (supported|enabled)|images? (are|is) not supported|no vision", re.IGNORECASE)
_KEY_LIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*.]{6,}")
_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


@dataclass(slots=True)
class _Progress:
    """What one request has delivered so far, to tell "unreachable" from "broke mid-answer"."""

    connected: bool = False
    """The server answered with a status line (so it was reached)."""
    text: bool = False
    finish_reason: str | None = None
    images: bool = False
    """The request carried images (so a refusal may be "this model takes no images")."""


class OpenAICompatible:
    """Chat completions over the `openai` SDK, for OpenAI and any server that speaks its API.

    Args:
        base_url: The endpoint, up to and including `/v1`.
        api_key: Sent as the bearer token; never shown in errors.
        connect_timeout: Seconds to wait for the connection.
        stall_timeout: Seconds without a byte from the server before an answer is given up.
            SSE comment lines (keep-alives) are bytes, so they count as life.
        api_key_env: Name of the variable the key came from, for the "key rejected" hint.
        http_transport: "aiohttp" (the SDK's `DefaultAioHttpClient`) or "httpx" (the SDK's
            default, h11 underneath). See `HTTP_TRANSPORTS`.
        max_connections: Most connections open to the server at once; None keeps the SDK's
            limit (1,000); `providers.NO_CONNECTION_LIMIT` lifts it (a relay: one connection
            per client stream).
        direct: On the aiohttp transport, send streamed requests with aiohttp directly
            (`_DirectPost`) rather than through the SDK's request path; False keeps the SDK's.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = 10.0,
        stall_timeout: float = 60.0,
        api_key_env: str = "OPENAI_API_KEY",
        http_transport: str = DEFAULT_HTTP_TRANSPORT,
        max_connections: int | None = None,
        direct: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._api_key_env = api_key_env
        self._connect_timeout = connect_timeout
        self._stall_timeout = stall_timeout
        parsed = urlparse(self.base_url)
        # Shown in messages: without any user:password@ part the URL might carry.
        self._host = parsed.hostname or self.base_url
        if parsed.port:
            self._host = f"{self._host}:{parsed.port}"
        self._shown_url = f"{parsed.scheme}://{self._host}{parsed.path}"
        self._send_stream_options = True
        """Cleared after a server rejects `stream_options`, so it is asked once, not each time."""
        timeout = openai.Timeout(stall_timeout, connect=connect_timeout)
        self.http_transport = http_transport
        # A `user:password@` in the URL (basic auth at a proxy) becomes the Authorization
        # header, as httpx makes it on its own; aiohttp refuses such a URL next to a header.
        client_url, basic_auth = split_credentials(self.base_url)
        self._url_password = url_password(self.base_url)
        self._client = openai.AsyncOpenAI(
            base_url=client_url,
            api_key=api_key,
            max_retries=0,
            timeout=timeout,
            http_client=_http_client(http_transport, timeout, max_connections),
            default_headers={"Authorization": basic_auth} if basic_auth else None,
        )
        # The SDK imports its chat resources (and builds their pydantic models) on first
        # touch: about 0.14 s (py-spy, this machine). Touched here, that happens where the
        # provider is built (in a thread while the first prompt is typed), not when the first
        # answer starts.
        _ = self._client.chat.completions
        sdk_hooks.warm_up_transport()  # and the transport's event-loop backend
        sdk_hooks.resolve_platform(self._client)  # and the platform for its headers
        self._direct = (_DirectPost.for_client(self._client, client_url,
                                               "" if basic_auth else api_key, timeout,
                                               max_connections)
                        if direct and http_transport == "aiohttp" else None)

    async def stream(
        self, messages: Sequence[Message], params: RequestParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """Send the conversation and yield the answer as it arrives.

        Raises:
            ProviderError: a subclass saying what went wrong, after any text already yielded.
        """
        wire = [_to_wire(message) for message in messages]
        progress = _Progress(images=has_images(messages))
        events = (self._streamed(wire, params, progress) if params.stream
                  else self._completed(wire, params, progress))
        try:
            # aclosing: closing this generator must close the inner one (and its response) now,
            # not whenever the garbage collector gets to it.
            async with aclosing(events) as inner:
                async for event in inner:
                    yield event
        except (openai.OpenAIError, json.JSONDecodeError, UnicodeDecodeError) as error:
            # `from None`: the SDK's exception may quote the server, and the server may quote
            # the key; a logged traceback must not carry it.
            if progress.images and (refused := self._images_refused(error, params)):
                raise refused from None
            raise await self._translate(error, params, progress) from None

    async def _streamed(
        self, wire: list[ChatCompletionMessageParam], params: RequestParams, progress: _Progress
    ) -> AsyncGenerator[StreamEvent, None]:
        try:
            response = await self._post_stream(wire, self._options(params,
                                                                   self._send_stream_options))
        except openai.APIStatusError as error:
            # Some servers refuse fields they do not know; usage is worth one more try, not more.
            if not (error.status_code in (400, 422) and self._send_stream_options
                    and "stream_options" in _server_detail(error)):
                raise
            self._send_stream_options = False
            response = await self._post_stream(wire, self._options(params, False))
        progress.connected = True
        pieces = _Pieces()
        async with response:  # closes the connection on cancel or close, not only at the end
            try:
                async for batch in _chunk_batches(response):
                    # The text of one read is passed on as one piece (of each kind, in order):
                    # the app's work per piece is then per read, not per chunk, when a fast
                    # server floods in.
                    for event in pieces.batch(batch, progress):
                        yield event
                for event in pieces.close():
                    yield event
            except openai.APIConnectionError:
                # A drop after finish_reason only loses the usage report and [DONE].
                if progress.finish_reason is None:
                    raise
        if progress.finish_reason is None:
            raise StreamBroken(
                f"the answer from {self._host} stopped before the server finished it")
        yield Finished(progress.finish_reason)

    async def _post_stream(self, wire: list[ChatCompletionMessageParam],
                           options: dict[str, Any]) -> Any:
        """`chat.completions.create(stream=True)` without its pass over the parameters:
        straight over aiohttp (`_DirectStream`) where `_DirectPost` applies, else through the
        SDK (an `openai.AsyncStream`).

        `create` runs every request's parameters through the SDK's type-driven transform
        (aliases, dates, files: none of which our plain JSON messages hold), about a third of
        the SDK's CPU for a request (py-spy, a relay starting 1,000 streams). The client's
        public `post` sends the same body to the same path with the same options, and gives
        the same typed stream and errors.
        """
        if self._direct is not None:
            return await self._direct.post({"messages": wire, "stream": True, **options})
        return await self._client.post(
            "/chat/completions", body={"messages": wire, "stream": True, **options},
            # As create() asks: the API key only (post's default would also allow the SDK to
            # fall back to an admin key from the environment).
            options={"security": {"bearer_auth": True}},
            cast_to=ChatCompletion, stream=True,
            stream_cls=openai.AsyncStream[ChatCompletionChunk])

    async def _completed(
        self, wire: list[ChatCompletionMessageParam], params: RequestParams, progress: _Progress
    ) -> AsyncGenerator[StreamEvent, None]:
        completion = await self._client.chat.completions.create(
            messages=wire, stream=False, **self._options(params, False))
        choices = getattr(completion, "choices", None) or []
        if not choices:
            raise BadResponse(f"{self._host} sent an answer with no choices")
        message = choices[0].message
        pieces = _Pieces()
        reasoning = _reasoning_of(message.model_dump() if hasattr(message, "model_dump") else {})
        if reasoning:
            pieces.add("reasoning", reasoning)
        pieces.content(getattr(message, "content", None) or "")
        for event in [*pieces.flush(), *pieces.close()]:
            progress.text = True
            yield event
        usage = getattr(completion, "usage", None)
        if usage is not None:
            yield Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0)
        yield Finished(choices[0].finish_reason or "stop")

    @staticmethod
    def _options(params: RequestParams, stream_options: bool) -> dict[str, Any]:
        options: dict[str, Any] = {"model": params.model}
        if stream_options:
            options["stream_options"] = {"include_usage": True}
        if params.temperature is not None:
            options["temperature"] = params.temperature
        if params.max_tokens is not None:
            options["max_tokens"] = params.max_tokens
        return options

    async def list_models(self) -> list[str]:
        """Model ids the endpoint offers, sorted; an empty list when it cannot say."""
        try:
            async with asyncio.timeout(self._connect_timeout + MODELS_TIMEOUT):
                page = await self._client.models.list()
            ids = {sanitize_line(getattr(model, "id", None) or "") for model in page.data}
        except Exception:  # a listing is a nicety: any failure just means "don't know"
            return []
        return sorted(model_id for model_id in ids if model_id)

    async def aclose(self) -> None:
        if self._direct is not None:
            await self._direct.aclose()
        await self._client.close()

    # -- errors -------------------------------------------------------------------------------

    def _images_refused(
        self, error: Exception, params: RequestParams
    ) -> ImagesNotSupported | None:
        """The server's refusal of the request's images, whatever status it came with
        (llama.cpp says it with a 500, which must not be retried as a server fault)."""
        if not isinstance(error, openai.APIStatusError):
            return None
        detail = self._redact(_server_detail(error))
        if not _NO_IMAGES_PATTERN.search(detail):
            return None
        return ImagesNotSupported(
            f"{error.status_code}: {sanitize_line(params.model)} at {self._host} takes no "
            f"images ({detail}); choose a model that does and retry, or remove the image")

    async def _translate(
        self, error: Exception, params: RequestParams, progress: _Progress
    ) -> ProviderError:
        if isinstance(error, json.JSONDecodeError):
            what = "event" if params.stream else "response"
            return BadResponse(f"the server sent a malformed {what} ({self._host})")
        if isinstance(error, UnicodeDecodeError):
            return BadResponse(f"the server sent text that is not UTF-8 ({self._host})")
        if isinstance(error, openai.APIConnectionError):  # timeouts included
            reason = self._reason(error)
            if progress.text and isinstance(error, openai.APITimeoutError):
                return StreamStalled(f"stalled: no data from {self._host} for "
                                     f"{self._stall_timeout:g} s; the answer is incomplete")
            if progress.text:
                return StreamBroken(f"the connection to {self._host} dropped mid-answer: {reason}")
            if progress.connected:
                return Unreachable(f"no answer from {self._shown_url}: {reason}")
            if reason == "connection refused":
                local = is_loopback(urlparse(self.base_url).hostname or "")
                hint = ("; is the server running? Point tui-chat at another one with --base-url "
                        "or a profile (--profile NAME, or the palette)") if local else ""
                return ConnectionRefused(f"cannot reach {self._shown_url}: {reason}{hint}",
                                         local=local)
            return Unreachable(f"cannot reach {self._shown_url}: {reason}")
        if isinstance(error, openai.APIStatusError):
            return await self._status_error(error, params)
        if isinstance(error, openai.APIResponseValidationError):
            return BadResponse(f"{self._host} sent a response that is not the OpenAI format")
        detail = self._redact(_server_detail(error)) if isinstance(error, openai.APIError) else ""
        if isinstance(error, openai.APIError) and detail:  # an error event inside the stream
            if progress.text:
                return StreamBroken(f"{self._host} reported an error mid-answer: {detail}")
            return ServerError(f"{self._host} reported an error: {detail}")
        return BadResponse(f"unexpected reply from {self._host} ({type(error).__name__})")

    async def _status_error(
        self, error: openai.APIStatusError, params: RequestParams
    ) -> ProviderError:
        status = error.status_code
        detail = self._redact(_server_detail(error))
        code = str(getattr(error, "code", None) or "")
        suffix = f": {detail}" if detail else ""
        if status == 401:
            return AuthFailed(f"401: API key rejected by {self._host}; set {self._api_key_env} "
                              "or api_key_env in the config")
        if status == 403:
            return AuthFailed(f"403: access denied by {self._host}{suffix}; check "
                              f"{self._api_key_env} or api_key_env in the config")
        if status == 404 or code == "model_not_found" or (
                status in (400, 422) and _MODEL_MISSING_PATTERN.search(detail)):
            return await self._model_not_found(params.model, status, detail,
                                               spoke_api=isinstance(error.body, Mapping))
        if (overflow := _context_overflow(error)) is not None:
            return overflow
        if status in (400, 413, 422) and (code == "context_length_exceeded"
                                          or _CONTEXT_PATTERN.search(detail)):
            return ContextTooLong(f"{status}: the conversation is too long for "
                                  f"{sanitize_line(params.model)}{suffix}")
        if status == 429:
            return RateLimited(_retry_after(error.response.headers), detail)
        if status >= 500:
            return ServerError(f"{status}: server error at {self._host}{suffix}", status=status,
                               retry_after=_retry_after(error.response.headers))
        return BadRequest(f"{status}: {self._host} refused the request{suffix}")

    async def _model_not_found(
        self, model: str, status: int, detail: str, *, spoke_api: bool
    ) -> ModelNotFound:
        shown = sanitize_line(model)
        available = await self.list_models()
        if not spoke_api and not available:  # a plain 404 page: most likely a wrong path
            return ModelNotFound(f"{status}: no chat endpoint at {self._shown_url}"
                                 "/chat/completions; check base_url (it usually ends in /v1)")
        if not available or model in available:
            suffix = f": {detail}" if detail else ""
            return ModelNotFound(f"{status}: model '{shown}' not found at {self._host}{suffix}")
        listed = ", ".join(available[:MODELS_LISTED])
        more = len(available) - MODELS_LISTED
        if more > 0:
            listed += f" and {more} more"
        return ModelNotFound(f"{status}: model '{shown}' not found at {self._host}; "
                             f"available: {listed}")

    def _reason(self, error: BaseException) -> str:
        """Why a connection failed, in a few words, from the transport error under the SDK's."""
        causes = list(_causes(error))
        # What the system said first, then what the transport said: the aiohttp transport
        # files a refused connection or an unknown host under the SDK's connect timeout.
        for cause in causes:
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            if isinstance(cause, socket.gaierror):
                return f"host name {self._host.rsplit(':', 1)[0]} not found"
            if isinstance(cause, ssl.SSLCertVerificationError):
                return "TLS certificate not trusted"
            if isinstance(cause, ssl.SSLError):
                return f"TLS error ({cause.reason or 'handshake failed'})"
            if isinstance(cause, ConnectionResetError):
                return "connection reset by the server"
        innermost = error
        for cause in causes:
            innermost = cause
            name = type(cause).__name__
            if name in ("ConnectTimeout", "ConnectionTimeoutError"):
                return f"no connection within {self._connect_timeout:g} s"
            if name in ("ReadTimeout", "WriteTimeout", "SocketTimeoutError"):
                return f"no answer within {self._stall_timeout:g} s"
            if name == "PoolTimeout":
                return "too many requests already open"
            if name in _CLOSED_BY_SERVER:
                return "the server closed the connection"
        return self._redact(str(innermost)) or type(innermost).__name__

    def _redact(self, text: str) -> str:
        """One sanitized, shortened line with the key (and anything key-shaped) blotted out."""
        if self._api_key and len(self._api_key) >= 4:
            text = text.replace(self._api_key, "[key hidden]")
        if len(self._url_password) >= 4:
            text = text.replace(self._url_password, "[password hidden]")
        text = _KEY_LIKE.sub("[key hidden]", text)
        text = _SPACES.sub(" ", sanitize_line(text)).strip()
        if len(text) > DETAIL_CHARS:
            text = text[: DETAIL_CHARS - 1].rstrip() + "…"
        return text


_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError, 401: openai.AuthenticationError,
    403: openai.PermissionDeniedError, 404: openai.NotFoundError, 409: openai.ConflictError,
    422: openai.UnprocessableEntityError, 429: openai.RateLimitError,
}
"""The SDK's error class for each status, as its client picks them (5xx: InternalServerError)."""


class _DirectPost:
    """Streamed chat requests sent with aiohttp itself, as the SDK's aiohttp transport sends
    them, without the SDK's request path in between.

    Through the SDK, each request builds its options (a pydantic model), its headers, an
    httpx request and URL, then passes httpx's auth, redirect and transport layers and the
    aiohttp adapter before aiohttp sends it: about 0.9 ms of CPU per stream set up against
    0.37 ms for aiohttp alone (500 streams at once, this machine), most of what a relay
    spends on a new client. Here the headers (the SDK's own `default_headers`, worked out
    once), the URL and the timeouts are built once; the body is encoded with orjson; the
    connection pool is aiohttp's, sized and configured as the SDK's transport sizes its own
    (limit, keep-alive, TLS context from the SDK's httpx). What the caller sees is the SDK's:
    its status error classes (with the status, body and headers) and its connection and
    timeout errors. When a proxy is configured for the endpoint (the SDK's transport honours
    the proxy variables) the SDK's path is used instead (`for_client` gives None).
    """

    def __init__(self, url: str, headers: dict[str, str], timeout: aiohttp.ClientTimeout,
                 limit: int, keepalive: float | None, ssl_context: ssl.SSLContext | None,
                 httpx: Any) -> None:
        self.url = url
        self.headers = headers
        self.timeout = timeout
        self.limit = limit
        self.keepalive = keepalive
        self.ssl_context = ssl_context
        self.httpx = httpx
        self.request = httpx.Request("POST", url)
        """What the SDK's errors carry as their request (the same for every stream)."""
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_client(cls, client: openai.AsyncOpenAI, base_url: str, api_key: str,
                   timeout: openai.Timeout, max_connections: int | None) -> _DirectPost | None:
        parsed = urlparse(base_url)
        host = parsed.hostname or ""
        proxies = urllib.request.getproxies_environment()
        if ((parsed.scheme in proxies or "all" in proxies)
                and not urllib.request.proxy_bypass(host)):
            return None
        limits = openai.DEFAULT_CONNECTION_LIMITS
        httpx = importlib.import_module(type(limits).__module__.partition(".")[0])
        ssl_context = None
        if parsed.scheme == "https":
            create = getattr(httpx, "create_ssl_context", None)
            if create is None:
                return None
            ssl_context = create(verify=True, cert=None, trust_env=True)
        headers = {name: value for name, value in client.default_headers.items()
                   if isinstance(value, str)}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        headers["X-Stainless-Retry-Count"] = "0"
        headers["X-Stainless-Read-Timeout"] = str(timeout.read)
        # As the SDK's aiohttp adapter maps httpx's timeouts: `pool` bounds the wait for a
        # pooled connection and the connect, `connect` the connect, `read` each read.
        client_timeout = aiohttp.ClientTimeout(total=None, connect=timeout.pool,
                                               sock_connect=timeout.connect,
                                               sock_read=timeout.read)
        return cls(f"{base_url}/chat/completions", headers, client_timeout,
                   max_connections or limits.max_connections or 0, limits.keepalive_expiry,
                   ssl_context, httpx)

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._loop is not loop:
            self._loop = loop
            connector = aiohttp.TCPConnector(
                limit=self.limit, keepalive_timeout=self.keepalive,
                ssl=self.ssl_context if self.ssl_context is not None else True)
            session = self._session = aiohttp.ClientSession(connector=connector,
                                                            timeout=self.timeout)
        return session

    async def post(self, body: dict[str, Any]) -> _DirectStream:
        """Send `body`; the open stream, or the SDK's error for a status or a failure."""
        try:
            data = orjson.dumps(body)
        except TypeError:  # text orjson refuses (a lone surrogate): as the SDK would send it
            data = json.dumps(body).encode()
        try:
            response = await self._session_here().post(self.url, data=data,
                                                       headers=self.headers)
        except TimeoutError as error:  # aiohttp's connect timeouts are TimeoutErrors
            raise openai.APITimeoutError(request=self.request) from error
        except (aiohttp.ClientError, OSError) as error:
            raise openai.APIConnectionError(request=self.request) from error
        if response.status >= 400:
            raise await self._status_error(response)
        return _DirectStream(response, self.request)

    async def _status_error(self, response: aiohttp.ClientResponse) -> openai.APIStatusError:
        """The SDK's error for a refused request: its class for the status, the body parsed
        as the SDK parses it (its `error` object when it has one), the headers."""
        try:
            raw = await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError):
            raw = b""
        finally:
            response.release()
        text = raw.decode("utf-8", "replace").strip()
        body: Any = text
        with contextlib.suppress(ValueError):
            body = json.loads(text)
        data = body.get("error", body) if isinstance(body, Mapping) else body
        status = response.status
        http_response = self.httpx.Response(status, headers=list(response.raw_headers),
                                            content=raw, request=self.request)
        kind = _STATUS_ERRORS.get(status) or (openai.InternalServerError if status >= 500
                                              else openai.APIStatusError)
        return kind(f"Error code: {status}", response=http_response, body=data)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _DirectStream:
    """One streamed answer from `_DirectPost`: its body's reads, the request for errors.
    Leaving it (`async with`) before the body ended closes the connection at once."""

    __slots__ = ("request", "response")

    def __init__(self, response: aiohttp.ClientResponse, request: Any) -> None:
        self.response = response
        self.request = request

    def reads(self) -> AsyncIterator[bytes]:
        return sdk_hooks.aiohttp_reads(self.response, self.request)

    async def __aenter__(self) -> _DirectStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.response.content.is_eof():
            self.response.release()  # read to its end: the connection can serve another
        else:
            self.response.close()


async def _chunk_batches(stream: Any) -> AsyncGenerator[list[dict[str, Any]], None]:
    """The stream's chunks as plain dicts, a list per network read.

    The SDK builds a typed object for every chunk (about 0.3 ms each, measured) and decodes
    events line by line in Python; a fast local server sends hundreds of chunks per read. Here
    whole reads are split into events at once (`sse.BatchDecoder`), and the reads come, through
    the checked hooks in `compat.sdk_hooks`, straight from aiohttp on the aiohttp transport
    (paced while the answer floods: `body_reads`), else from the SDK's own event loop with
    its decoder swapped (`event_batches`). Both raise the SDK's timeout and connection errors.
    When an SDK version fits neither, its typed stream is used, a chunk at a time.
    """
    if isinstance(stream, _DirectStream):
        reads: AsyncIterator[bytes] | None = stream.reads()
        request = stream.request
    else:
        reads = sdk_hooks.body_reads(stream.response)
        request = stream.response.request
    events = (BatchDecoder().aiter_bytes(reads) if reads is not None
              else sdk_hooks.event_batches(stream, BatchDecoder()))
    if events is None:
        async for chunk in stream:
            yield [chunk.model_dump()]
        return
    counted = reads is None  # the aiohttp reads count themselves
    done = False
    async for batch in events:
        if counted:
            sdk_hooks.count()
        if done:
            continue  # read the body to its end, so the connection can be used again
        chunks: list[dict[str, Any]] = []
        failure: Exception | None = None
        try:
            for kind, data in batch:
                if data.startswith(b"[DONE]"):
                    done = True
                    break
                chunks.append(_chunk_of(kind, data, request))
        except (json.JSONDecodeError, UnicodeDecodeError, openai.APIError) as error:
            # The events before the bad one in this read are delivered first: text that
            # arrived is shown before the error, however many events a read holds.
            failure = error
        if chunks:
            yield chunks
        if failure is not None:
            raise failure


def _chunk_of(kind: str, data: bytes, request: Any) -> dict[str, Any]:
    """One event's chunk. Raises JSONDecodeError / UnicodeDecodeError for a malformed one,
    `openai.APIError` for an error event."""
    payload = _parse_json(data)
    if not isinstance(payload, dict):
        raise json.JSONDecodeError("not an object", data.decode("utf-8", "replace"), 0)
    if payload.get("error") or kind == "error":
        error = payload.get("error", payload)
        message = error.get("message") if isinstance(error, dict) else None
        raise openai.APIError(message=str(message or "an error occurred while streaming"),
                              request=request, body=error)
    return payload


def _reasoning_of(delta: Mapping[str, Any]) -> str:
    """A delta's reasoning in either field servers use: `reasoning_content` (DeepSeek,
    llama.cpp, LiteLLM) or `reasoning` (vLLM, Ollama, OpenRouter). Some send both with the same
    text, so one is taken, not both."""
    for key in ("reasoning_content", "reasoning"):
        value = delta.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


class _Pieces:
    """Joins the chunks of one read into as few events as keep their order: consecutive
    reasoning joins into one `ReasoningDelta`, consecutive answer text into one `Delta`."""

    __slots__ = ("_chunks", "_events", "_kind", "_splitter", "_texts")

    def __init__(self) -> None:
        self._splitter = ThinkSplitter()
        self._kind: str = "answer"
        self._texts: list[str] = []
        self._chunks = 0
        self._events: list[StreamEvent] = []

    def add(self, kind: str, text: str, chunks: int = 1) -> None:
        if kind == "retract":
            self._flush_run()
            self._events.append(ReasoningDelta("", 0, retracts_answer=True))
            return
        if kind != self._kind:
            self._flush_run()
            self._kind = kind
        self._texts.append(text)
        self._chunks += chunks

    def content(self, text: str) -> None:
        """Content, split where it holds `<think>` reasoning; counted as one chunk."""
        chunks = 1
        for kind, piece in self._splitter.feed(text):
            self.add(kind, piece, chunks)
            chunks = 0

    def contents(self, texts: list[str]) -> None:
        """Consecutive contents, one chunk each. Joined, they go through the splitter once:
        per chunk it was the costliest step of a flood, and it gives the same text however
        the content is cut. A run that may hold a tag goes chunk by chunk, so that each chunk
        still counts on the side of the tag it came from."""
        if len(texts) > 1:
            joined = "".join(texts)
            if self._splitter.plain(joined):
                for kind, piece in self._splitter.feed(joined):  # at most one piece
                    self.add(kind, piece, len(texts))
                return
        for text in texts:
            self.content(text)

    def batch(self, batch: list[dict[str, Any]], progress: _Progress) -> list[StreamEvent]:
        run: list[str] = []  # answer text of consecutive chunks, for `contents`
        for chunk in batch:
            usage = chunk.get("usage")
            if usage is not None and isinstance(usage, dict):
                self.contents(run)
                run = []
                self._flush_run()
                self._events.append(Usage(int(usage.get("prompt_tokens") or 0),
                                          int(usage.get("completion_tokens") or 0)))
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta")
                if delta and isinstance(delta, dict):
                    text = delta.get("content")
                    # Reasoning first: at the boundary one delta can carry the end of the
                    # reasoning and the start of the answer. (A delta with content alone,
                    # most of a flood, has none to look for.)
                    if (text is None or len(delta) > 1) and (reasoning := _reasoning_of(delta)):
                        self.contents(run)
                        run = []
                        self.add("reasoning", reasoning)
                    if text and isinstance(text, str):
                        run.append(text)
                if choice.get("finish_reason"):
                    progress.finish_reason = str(choice["finish_reason"])
        self.contents(run)
        events = self.flush()
        if not progress.text and any(not isinstance(event, Usage) for event in events):
            progress.text = True
        return events

    def flush(self) -> list[StreamEvent]:
        self._flush_run()
        events, self._events = self._events, []
        return events

    def close(self) -> list[StreamEvent]:
        """The stream ended: a tag that never completed is passed on as text."""
        for kind, piece in self._splitter.close():
            self.add(kind, piece, 0)
        return self.flush()

    def _flush_run(self) -> None:
        if self._texts:
            text = "".join(self._texts)
            if self._kind == "reasoning":
                self._events.append(ReasoningDelta(text, self._chunks))
            else:
                self._events.append(Delta(text, self._chunks))
            self._texts.clear()
            self._chunks = 0


def _parse_json(data: bytes) -> Any:
    """One event's JSON (orjson: several times faster than json, and this runs per chunk)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        data.decode("utf-8")  # raises UnicodeDecodeError, reported as "not UTF-8", if it is not
        raise


def _to_wire(message: Message) -> ChatCompletionMessageParam:
    match message.role:
        case "system":
            return {"role": "system", "content": message.content}
        case "user":
            text = message_text(message)
            images = [a for a in message.attachments if a.is_image]
            if not images:  # a plain string: servers that take only text keep working
                return {"role": "user", "content": text}
            parts: list[ChatCompletionContentPartParam] = (
                [{"type": "text", "text": text}] if text else [])
            parts += [{"type": "image_url", "image_url": {"url": data_url(image)}}
                      for image in images]
            return {"role": "user", "content": parts}
        case "assistant":
            return {"role": "assistant", "content": message.content}


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < 20:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _server_detail(error: openai.APIError) -> str:
    """The server's own words from an error body: OpenAI's `message`, FastAPI's `detail`, text."""
    body = error.body
    if isinstance(body, Mapping):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, Mapping) and isinstance(value.get("message"), str):
                return str(value["message"])
        return json.dumps(body, ensure_ascii=False, default=str)
    if isinstance(body, str):
        return _TAGS.sub(" ", body)
    if body is None and not isinstance(error, openai.APIStatusError):
        return error.message
    return ""


def _context_overflow(error: openai.APIStatusError) -> ContextTooLong | None:
    """llama.cpp's refusal of a prompt longer than its context, with both sizes it reports:
    `{"type": "exceed_context_size_error", "n_prompt_tokens": N, "n_ctx": C}`."""
    body = error.body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        body = body["error"]
    if not isinstance(body, Mapping) or body.get("type") != "exceed_context_size_error":
        return None
    prompt, context = body.get("n_prompt_tokens"), body.get("n_ctx")
    if not (isinstance(prompt, int) and isinstance(context, int)):
        return ContextTooLong("this conversation is longer than the model's context: start a "
                              "new one, or lower context_tokens")
    return ContextTooLong(f"this conversation is {prompt:,} tokens; the model's context is "
                          f"{context:,}: start a new one, or lower context_tokens")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, or `Retry-After` in seconds or as
    an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_loopback(host: str) -> bool:
    """Whether `host` (a URL's host name) is this machine: localhost, 127.0.0.0/8, ::1, or
    the unspecified address (which connects here too)."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified
