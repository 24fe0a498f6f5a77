"""The OpenAI SDK's private names the provider uses, checked when the provider is first built.

The provider keeps the SDK's streaming request (its timeouts, and its mapping of transport
errors to `APITimeoutError` / `APIConnectionError`) but swaps the stream's event decoder for
`providers.sse.BatchDecoder` and reads the events straight from `_iter_events`, skipping a typed
object per chunk. Written against openai 1.40 to 3.x, where `AsyncStream.__init__` builds
`self._decoder` and `_iter_events` loops over `self._decoder.aiter_bytes(...)`. When that no
longer holds, the provider reads the SDK's typed stream, a chunk at a time.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import Any

import openai

from tui_chat.compat import Hook, Misfit, attribute, ran, register, report, sets, signature


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
