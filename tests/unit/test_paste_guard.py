"""The paste guard: escape sequences inside a bracketed paste stay text, split reads included."""

from __future__ import annotations

import pytest
from textual import events

from tui_chat.compat.textual_hooks import XTermParser
from tui_chat.paste_guard import GuardedXTermParser, PasteFilter, install

CONTENT = "first \x1b[31mred\rsecond \x1b]52;c;SGVsbG8=\x07 \x11quit? \x1b"
WIRE = f"ab\x1b[200~{CONTENT}\x1b[201~cd\x1b"
EXPECTED = WIRE.replace(CONTENT, CONTENT.replace("\x1b", "␛"))


def filtered(pieces: list[str]) -> str:
    guard = PasteFilter()
    return "".join(guard(piece) for piece in pieces)


def test_only_the_paste_is_rewritten() -> None:
    assert filtered([WIRE]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(WIRE)))
def test_a_split_anywhere_gives_the_same_result(cut: int) -> None:
    assert filtered([WIRE[:cut], WIRE[cut:]]) == EXPECTED


def test_one_character_at_a_time() -> None:
    assert filtered(list(WIRE)) == EXPECTED


def test_an_escape_key_outside_a_paste_is_not_held_back() -> None:
    guard = PasteFilter()
    assert guard("\x1b") == "\x1b"
    assert guard("\x1b[20") == "\x1b[20"  # a prefix of the start marker passes at once too
    assert guard("0~x") == "0~x" and guard.pasting


def events_for(parser: XTermParser, wire: str) -> list[events.Event]:
    parsed = [*parser.feed(wire[:20]), *parser.feed(wire[20:]), *parser.feed("")]
    return [event for event in parsed if isinstance(event, events.Key | events.Paste)]


def test_the_guarded_parser_delivers_one_paste_and_no_keys_from_it() -> None:
    parsed = events_for(GuardedXTermParser(), "\x1b[200~" + CONTENT + "\x1b[201~")
    assert len(parsed) == 1 and isinstance(parsed[0], events.Paste)
    assert parsed[0].text == CONTENT.replace("\x1b", "␛")


def test_textuals_own_parser_replays_the_paste_as_keys() -> None:
    # Why the guard exists; if Textual fixes its parser this fails and the guard can go.
    parsed = events_for(XTermParser(), "\x1b[200~" + CONTENT + "\x1b[201~")
    assert any(isinstance(event, events.Key) for event in parsed)


def test_install_puts_the_guard_in_the_linux_driver() -> None:
    from textual.drivers import linux_driver

    install()
    install()
    assert linux_driver.XTermParser is GuardedXTermParser
