"""The `reasoning` setting: its three values, and one clear line for anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_chat.config import ConfigError, load_settings


@pytest.mark.parametrize("mode", ["show", "folded", "hidden"])
def test_each_mode_is_read_from_the_file(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'reasoning = "{mode}"\n', encoding="utf-8")
    assert load_settings(path, {}).reasoning == mode


def test_folded_is_the_default() -> None:
    assert load_settings(None, {}).reasoning == "folded"


def test_another_value_is_one_line_naming_the_choices(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('model = "m"\nreasoning = "collapsed"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = str(caught.value)
    assert "line 2" in message and "show, folded, hidden" in message and "\n" not in message
