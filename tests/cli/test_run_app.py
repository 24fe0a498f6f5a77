"""The app's command line path, in-process, with the app's run replaced (no terminal here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tui_chat import cli
from tui_chat.app import TuiChatApp


def test_the_app_runs_with_a_short_gil_switch_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Textual's input thread needs the GIL to pass each key on; a flood on the UI thread held
    # it for 5 ms at a time (the default), and key echo during an unthrottled answer was
    # 50-93 ms at its worst per run; with 1 ms it was 18-56 (9 alternated runs).
    seen: list[float] = []
    monkeypatch.setattr(TuiChatApp, "run", lambda self: seen.append(sys.getswitchinterval()))
    before = sys.getswitchinterval()
    try:
        assert cli.main(["--base-url", "http://127.0.0.1:9/v1", "--model", "m",
                         "--db", str(tmp_path / "c.db")]) == 0
    finally:
        sys.setswitchinterval(before)
    assert seen == [pytest.approx(0.001)]
