"""The embedded local model: a provider's neighbour, not a provider.

This package owns the model file (`model_file`) and the llama.cpp server child process
(`engine`). It hands the ordinary OpenAI-compatible provider a base URL, so a local answer
streams down the same path as a hosted one. The engine starts in the background: the app is
usable at once, and a request sent early waits for the engine to be ready.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tui_chat.local.engine import INSTALL_HINT, Engine, EngineError, engine_available

if TYPE_CHECKING:
    from tui_chat.config import Settings
    from tui_chat.providers import DeferredProvider

__all__ = ["INSTALL_HINT", "Engine", "EngineError", "engine_available", "local_settings",
           "make_local_provider", "prepare", "start_engine", "wants_local"]

ANSWER_ROOM = 1024
"""Tokens of the context kept free for the answer when the history is trimmed to fit."""
DEFAULT_MAX_TOKENS = 1024
"""Answer cap when none is configured: a small model can repeat itself until the context ends."""


def wants_local(settings: Settings) -> bool:
    """`--local`, `--model-file`, `local`/`local_model` in the config or the profile; or nothing
    configured at all (no base URL, no key, no profile) while the engine is installed."""
    if settings.local or settings.local_model:
        return True
    nothing_configured = (not settings.given & {"base_url", "profile", "local"}
                          and settings.api_key is None)
    return nothing_configured and engine_available()


def prepare(settings: Settings) -> tuple[Settings, Engine | None]:
    """When the settings want the local model: start its engine (in the background) and point
    the settings at it. Otherwise the settings as they are, and no engine.

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
    engine = start_engine(settings)
    return local_settings(settings, engine), engine


def start_engine(settings: Settings) -> Engine:
    """Start the engine the settings ask for, in the background."""
    model = Path(settings.local_model).expanduser() if settings.local_model else None
    return Engine(model).start()


def local_settings(settings: Settings, engine: Engine) -> Settings:
    """Settings pointed at the engine: its URL and alias, and a history budget that fits.

    A `context_tokens` the user set is kept as it is (an overflow then says to lower it).
    """
    budget = settings.context_tokens
    if "context_tokens" not in settings.given:
        budget = max(256, engine.context - ANSWER_ROOM)
    return replace(settings, base_url=engine.base_url, model=engine.alias, api_key=None,
                   context_tokens=budget,
                   max_tokens=settings.max_tokens or min(DEFAULT_MAX_TOKENS, engine.context // 2))


def make_local_provider(settings: Settings, engine: Engine) -> DeferredProvider:
    """The OpenAI-compatible provider for the engine's URL, built once the engine is ready.

    A request made before then waits (in a thread, so the event loop does not); if the engine
    cannot start, the request fails with the engine's own one-line reason.
    """
    from tui_chat.models import Unreachable
    from tui_chat.providers import DeferredProvider

    def build():  # type: ignore[no-untyped-def]
        from tui_chat.providers.openai_compat import OpenAICompatible

        try:
            base_url = engine.wait_ready()
        except EngineError as error:
            raise Unreachable(str(error)) from None
        return OpenAICompatible(base_url, settings.effective_api_key,
                                connect_timeout=settings.connect_timeout,
                                stall_timeout=settings.stall_timeout,
                                api_key_env=settings.api_key_env)

    return DeferredProvider(build)
