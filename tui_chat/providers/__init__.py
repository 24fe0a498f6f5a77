"""Builds the provider the settings ask for; the SDK is imported only when a request can be made.

Importing `openai` costs about 0.4 s, so this package must not import it at module level: the
app starts (and shows the first-run hint) without it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from tui_chat.models import Message, NoApiKey, RequestParams, StreamEvent

if TYPE_CHECKING:
    from tui_chat.config import Settings
    from tui_chat.providers.base import Provider

NO_API_KEY_MESSAGE = (
    "{host} needs an API key and none is set: run `export {env}=...`, or name another "
    'variable with `api_key_env = "VAR"` in the config file, or pass `--api-key-env VAR`'
)
"""The first-run hint; fill in `host` and `env` (or call `missing_key_message`)."""
NO_CONNECTION_LIMIT = 1 << 20
"""`max_connections` for "as many as are asked for": past it, the open-file limit decides."""


def missing_key_message(settings: Settings) -> str:
    """The first-run hint for these settings, naming the host and the variable to set."""
    host = urlparse(settings.base_url).hostname or settings.base_url
    return NO_API_KEY_MESSAGE.format(host=host, env=settings.api_key_env)


class MissingKeyProvider:
    """Stands in while no key is set: every request fails with `NoApiKey` and the hint."""

    def __init__(self, message: str) -> None:
        self.message = message

    async def stream(
        self, messages: Sequence[Message], params: RequestParams
    ) -> AsyncGenerator[StreamEvent, None]:
        raise NoApiKey(self.message)
        yield  # makes this an async generator, like every other provider's stream

    async def list_models(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None


class DeferredProvider:
    """Builds the real provider on first use, so importing the SDK (about 0.4 s) is not paid
    before the first screen shows. `warm_up()` may be called from a thread to pay it early."""

    def __init__(self, build: Callable[[], Provider]) -> None:
        self._build = build
        self._provider: Provider | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> Provider:
        with self._lock:
            if self._provider is None:
                self._provider = self._build()
            return self._provider

    async def _ready(self) -> Provider:
        """The real provider, built (or waited for) in a thread: while the warm-up thread
        still imports the SDK, a request made now must not stop the event loop for it."""
        if self._provider is not None:
            return self._provider
        return await asyncio.to_thread(self.warm_up)

    async def stream(
        self, messages: Sequence[Message], params: RequestParams
    ) -> AsyncGenerator[StreamEvent, None]:
        provider = await self._ready()
        async with aclosing(provider.stream(messages, params)) as events:
            async for event in events:
                yield event

    async def list_models(self) -> list[str]:
        return await (await self._ready()).list_models()

    async def aclose(self) -> None:
        if self._provider is not None:
            await self._provider.aclose()


def make_provider(settings: Settings, *, deferred: bool = False,
                  max_connections: int | None = None) -> Provider:
    """The provider for `settings`: OpenAI-compatible, or a stand-in when a key is missing.

    With `deferred`, the SDK is imported on first use (or by `warm_up()`), not now.
    `max_connections`: see `OpenAICompatible` (None: the SDK's own limit).
    """
    if settings.needs_key and settings.api_key is None:
        return MissingKeyProvider(missing_key_message(settings))

    def build() -> Provider:
        from tui_chat.providers.openai_compat import OpenAICompatible

        return OpenAICompatible(
            settings.base_url,
            settings.effective_api_key,
            connect_timeout=settings.connect_timeout,
            stall_timeout=settings.stall_timeout,
            api_key_env=settings.api_key_env,
            http_transport=settings.http_transport,
            max_connections=max_connections,
        )

    return DeferredProvider(build) if deferred else build()


def make_relay_provider(url: str, settings: Settings, *, token: str | None = None,
                        max_connections: int | None = None) -> Provider:
    """A provider that streams from a `tui-chat serve` relay instead of the model endpoint."""
    from tui_chat.providers.relay import RelayProvider

    return RelayProvider(url, token=token, connect_timeout=settings.connect_timeout,
                         stall_timeout=settings.stall_timeout, max_connections=max_connections)
