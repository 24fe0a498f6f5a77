"""Reasoning sent inside the content as `<think>...</think>`, split from the answer as it streams.

Models served without a reasoning parser write their thinking into the content, between tags
that can be cut anywhere by the chunking, and some chat templates put the opening tag in the
prompt, so the content starts inside the thinking and only a `</think>` shows where it ends.
The splitter holds back only what could still be the start of a tag (a few characters), so the
answer is not delayed.
"""

from __future__ import annotations

from typing import Literal

OPEN = "<think>"
CLOSE = "</think>"

Kind = Literal["reasoning", "answer", "retract"]
Piece = tuple[Kind, str]
"""("reasoning" | "answer", text); ("retract", "") says the answer so far was reasoning."""


def _partial_tail(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a start of `tag` (0 when none).

    Such an end starts with the tag's first character, so only those positions are tried:
    this runs for every content piece, and most pieces have no `<` near their end.
    """
    position = text.find(tag[0], max(0, len(text) - len(tag) + 1))
    while position >= 0:
        if tag.startswith(text[position:]):
            return len(text) - position
        position = text.find(tag[0], position + 1)
    return 0


class ThinkSplitter:
    """Feeds content pieces in; gets (kind, text) pieces out, in order."""

    __slots__ = ("_held", "_state", "_strip")

    def __init__(self) -> None:
        self._state: Literal["start", "think", "open", "answer"] = "start"
        """start: nothing decided; think: inside <think>; open: answer with no opening tag seen,
        so a `</think>` may still come; answer: plain answer to the end."""
        self._held = ""
        self._strip = False
        """Drop whitespace at the start of the answer (the blank line after `</think>`)."""

    def plain(self, text: str) -> bool:
        """Whether `feed(text)` gives at most one piece: nothing is held back and no tag can
        start in `text` (it has no `<`), so it is all of one kind, whatever the state."""
        return not self._held and "<" not in text

    def feed(self, text: str) -> list[Piece]:
        pieces: list[Piece] = []
        text = self._held + text
        self._held = ""
        if self._state == "start":
            rest = text.lstrip()
            if not rest or OPEN.startswith(rest):
                self._held = text  # could still be "<think>": wait for more
                return pieces
            if rest.startswith(OPEN):
                self._state = "think"
                text = rest[len(OPEN):]
            else:
                self._state = "open"
        if self._state == "think":
            end = text.find(CLOSE)
            if end < 0:
                keep = _partial_tail(text, CLOSE)
                self._held = text[len(text) - keep:] if keep else ""
                if text[: len(text) - keep]:
                    pieces.append(("reasoning", text[: len(text) - keep]))
                return pieces
            if end:
                pieces.append(("reasoning", text[:end]))
            self._state, self._strip = "answer", True
            text = text[end + len(CLOSE):]
        elif self._state == "open":
            end = text.find(CLOSE)
            if end < 0:
                keep = _partial_tail(text, CLOSE)
                self._held = text[len(text) - keep:] if keep else ""
                if text[: len(text) - keep]:
                    pieces.append(("answer", text[: len(text) - keep]))
                return pieces
            pieces.append(("retract", ""))
            if end:
                pieces.append(("reasoning", text[:end]))
            self._state, self._strip = "answer", True
            text = text[end + len(CLOSE):]
        if self._strip:
            text = text.lstrip()
            if not text:
                return pieces
            self._strip = False
        if text:
            pieces.append(("answer", text))
        return pieces

    def close(self) -> list[Piece]:
        """The content ended: what was held back (a tag that never completed) is text."""
        held, self._held = self._held, ""
        if not held or (self._strip and not held.strip()):
            return []
        return [("reasoning" if self._state == "think" else "answer", held)]
