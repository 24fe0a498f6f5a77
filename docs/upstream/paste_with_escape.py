"""Textual: a bracketed paste that contains ESC is cut at that ESC; the rest arrives as keys.

Terminals send a paste as ESC[200~ text ESC[201~. Text copied from a log or a web page can
hold escape sequences (say a colour code). Textual's parser ends the paste at the first ESC
inside it and replays everything after it as key presses: a pasted CR becomes Enter (sends
the prompt), a pasted Ctrl+Q byte quits the app. Expected: one Paste event with the whole text.
"""

from __future__ import annotations

from textual import events
from textual._xterm_parser import XTermParser

PASTED = "first line \x1b[31mred\x1b[0m\rsecond line \x11"
WIRE = "\x1b[200~" + PASTED + "\x1b[201~"

if __name__ == "__main__":
    parser = XTermParser()
    parsed = [*parser.feed(WIRE), *parser.feed("")]
    pastes = [event.text for event in parsed if isinstance(event, events.Paste)]
    keys = [event.key for event in parsed if isinstance(event, events.Key)]
    print(f"pasted: {PASTED!r}")
    print(f"Paste events: {pastes!r}")
    print(f"Key events:   {keys!r}")
    print(f"expected: Paste events: [{PASTED!r}], Key events: []")
    print("paste replayed as keys" if keys else "one paste: fixed upstream")
