"""When the local model runs, and the settings it runs with."""

from __future__ import annotations

from pathlib import Path

import pytest

import tui_chat.local as local
from tui_chat.config import load_settings
from tui_chat.local import Engine, EngineError, local_settings, prepare, wants_local


def settings_from(toml: str = "", environ: dict[str, str] | None = None, tmp: Path | None = None,
                  **flags: object):  # type: ignore[no-untyped-def]
    path = None
    if toml and tmp is not None:
        path = tmp / "config.toml"
        path.write_text(toml, encoding="utf-8")
    return load_settings(path, environ or {}, **flags)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "engine_available", lambda: True)


def test_nothing_configured_runs_the_local_model_when_the_engine_is_installed(
        installed: None) -> None:
    assert wants_local(settings_from())


def test_nothing_configured_without_the_engine_keeps_the_hosted_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "engine_available", lambda: False)
    assert not wants_local(settings_from())


@pytest.mark.parametrize("how", ["flag", "env", "key", "profile", "local_false"])
def test_anything_configured_keeps_the_endpoint(installed: None, tmp_path: Path, how: str) -> None:
    settings = {
        "flag": lambda: settings_from(base_url="http://127.0.0.1:9/v1"),
        "env": lambda: settings_from(environ={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}),
        "key": lambda: settings_from(environ={"OPENAI_API_KEY": "sk-something"}),
        "profile": lambda: settings_from('profile = "o"\n[profiles.o]\nmodel = "m"\n',
                                         tmp=tmp_path),
        "local_false": lambda: settings_from("local = false\n", tmp=tmp_path),
    }[how]()
    assert not wants_local(settings)


def test_a_profile_can_ask_for_the_local_model(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(local, "engine_available", lambda: False)
    settings = settings_from('[profiles.offline]\nlocal = true\n', tmp=tmp_path,
                             profile="offline")
    assert settings.local and wants_local(settings)
    with pytest.raises(EngineError, match=r"not installed: .*pip install"):
        prepare(settings)  # asked for, not installed: one line saying how to get it


def test_a_missing_model_file_is_one_line(installed: None, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"nothing\.gguf: no such model file"):
        prepare(settings_from(local_model=str(tmp_path / "nothing.gguf")))


def test_the_history_budget_fits_the_engines_context_unless_set() -> None:
    engine = Engine(context=4096)
    fitted = local_settings(settings_from(), engine)
    assert fitted.context_tokens == 3072 and fitted.max_tokens == 1024
    assert fitted.temperature == 0.2  # the default model wanders at the server's 0.8
    assert fitted.base_url == engine.base_url and fitted.model == engine.alias
    kept = local_settings(settings_from(context_tokens=100_000, max_tokens=50,
                                        temperature=0.9), engine)
    assert kept.context_tokens == 100_000 and kept.max_tokens == 50 and kept.temperature == 0.9


def test_a_model_file_is_served_under_its_name(tmp_path: Path) -> None:
    assert Engine(tmp_path / "tinyllama-1.1b.Q4_K_M.gguf").alias == "tinyllama-1.1b.Q4_K_M"


def test_the_first_start_hint_says_how_to_get_the_engine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "engine_available", lambda: False)
    hint = local.local_engine_hint()
    assert "pip install -e '.[local]'" in hint and "`tui-chat --local`" in hint
    monkeypatch.setattr(local, "engine_available", lambda: True)
    assert "pip install" not in local.local_engine_hint()
