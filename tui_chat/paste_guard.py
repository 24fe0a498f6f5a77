"""Keeps escape sequences inside a bracketed paste from being read as keystrokes.

Textual's input parser (8.2.8) stops collecting a bracketed paste at the first ESC inside it
and replays what follows as key presses: a pasted `ESC[31m...CR` sends a half-typed prompt, a
pasted Ctrl+Q byte quits, a BEL copies. Many terminals strip ESC from pastes, but not all, and
text copied from a web page or a log can carry them. So every ESC between the paste markers,
except the one that ends the paste, becomes a visible ␛ before the parser sees it; the paste
then arrives as the one `Paste` event it is, and the prompt input sanitises the rest.

The same parser also reads ESC CR as Alt+Enter. That is what tmux (3.3, default settings),
xterm and most terminals send for Alt+Enter, and Textual 8.2.8 drops the Alt for keys it maps
by name (the result is a plain Enter, which sends the prompt instead of starting a new line).

The parser is private API, checked at start-up by `tui_chat.compat.textual_hooks` (hook
"paste_guard"); when it does not fit, the drivers keep Textual's parser.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from textual import events

from tui_chat.compat.textual_hooks import DRIVER_MODULES, PASTE_GUARD, XTermParser, count
from tui_chat.sanitize import ESCAPE_PLACEHOLDER

ESC = "\x1b"
PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"

class PasteFilter:
    """Rewrites decoded terminal input, chunk by chunk, so pastes hold no ESC but the end marker.

    Markers split across reads are recognised. Outside a paste nothing is held back (a lone
    Escape key press must reach the app at once); inside one, a tail that may begin the end
    marker waits for the next chunk, which a terminal always sends.
    """

    def __init__(self) -> None:
        self.pasting = False
        self._recent = ""
        """Outside a paste: the last characters seen, to spot a start marker split in two."""
        self._held = ""
        """Inside a paste: a tail that may be the beginning of the end marker."""

    def __call__(self, data: str) -> str:
        out: list[str] = []
        while data:
            if not self.pasting:
                seen = self._recent + data
                index = seen.find(PASTE_START)
                if index < 0:
                    out.append(data)
                    self._recent = seen[-(len(PASTE_START) - 1):]
                    break
                end = index + len(PASTE_START) - len(self._recent)  # where the marker ends in data
                out.append(data[:end])
                data = data[end:]
                self._recent = ""
                self.pasting = True
                continue
            data = self._held + data
            self._held = ""
            index = data.find(PASTE_END)
            if index < 0:
                keep = _end_marker_prefix(data)
                body = data[: len(data) - keep]
                self._held = data[len(body):]
                out.append(body.replace(ESC, ESCAPE_PLACEHOLDER))
                break
            out.append(data[:index].replace(ESC, ESCAPE_PLACEHOLDER))
            out.append(PASTE_END)
            data = data[index + len(PASTE_END):]
            self.pasting = False
        return "".join(out)


def _end_marker_prefix(text: str) -> int:
    """Length of the longest proper prefix of the end marker that `text` ends with."""
    for length in range(len(PASTE_END) - 1, 0, -1):
        if text.endswith(PASTE_END[:length]):
            return length
    return 0


class GuardedXTermParser(XTermParser):
    """Textual's parser, fed through a `PasteFilter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paste_filter = PasteFilter()

    def feed(self, data: str) -> Iterable[Any]:
        # "" means end of input to the parser: pass it on as it is.
        count("paste_guard")
        return super().feed(self.paste_filter(data) if data else data)

    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[Any]:
        # Called by the parser for ESC followed by one character (alt=True); Textual's own
        # version forgets the Alt when that character is a named key such as CR.
        if alt and sequence == "\r":
            return (events.Key("alt+enter", None),)
        return super()._sequence_to_key_events(sequence, alt)


def install() -> None:
    """Make Textual's terminal drivers use `GuardedXTermParser` (idempotent), if it fits."""
    if not PASTE_GUARD:
        return
    for name in DRIVER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a driver this platform cannot load does not read input here
            continue
        if getattr(module, "XTermParser", None) is XTermParser:
            module.XTermParser = GuardedXTermParser  # type: ignore[attr-defined]
