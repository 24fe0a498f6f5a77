"""ChatScreenPart: the base of the chat screen's rooms (storage, queue, titles, attachments).

To mypy a room is a Screen, so `self.query_one`, `self.notify` and the rest type-check; at run
time it is a plain class, so Textual never treats a room as a screen of its own (see
tests/unit/test_frame_timer.py, which checks that every screen is paced).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    ChatScreenPart = Screen[None]
else:
    ChatScreenPart = object

__all__ = ["ChatScreenPart"]
