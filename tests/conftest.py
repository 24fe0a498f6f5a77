"""Shared fixtures: the loopback OpenAI server, and a sandbox so no test sees the user's setup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI

_USER_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "TEMPERATURE", "MAX_TOKENS",
             "NO_COLOR", "TEXTUAL_THEME")


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the XDG dirs into tmp_path and drop the variables that would leak the developer's
    config or key into a test."""
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        path = tmp_path / "xdg" / name.removeprefix("XDG_").removesuffix("_HOME").lower()
        path.mkdir(parents=True)
        monkeypatch.setenv(name, str(path))
    for name in _USER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """A running FakeOpenAI on 127.0.0.1 (random port); script it with `fake_openai.script()`."""
    async with FakeOpenAI() as fake:
        yield fake
