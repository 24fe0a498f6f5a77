"""The embedded local model: a provider's neighbour, not a provider.

This package owns the model file (`model_file`) and the llama.cpp server child process
(`engine`). It hands the ordinary OpenAI-compatible provider a base URL, so a local answer
streams down the same path as a hosted one. The engine starts in the background: the app is
usable at once, and a request sent early waits for the engine to be ready.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tui_chat.local.engine import INSTALL_HINT, Engine, EngineError, engine_available
from tui_chat.providers import DeferredProvider

if TYPE_CHECKING:
    from tui_chat.config import Settings
    from tui_chat.models import Message, RequestParams, StreamEvent
    from tui_chat.providers.base import Provider

__all__ = [
    "INSTALL_HINT",
    "Engine",
    "EngineBackedProvider",
    "EngineError",
    "Message",
    "RequestParams",
    "StreamEvent",
    "engine_available",
    "engine_for",
    "local_engine_hint",
    "local_settings",
    "make_local_provider",
    "prepare",
    "start_engine",
    "wants_local",
]

ANSWER_ROOM = 1024
"""Tokens of the context kept free for the answer when the history is trimmed to fit."""
DEFAULT_TEMPERATURE = 0.2
"""Sampling temperature when none is configured: the server's default (0.8) makes a 135M model
wander off (measured: French and nonsense for "What is the capital of France?")."""
DEFAULT_MAX_TOKENS = 1024
"""Answer cap when none is configured: a small model can repeat itself until the context ends."""


def local_engine_hint() -> str:
    """One line for a first start with nothing configured: how to chat with no server or key."""
    if engine_available():
        return "Or chat with a model on this machine, no key needed: run `tui-chat --local`"
    return (f"Or chat with a model on this machine, no key needed: {INSTALL_HINT}, then run "
            "`tui-chat --local`")


def wants_local(settings: Settings) -> bool:
    """`--local`, `--model-file`, `local`/`local_model` in the config or the profile; or nothing
    configured at all (no base URL, no key, no profile) while the engine is installed."""
    if settings.local or settings.local_model:
        return True
    nothing_configured = (not settings.given & {"base_url", "profile", "local"}
                          and settings.api_key is None)
    return nothing_configured and engine_available()


def prepare(settings: Settings, *, start: bool = True) -> tuple[Settings, Engine | None]:
    """When the settings want the local model: start its engine (in the background) and point
    the settings at it. Otherwise the settings as they are, and no engine.

    With `start=False` the engine is only made ready to start: the app starts it after its
    first frame (`Engine.start()`), so the model's loading, which takes both cores for about
    a second, does not hold up the first screen.

    Raises:
        EngineError: the local model was asked for but the engine is not installed, or the
            model file given does not exist.
    """
    if not wants_local(settings):
        return settings, None
    if not engine_available():
        raise EngineError(f"the local engine is not installed: {INSTALL_HINT}")
    if settings.local_model and not Path(settings.local_model).expanduser().is_file():
        raise EngineError(f"{settings.local_model}: no such model file")
    engine = start_engine(settings) if start else engine_for(settings)
    return local_settings(settings, engine), engine


def engine_for(settings: Settings) -> Engine:
    """The engine the settings ask for, not started yet."""
    model = Path(settings.local_model).expanduser() if settings.local_model else None
    return Engine(model)


def start_engine(settings: Settings) -> Engine:
    """Start the engine the settings ask for, in the background."""
    return engine_for(settings).start()


def local_settings(settings: Settings, engine: Engine) -> Settings:
    """Settings pointed at the engine: its URL and alias, and a history budget that fits.

    A `context_tokens` the user set is kept as it is (an overflow then says to lower it).
    """
    budget = settings.context_tokens
    if "context_tokens" not in settings.given:
        budget = max(256, engine.context - ANSWER_ROOM)
    temperature = settings.temperature
    if temperature is None and engine.model_path is None:
        temperature = DEFAULT_TEMPERATURE
    return replace(settings, base_url=engine.base_url, model=engine.alias, api_key=None,
                   context_tokens=budget, temperature=temperature,
                   max_tokens=settings.max_tokens or min(DEFAULT_MAX_TOKENS, engine.context // 2))


class EngineBackedProvider(DeferredProvider):
    """The OpenAI-compatible provider for the engine's URL, once the engine is ready.

    Not a second provider: a request made before the engine is ready waits for it (without
    holding the event loop, and cancellable at once, so quitting the app is never held up by a
    model still being fetched), then goes down the ordinary OpenAI-compatible path. If the
    engine cannot start, the request fails with the engine's own one-line reason.
    """

    WAIT_STEP = 0.25
    """Seconds a waiting thread blocks at a time (so a cancelled wait ends this soon)."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        super().__init__(self._sdk_loaded)
        self._settings = settings
        self._engine = engine

    def warm_up(self) -> Provider:
        """Import the SDK early (called in a thread by the app); never waits for the engine."""
        import tui_chat.providers.openai_compat  # noqa: F401

        return self

    def _sdk_loaded(self) -> Provider:
        raise AssertionError("the engine's provider is built by _ready, never by warm_up")

    async def _ready(self) -> Provider:
        from tui_chat.models import Unreachable

        self._engine.start()  # the app starts it after its first frame; a request never waits
        while not await asyncio.to_thread(self._engine.wait_ready_for, self.WAIT_STEP):
            pass
        try:
            base_url = self._engine.wait_ready(0)
        except EngineError as error:
            raise Unreachable(str(error)) from None
        if self._provider is None:
            self._provider = await asyncio.to_thread(self._build_for, base_url)
        return self._provider

    def _build_for(self, base_url: str) -> Provider:
        from tui_chat.providers.openai_compat import OpenAICompatible

        s = self._settings
        return OpenAICompatible(base_url, s.effective_api_key, connect_timeout=s.connect_timeout,
                                stall_timeout=s.stall_timeout, api_key_env=s.api_key_env,
                                http_transport=s.http_transport)

    async def list_models(self) -> list[str]:
        if not self._engine.ready:
            return [self._engine.alias]  # the one model it will serve
        return await super().list_models()


def make_local_provider(settings: Settings, engine: Engine) -> EngineBackedProvider:
    """The provider the app, `ask` and `serve` use for the engine (see EngineBackedProvider)."""
    return EngineBackedProvider(settings, engine)
