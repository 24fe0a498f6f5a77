"""The sanitizer neutralises terminal control sequences and keeps ordinary text."""

from __future__ import annotations

from tui_chat.sanitize import sanitize, sanitize_line


def test_plain_text_tabs_newlines_and_wide_characters_are_untouched() -> None:
    text = "héllo\tworld\n你好 🙂 — ok"
    assert sanitize(text) is text


def test_escape_sequences_lose_their_introducer() -> None:
    payload = "A\x1b]52;c;SGVsbG8=\x07B\x1b[2JC\x1b]0;PWNED\x1b\\D\x9b2JE\x90qF\x07G"
    cleaned = sanitize(payload)
    assert not any(ch in cleaned for ch in "\x1b\x07\x9b\x90")
    assert "␛" in cleaned
    assert cleaned.startswith("A␛]52;c;SGVsbG8=")


def test_carriage_returns_are_dropped_so_text_cannot_be_overwritten() -> None:
    assert sanitize("safe\rEVIL\r\n") == "safeEVIL\n"


def test_bidi_overrides_are_neutralised() -> None:
    assert "\u202e" not in sanitize("abc\u202edef")


def test_sanitize_line_folds_newlines_for_titles() -> None:
    assert sanitize_line("a\nb\tc\x1b[2J") == "a b c␛[2J"
