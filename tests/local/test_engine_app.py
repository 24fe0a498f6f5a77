"""The app with the local model: the engine starts after the first frame (or at the first
request, whichever comes first); while the model is still being fetched the status bar shows
the fetch, and quitting then ends the fetch at once and keeps no partial file."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from tests.pty_harness import TerminalApp, tui_chat_argv
from tui_chat.app import make_app
from tui_chat.config import Settings
from tui_chat.local import Engine, local_settings, make_local_provider
from tui_chat.local.model_file import MODEL_DIR_ENV
from tui_chat.models import Message, RequestParams, Unreachable


def test_quitting_while_the_model_is_fetched_stops_the_fetch_and_keeps_nothing(
        tmp_path: Path) -> None:
    # pip's only index is a loopback port that accepts and never answers: the fetch hangs.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        models = tmp_path / "models"
        env = {f"XDG_{n}_HOME": str(tmp_path / n.lower()) for n in ("CONFIG", "DATA", "STATE")}
        env.update({MODEL_DIR_ENV: str(models), "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "",
                    "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1",
                    "PIP_INDEX_URL": f"http://127.0.0.1:{silent.getsockname()[1]}/simple",
                    "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""})
        with TerminalApp(tui_chat_argv("--local"), env=env, size=(100, 30)) as app:
            assert app.wait_for("downloading local model", 30), app.display()
            assert any(p.name.startswith(".fetch-") for p in models.iterdir())
            started = time.monotonic()
            app.press("ctrl+q")
            assert app.close(15) == 0
            took = time.monotonic() - started
    assert took < 10, took  # not held up until pip gives up (minutes)
    assert list(models.iterdir()) == []  # no partial file, no work folder


def _unstartable_engine(tmp_path: Path) -> Engine:
    """An engine whose start fails at once (its model file is missing): it says whether, and
    when, something started it, without loading a model."""
    return Engine(tmp_path / "missing.gguf", log_path=tmp_path / "engine.log")


async def test_the_app_starts_the_engine_after_its_first_frame(tmp_path: Path) -> None:
    engine = _unstartable_engine(tmp_path)
    settings = local_settings(Settings(), engine)
    app = make_app(settings, make_local_provider(settings, engine), engine=engine)
    assert not engine.wait_ready_for(0)  # made, not started: the first frame comes first
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert await asyncio.to_thread(engine.wait_ready_for, 10)
        assert engine.error == f"{tmp_path / 'missing.gguf'}: no such model file"


async def test_a_request_made_before_the_engine_started_starts_it(tmp_path: Path) -> None:
    engine = _unstartable_engine(tmp_path)
    provider = make_local_provider(local_settings(Settings(), engine), engine)
    stream = provider.stream([Message("user", "hi")], RequestParams(engine.alias))
    with pytest.raises(Unreachable, match="no such model file"):
        await asyncio.wait_for(anext(aiter(stream)), 10)


async def test_the_status_bar_says_the_model_is_starting_from_the_first_frame(
        tmp_path: Path) -> None:
    engine = _unstartable_engine(tmp_path)
    settings = local_settings(Settings(), engine)
    app = make_app(settings, make_local_provider(settings, engine), engine=engine)
    shown: list[str] = []

    async with app.run_test(size=(80, 24)) as pilot:
        from tui_chat.widgets.status_bar import StatusBar

        bar = app.screen.query_one(StatusBar)
        shown.append(bar.model)  # before any timer or refresh has run
        await pilot.pause()
    assert shown == ["starting local model…"]
