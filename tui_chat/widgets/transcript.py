"""Transcript: the scrolling log of messages. Follows the stream unless the person scrolled up.

A long stored conversation is shown windowed: only its last messages are mounted, and earlier
ones are mounted as the person scrolls to the top (or clicks the marker that counts them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import ClassVar, TypeVar

from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import Static

from tui_chat.compat.textual_hooks import count, overrides, repaint_scrollbar

_Row = TypeVar("_Row")


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

    WINDOW: ClassVar[int] = 40
    """Messages mounted when a conversation opens; earlier ones load as the person scrolls up.
    A layout pass visits every mounted widget, so a 1,000-message conversation stays fast."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._unshown: list[Callable[[], Widget]] = []
        """Makers of the views not mounted yet (oldest first)."""
        self._loading_earlier = False

    def on_mount(self) -> None:
        self.anchor()

    # -- windowing of a stored conversation ------------------------------------------------

    @property
    def unshown(self) -> int:
        """How many messages are waiting above the ones shown."""
        return len(self._unshown)

    async def show_rows(self, rows: Sequence[_Row], view_for: Callable[[_Row], Widget], *,
                        shown: int) -> None:
        """Show a stored conversation in place of what is shown: the last `shown` of `rows`
        now, the others (each made by `view_for` when it is needed) as the person scrolls up."""
        await self.clear()
        self._unshown = [partial(view_for, row) for row in rows]
        await self.show_earlier(shown)

    async def clear(self) -> None:
        """Remove every message, shown or waiting."""
        self._unshown = []
        await self.remove_children()

    async def show_earlier(self, count: int | None = None) -> None:
        """Mount up to `count` more of the stored messages above the ones shown."""
        if not self._unshown:
            return
        count = self.WINDOW if count is None else count
        makers, self._unshown = self._unshown[-count:], self._unshown[:-count]
        views = [make() for make in makers]
        first = next((child for child in self.children if child.id != "earlier"), None)
        old_height = self.virtual_size.height
        old_y = self.scroll_y
        with self.app.batch_update():
            if first is not None:
                await self.mount_all(views, before=first)
            else:
                await self.mount_all(views)
            await self._update_earlier_marker()
        if first is not None:
            # Keep what the person was reading in place while content appears above it.
            def keep_place() -> None:
                grown = self.virtual_size.height - old_height
                self.scroll_to(y=old_y + grown, animate=False)

            self.call_after_refresh(keep_place)

    async def _update_earlier_marker(self) -> None:
        marker = self.query_children("#earlier")
        if not self._unshown:
            await marker.remove()
            return
        text = Content(f"↑ {len(self._unshown):,} earlier messages · scroll up or click to "
                       "show more")
        if marker:
            marker.first(Static).update(text)
        else:
            await self.mount(Static(text, id="earlier"), before=0)

    async def on_click(self, event: events.Click) -> None:
        if event.widget is not None and event.widget.id == "earlier":
            await self.show_earlier()

    def _load_earlier_at_top(self) -> None:
        if self._unshown and self.scroll_y <= 0 and not self._loading_earlier:
            self._loading_earlier = True

            async def load() -> None:
                try:
                    await self.show_earlier()
                finally:
                    self._loading_earlier = False

            self.call_later(load)

    # -- following the stream --------------------------------------------------------------

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
        if new != old:
            self._load_earlier_at_top()

    def action_follow(self) -> None:
        """Jump to the end and follow new text again."""
        self.scroll_end(animate=False, immediate=True)
        self.detached = False
