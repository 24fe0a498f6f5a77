"""Transcript: the scrolling log of messages. Follows the stream unless the person scrolled up."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.reactive import var

from tui_chat.compat.textual_hooks import count, overrides, repaint_scrollbar


@overrides("size", "_size_updated")  # Textual's own, if its private API changed
class Transcript(VerticalScroll):
    """Scrolls with new text while at the bottom; stays put once the person scrolls up."""

    DEFAULT_CSS = """
    Transcript {
        height: 1fr;
        padding: 1 1 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("end", "follow", "Follow", show=False, id="transcript.follow"),
    ]

    detached: var[bool] = var(False)
    """True while the person has scrolled away from the bottom."""

    def on_mount(self) -> None:
        self.anchor()

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size,
                      layout: bool = True) -> bool:
        # Called by the layout that has just arranged the messages (and, when anchored,
        # scrolled to the end); the compositor repaints everything that moved in this same
        # frame, scrollbar included. Textual's default sets virtual_size as a layout reactive,
        # which asks for a second layout and repaints the whole transcript again in the next
        # frame, and the scrollbar queues a repaint of its own: while an answer streams, every
        # jump was sent to the terminal twice.
        count("size.transcript")
        changed = super()._size_updated(size, virtual_size, container_size, layout=False)
        if layout:
            repaint_scrollbar(self)
        return changed

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.detached = new < self.max_scroll_y - 0.5

    def action_follow(self) -> None:
        """Jump to the end and follow new text again."""
        self.scroll_end(animate=False, immediate=True)
        self.detached = False
