"""The OpenAI SDK's private names the provider uses, checked when the provider is first built.

The provider keeps the SDK's streaming request (its timeouts, retries and status errors) and
reads the body its own way, by one of two hooks:

- `aiohttp_body` (the aiohttp transport, our default): the `aiohttp` response under the SDK's
  httpx adapter, read directly, in pieces as large as a flood allows (`body_reads`). Written
  against openai 3.14 to 3.x, whose vendored adapter keeps it as `_aiohttp_response` on the
  body stream that httpx wraps in `_stream`.
- `sse` (the httpx transport, or when `aiohttp_body` does not fit): the stream's event decoder
  swapped for `providers.sse.BatchDecoder`, read straight from `_iter_events`, skipping a typed
  object per chunk. Written against openai 1.40 to 3.x, where `AsyncStream.__init__` builds
  `self._decoder` and `_iter_events` loops over `self._decoder.aiter_bytes(...)`.

When neither fits, the provider reads the SDK's typed stream, a chunk at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai

from tui_chat.compat import Hook, Misfit, attribute, ran, register, report, sets, signature
from tui_chat.pacing import PACING


def _check_sse() -> None:
    stream_class = attribute(openai, "AsyncStream")
    signature(stream_class, "_iter_events", ("self",))
    sets(stream_class.__init__, ("_decoder",))
    sets(stream_class._iter_events, ("_decoder", "aiter_bytes"))
    if not getattr(stream_class._iter_events, "__code__", None):
        raise Misfit("AsyncStream._iter_events is not plain Python any more")


SSE = register(Hook(
    "sse",
    uses="openai.AsyncStream._decoder (swapped) and AsyncStream._iter_events",
    why="a fast local server sends hundreds of events per read; the SDK decodes them line by "
        "line and builds a pydantic object per chunk (about 0.3 ms each); this decodes a whole "
        "read at once into plain dicts (providers/sse.py)",
    public="none exists; the SDK's typed stream, iterated chunk by chunk",
    liveness=("sse",),
), _check_sse)
report()


def _check_aiohttp_body() -> None:
    adapter = attribute(openai, "DefaultAioHttpClient").__mro__[1]  # the vendored client
    package = adapter.__module__.rpartition(".")[0]
    transport = importlib.import_module(f"{package}.transport")
    body_class = attribute(transport, "AiohttpResponseStream")
    sets(body_class.__init__, ("_aiohttp_response",))
    httpx = adapter.__mro__[1].__module__.partition(".")[0]  # the SDK's httpx package
    httpx_client = importlib.import_module(f"{httpx}._client")
    bound_class = attribute(httpx_client, "BoundAsyncStream")
    sets(bound_class.__init__, ("_stream",))


AIOHTTP_BODY = register(Hook(
    "aiohttp_body",
    uses="the SDK's vendored httpx-aiohttp AiohttpResponseStream._aiohttp_response, reached "
         "through httpx's BoundAsyncStream._stream",
    why="each network read went through seven layers of async generators (aiohttp, the "
        "adapter, httpx twice, the SDK, ours), about 40 us, and a quiet machine reads a "
        "flood in thousands of small pieces; read directly, and paced while it floods, a "
        "20,000-chunk answer takes 0.27x the httpx transport's CPU instead of 0.37x "
        "(benchmarks/transport_bench.py, RESULTS.md)",
    public="the body through httpx and the SDK's event loop (the `sse` hook, else typed)",
    liveness=("aiohttp_body",),
), _check_aiohttp_body)
report()

FLOOD_GAP = PACING.flood_read_gap
FLOOD_BYTES = PACING.flood_read_bytes
"""Reads of a body bringing `FLOOD_BYTES` within `FLOOD_GAP` seconds are spaced `FLOOD_GAP`
apart, the socket paused in between (tui_chat/pacing.py)."""


def body_reads(response: Any) -> AsyncIterator[bytes] | None:
    """The raw body of the SDK's httpx `response`, read straight from aiohttp; None when the
    response is not on the SDK's aiohttp transport or the hook is out.

    Transport failures become the SDK's own errors, as its stream raises them:
    `APITimeoutError` for a read that timed out, `APIConnectionError` for the rest.
    """
    if not AIOHTTP_BODY:
        return None
    body = getattr(getattr(response, "stream", None), "_stream", None)
    aiohttp_response = getattr(body, "_aiohttp_response", None)
    if not isinstance(aiohttp_response, aiohttp.ClientResponse):
        return None
    return _paced_reads(aiohttp_response, response.request, counter="aiohttp_body")


def aiohttp_reads(response: aiohttp.ClientResponse, request: Any) -> AsyncIterator[bytes]:
    """The body of an aiohttp `response` the provider sent itself (public aiohttp API only),
    paced and with its failures made the SDK's errors as `body_reads` does; `request` is the
    SDK's (httpx) request the errors carry. Its reads count as `ran["aiohttp_direct"]` (no
    hook's: nothing private runs)."""
    return _paced_reads(response, request, counter="aiohttp_direct")


