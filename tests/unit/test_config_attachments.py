"""The attachment size limits in the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_chat.attachments import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_MESSAGE_BYTES, Limits
from tui_chat.config import ConfigError, load_settings


def test_limits_default_and_come_from_the_file(tmp_path: Path) -> None:
    assert load_settings(None, {}).attachment_limits == Limits(
        DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_MESSAGE_BYTES)
    path = tmp_path / "config.toml"
    path.write_text("max_attachment_bytes = 1000\nmax_message_attachment_bytes = 1500\n")
    assert load_settings(path, {}).attachment_limits == Limits(1000, 1500)


def test_a_limit_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("max_attachment_bytes = 0\n")
    with pytest.raises(ConfigError, match="line 1: 'max_attachment_bytes' must be a positive"):
        load_settings(path, {})