async def _paced_reads(response: aiohttp.ClientResponse, request: Any, *,
                       counter: str) -> AsyncIterator[bytes]:
    content = response.content
    connection = response.connection
    # The socket's transport (asyncio's public API): pausing it leaves aiohttp's parser and
    # its own flow control alone, and what arrives meanwhile waits in the kernel.
    transport = connection.transport if connection is not None else None
    window_start, window_bytes = -FLOOD_GAP, 0
    try:
        while True:
            piece = await content.readany()
            if not piece:
                return
            ran[counter] += 1
            yield piece
            now = time.monotonic()
            if now - window_start > FLOOD_GAP:
                window_start, window_bytes = now, 0
            window_bytes += len(piece)
            if (window_bytes >= FLOOD_BYTES and transport is not None
                    and transport.is_reading() and not content.is_eof()):
                transport.pause_reading()
                try:
                    await asyncio.sleep(window_start + FLOOD_GAP - now)
                finally:
                    transport.resume_reading()
                window_start, window_bytes = time.monotonic(), 0
    except TimeoutError as error:  # aiohttp's read timeouts are TimeoutErrors
        raise openai.APITimeoutError(request=request) from error
    except (aiohttp.ClientError, OSError) as error:
        raise openai.APIConnectionError(request=request) from error


def _check_platform() -> None:
    base = importlib.import_module("openai._base_client")
    signature(base, "get_platform", ())
    sets(attribute(base, "BaseClient").__init__, ("_platform",))
    sets(attribute(base, "AsyncAPIClient").request, ("_platform", "get_platform"))


PLATFORM = register(Hook(
    "platform",
    uses="openai._base_client.get_platform, and the client's _platform",
    why="the SDK works out the platform for its request headers in a thread, on the first "
        "request of a client, and every request that starts before that thread is done "
        "starts one more: a relay's first 500 streams queued for the GIL behind ~500 threads "
        "(p95 first byte at 500 streams, 2 workers: 1.29-1.37 s -> 0.99-1.10 s); this works "
        "it out once, when the client is built",
    public="the SDK's own: a thread on each request until the first one has it",
    liveness=("platform",),
), _check_platform)
report()


def resolve_platform(client: Any) -> None:
    """Work out the platform for `client`'s request headers now (blocking I/O: call it where
    the client is built, not on the event loop), so no request has to."""
    if not PLATFORM:
        return
    if getattr(client, "_platform", None) is None:
        client._platform = importlib.import_module("openai._base_client").get_platform()
    ran["platform"] += 1


def event_batches(stream: Any, decoder: Any) -> AsyncIterator[Any] | None:
    """The stream's events through `decoder`, a list per network read; None if the hook is out.

    The SDK's loop around the decoder is kept, so its timeout and connection errors are too.
    """
    if not SSE:
        return None
    stream._decoder = decoder
    events: AsyncIterator[Any] = stream._iter_events()
    return events


def count() -> None:
    """A network read's events went through the fast path."""
    ran["sse"] += 1


def warm_up_transport() -> None:
    """Import the event-loop backend of the SDK's transport now, not at the first answer."""
    with contextlib.suppress(ImportError):
        importlib.import_module("anyio._backends._asyncio")
