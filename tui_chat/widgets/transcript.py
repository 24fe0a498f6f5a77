"""Transcript: the scrolling log of messages. Follows the stream unless the person scrolled up.

A stored conversation is virtual: only the messages near the viewport are mounted (a layout
pass visits every mounted widget, and each costs memory). Above and below them room is made for
the others (see `_make_room`), as tall as they are, measured once they have been mounted and
estimated (from their text) before; so the scrollbar is honest. As the person scrolls, messages
that come near are mounted and far ones unmounted; whatever was at the top of the viewport keeps
its place on screen when the estimates above it turn out wrong (see `arrange`).

Messages added while the conversation goes on (the prompt, the streaming answer) are mounted
after the stored ones and stay mounted. A view shown in place of another (a version of an
answer, an answer continued) goes in through `replace`, which keeps this bookkeeping right.
"""

from __future__ import annotations

import gc
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.geometry import Region, Size
from textual.layout import DockArrangeResult, WidgetPlacement
from textual.reactive import var
from textual.timer import Timer
from textual.widget import Widget

from tui_chat import gc_pauses
from tui_chat.compat.textual_hooks import count, overrides, repaint_scrollbar
from tui_chat.pacing import PACING

Estimate = Callable[[Any, int], int]
"""A stored row's height in lines (margin included) at a width, guessed from its text."""


def estimate_lines(row: Any, width: int) -> int:
    """A plain guess from a row's `content`: its lines, wrapped at `width`, plus one."""
    text: str = getattr(row, "content", "") or ""
    width = max(1, width)
    return 1 + sum(1 + len(line) // width for line in text.split("\n"))


class TranscriptSpacer(Widget):
    """Where the messages that are not mounted go, above (`above`) or below them: a widget of
    no height and no margin, that the transcript's `arrange` moves the messages after by
    `lines`. Not a widget that tall: Textual marks every line of a widget whose size changes
    as dirty, one by one in a set, and the spacers change size with every step of the window
    (tens of thousands of lines in a long conversation: a third of the CPU of paging through
    10,000 messages). Nor a margin that tall: Textual's spatial map of an arrangement keeps a
    list for every 100x20 cells a widget covers with its margin, made again with every layout
    (while an answer streams, every frame) and scanned by every full garbage collection: 4,000
    lists for 10,000 messages."""

    DEFAULT_CSS = """
    TranscriptSpacer { height: 0; width: 1; }
    """

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.lines = 0

    def set_lines(self, lines: int) -> None:
        if lines != self.lines:
            self.lines = lines
            self.refresh(layout=True)  # the transcript arranges its messages again

    def render_line(self, y: int) -> Any:
        from textual.strip import Strip

        return Strip.blank(self.size.width, self.rich_style)


class _Slot:
    """One stored message: how to make its view, its height, and its view while mounted."""

    __slots__ = ("height", "make", "measured", "row", "view")

    def __init__(self, row: Any, make: Callable[[], Widget]) -> None:
        self.row = row
        self.make = make
        self.height = 0
        self.measured = False
        """`height` is what the layout gave its view (at the current width), not a guess."""
        self.view: Widget | None = None


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

    MARGIN: ClassVar[float] = 1.0
    """Screens of messages kept mounted above and below the viewport (scrolling a page shows
    messages already laid out). Beyond three times as much they are unmounted."""

    UNMOUNTS_PER_COLLECTION: ClassVar[int] = 24
    """While scrolling holds full collections back, one runs after this many unmounts: a
    removed view leaves ~300 objects in reference cycles, and a full collection costs about
    its garbage (with 400, a collection every ~60 PgUp took 250-450 ms of CPU; with 24, one
    every ~4 PgUp takes 20-60 ms, on this machine)."""

    MOUNT_STEP: ClassVar[int] = 2
    """At most this many messages are mounted in one go beyond those on screen, one go per
    frame (mounting one, and laying it out, costs 5-10 ms on this machine: six at once made
    each PgUp stall the screen 70-80 ms)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._slots: list[_Slot] = []
        self._first = 0
        self._end = 0
        """The mounted window: slots[_first:_end]."""
        self._estimate: Estimate = estimate_lines
        self._view_for: Callable[[Any], Widget] | None = None
        self._width = -1
        """The width the heights are for."""
        self._offsets: list[int] | None = [0]
        """Where each slot starts (and the total at the end); None: to be summed again."""
        self._above: TranscriptSpacer | None = None
        self._below: TranscriptSpacer | None = None
        self._anchor: tuple[int | Widget, int] | None = None
        """(slot index or a mounted widget, its top minus scroll_y): kept on screen there."""
        self._arranged: DockArrangeResult | None = None
        """The last arrangement, with room made for the unmounted messages (`_make_room`)."""
        self._laid: DockArrangeResult | None = None
        self._laid_lines = (0, 0)
        """What the layout placed that `_arranged` was made from, and the spacers' lines."""
        self._refreshing = False
        self._again = False
        self._collection_timer: Timer | None = None
        self._unmounted = 0
        self._pending: Widget | None = None
        """A view to bring to the top of the viewport once it has been laid out."""

    def on_mount(self) -> None:
        self.anchor()

    # -- a stored conversation ---------------------------------------------------------------

    @property
    def stored(self) -> int:
        """How many stored messages the transcript shows (mounted or not)."""
        return len(self._slots)

    @property
    def mounted_range(self) -> tuple[int, int]:
        """Which stored messages are mounted: [first, end)."""
        return self._first, self._end

    async def show_rows(self, rows: Sequence[Any], view_for: Callable[[Any], Widget], *,
                        estimate: Estimate = estimate_lines, at: int | None = None) -> None:
        """Show a stored conversation in place of what is shown: its end, or with `at` the
        row of that index at the top of the viewport. Each view is made by `view_for` when it
        comes near the viewport; `estimate` guesses the height of those not made yet."""
        await self.clear()
        self._estimate, self._view_for = estimate, view_for
        self._slots = [_Slot(row, _maker(view_for, row)) for row in rows]
        # The rows live as long as the conversation is open: out of the collector's sight
        # (as the app does with what it holds once started), a full collection does not scan
        # them again and again while the person scrolls (measured: 280-370 ms for 2,000).
        gc.freeze()
        self._width = -1
        self._above, self._below = TranscriptSpacer("above"), TranscriptSpacer("below")
        await self.mount_all([self._above, self._below])
        if not self._slots:
            return
        self._measure_estimates()
        if at is None:
            self._first = self._end = len(self._slots)
            self.scroll_end(animate=False, immediate=True)
            await self._mount_window(*self._wanted(self._total() - self._viewport_height(),
                                                   at_end=True))
        else:
            await self.reveal(at)

    async def clear(self) -> None:
        """Remove every message, stored or added."""
        self._slots = []
        self._first = self._end = 0
        self._offsets = [0]
        self._anchor = None
        self._pending = None
        self._above = self._below = None
        for child in self.children:
            release = getattr(child, "release", None)
            if release is not None:
                release()
        await self.remove_children()

    async def replace(self, old: Widget, new: Widget, *, row: Any = None) -> None:
        """Put `new` where `old` is, in one frame: one painted between the two steps would
        show both. When `old` is a stored message's view, `new` is from now on the view of
        `row` (scrolled away and back, it is made from `row`); with no `row`, `new` leaves the
        stored messages and stays mounted, as an answer added since does (an answer that grows
        again must not be unmounted while it streams): `old` is then the last stored one."""
        index = next((i for i in range(self._first, self._end) if self._slots[i].view is old),
                     None)
        with self.app.batch_update():
            if index is None:
                await self.mount(new, before=old)
            elif row is not None:
                slot = self._slots[index]
                slot.row, slot.view, slot.measured = row, new, False
                if self._view_for is not None:
                    slot.make = _maker(self._view_for, row)
                await self.mount(new, before=old)
            else:
                if index != len(self._slots) - 1:
                    raise ValueError("only the last stored message can leave the stored ones")
                self._slots.pop()
                self._end = len(self._slots)
                self._first = min(self._first, self._end)
                self._offsets = None
                await self.mount(new, after=self._below)
                self._spacers()
            if self._anchor is not None and self._anchor[0] is old:
                self._anchor = (new, self._anchor[1])
            if self._pending is old:
                self._pending = new
            await old.remove()

    async def reveal(self, index: int) -> Widget | None:
        """Mount stored message `index` (and its neighbours) and scroll it to the top of the
        viewport: a search hit, a jump. Returns its view."""
        if not 0 <= index < len(self._slots):
            return None
        if self._content_width() != self._width:
            self._measure_estimates()
            self._spacers()
        offsets = self._positions()
        top = offsets[index]
        first, end = self._wanted(top, at_end=False)
        first, end = min(first, index), max(end, index + 1)
        self.release_anchor()
        self._anchor = (index, 0)
        await self._mount_window(first, end)
        view = self._slots[index].view
        self._pending = view
        self.scroll_to(y=self._positions()[index], animate=False, immediate=True)
        return view

    async def show_end(self) -> None:
        """Mount the last stored messages (as when the conversation was opened)."""
        if self._slots and self._end < len(self._slots):
            self._anchor = None
            self._measure_estimates()
            await self._mount_window(*self._wanted(self._total() - self._viewport_height(),
                                                   at_end=True))

    async def neighbour(self, current: Widget | None, step: int) -> Widget | None:
        """The message before (`step` -1) or after (1) `current`, mounted if it was not;
        with no `current`, the first (step 1) or last (-1) one. None past either end."""
        messages = [child for child in self.children if child.focusable]
        slot_of = {slot.view: index for index, slot in enumerate(self._slots)
                   if slot.view is not None}
        stored = len(self._slots)
        # Every message in order: stored slots by index, then the added ones.
        added = [child for child in messages if child not in slot_of]
        if current is None:
            position = -1 if step > 0 else stored + len(added)
        elif current in slot_of:
            position = slot_of[current]
        elif current in added:
            position = stored + added.index(current)
        else:
            return None
        target = position + step
        if target < 0 or target >= stored + len(added):
            return None
        if target >= stored:
            return added[target - stored]
        view = self._slots[target].view
        if view is None:
            view = await self.reveal(target)
        return view

    # -- heights -----------------------------------------------------------------------------

    # From the size the last layout gave the transcript, not from `scrollable_content_region`:
    # that asks the compositor where the transcript is, and while a layout is under way (in
    # `arrange`, `_size_updated`) the compositor answers by arranging the whole screen a
    # second time (its "full map"): 40 % of the transcript's layout time while paging.

    def _content_width(self) -> int:
        width = self.outer_size.width - self.styles.gutter.width - self.scrollbar_gutter.width
        return width if width > 0 else 80

    def _viewport_height(self) -> int:
        height = (self.outer_size.height - self.styles.gutter.height
                  - self.scrollbar_gutter.height)
        return height if height > 0 else 24

    def _measure_estimates(self) -> None:
        """Heights for the current width: guessed for every slot measured at another one."""
        width = self._content_width()
        if width == self._width:
            return
        self._width = width
        estimate = self._estimate
        for slot in self._slots:
            slot.height = max(1, estimate(slot.row, width))
            slot.measured = False
        self._offsets = None

    def _positions(self) -> list[int]:
        if self._offsets is None:
            self._offsets = [0, *accumulate(slot.height for slot in self._slots)]
        return self._offsets

    def _total(self) -> int:
        return self._positions()[-1]

    def _wanted(self, top: float, *, at_end: bool) -> tuple[int, int]:
        """The slots to mount for a viewport starting at `top`."""
        offsets = self._positions()
        height = self._viewport_height()
        margin = int(self.MARGIN * height)
        first = max(0, bisect_right(offsets, top - margin) - 1)
        end = len(self._slots) if at_end else min(
            len(self._slots), bisect_right(offsets, top + height + margin))
        return first, max(end, first + 1)

    # -- mounting and unmounting ------------------------------------------------------------

    def _spacers(self) -> None:
        offsets = self._positions()
        if self._above is not None:
            self._above.set_lines(offsets[self._first])
        if self._below is not None:
            self._below.set_lines(offsets[-1] - offsets[self._end])

    async def _mount_window(self, first: int, end: int) -> None:
        """Mount slots[first:end] and unmount the others."""
        slots = self._slots
        if not slots or self._above is None or self._below is None:
            return
        old_first, old_end = self._first, self._end
        if end <= old_first or first >= old_end:  # no overlap: a jump
            gone = [slot.view for slot in slots[old_first:old_end] if slot.view is not None]
            for slot in slots[old_first:old_end]:
                slot.view = None
            self._first = self._end = first
            old_first = old_end = first
        else:
            gone = []
            for slot in [*slots[old_first:first], *slots[end:old_end]]:
                if slot.view is not None:
                    gone.append(slot.view)
                    slot.view = None
            old_first, old_end = max(old_first, first), min(old_end, end)
        before = [slot for slot in slots[first:old_first]]
        after = [slot for slot in slots[old_end:end]]
        for slot in (*before, *after):
            slot.view = slot.make()
        self._first, self._end = first, end
        if gone or before or after:
            self._hold_collections(len(gone))
        with self.app.batch_update():
            if gone:
                for view in gone:  # while still mounted: see MessageView.release
                    release = getattr(view, "release", None)
                    if release is not None:
                        release()
                await self.remove_children(gone)
            if before:
                await self.mount_all([slot.view for slot in before if slot.view is not None],
                                     after=self._above)
            if after:
                await self.mount_all([slot.view for slot in after if slot.view is not None],
                                     before=self._below)
            self._spacers()
        count("transcript.window")

    def _hold_collections(self, unmounted: int) -> None:
        """No full garbage collection of its own accord while the person scrolls (it would
        come when the objects made pile up, and take as long as they are many); it runs once
        scrolling stopped for a moment, or after UNMOUNTS_PER_COLLECTION views went, so that
        the unmounted views' garbage never piles up."""
        if self._collection_timer is None:
            gc_pauses.hold()
            self._collection_timer = self.set_timer(PACING.collect_after, self._collect)
        else:
            self._collection_timer.reset()
        self._unmounted += unmounted
        if self._unmounted >= self.UNMOUNTS_PER_COLLECTION:
            self._collect()

    def on_unmount(self) -> None:
        # The app quit while scrolling held collections back: give the hold back.
        if self._collection_timer is not None:
            self._collection_timer.stop()
            self._collection_timer = None
            gc_pauses.release()

    def _collect(self) -> None:
        if self._collection_timer is not None:
            self._collection_timer.stop()
            self._collection_timer = None
            self._unmounted = 0
            gc_pauses.release()
            gc_pauses.collect_when_idle()

    def _schedule_window(self) -> None:
        if self._refreshing:
            self._again = True
            return
        self._refreshing = True
        self.call_later(self._refresh_window)

    async def _refresh_window(self, after_frame: bool = False) -> None:
        """Mount what came near the viewport, unmount what went far: what is on screen at
        once, the margin MOUNT_STEP messages a side at a time, each after a frame (and the
        first after the frame that shows the scroll, when what it shows is mounted already:
        a PgUp is drawn at once, and the margin catches up in the frames after it)."""
        more = False
        try:
            self._again = False
            if not self._slots or not self.is_mounted:
                return
            if self._pending is not None:  # a jump is being laid out: after it
                more = True
                return
            width_changed = self._content_width() != self._width
            self._measure_estimates()
            if width_changed:
                self._spacers()
            offsets = self._positions()
            count_ = len(self._slots)
            top = self.scroll_y
            height = self._viewport_height()
            margin = int(self.MARGIN * height)
            first, end = self._wanted(top, at_end=False)
            keep_first = max(0, bisect_right(offsets, top - 3 * margin) - 1)
            keep_end = min(count_, bisect_right(offsets, top + height + 3 * margin))
            shown_first = min(max(0, bisect_right(offsets, top) - 1), count_ - 1)
            shown_end = max(min(count_, bisect_right(offsets, top + height)), shown_first + 1)
            step = self.MOUNT_STEP
            if not after_frame and self._first <= shown_first and shown_end <= self._end:
                more = True  # what is on screen is mounted: the margin after this frame
                return
            if self._first < self._end and shown_end >= self._first and \
                    shown_first <= self._end:
                # What is on screen is mounted or next to it: grow (and trim) the window.
                first = min(first, max(self._first, keep_first))
                end = max(end, min(self._end, keep_end))
                step_first = max(first, min(self._first, shown_first) - step)
                step_end = min(end, max(self._end, shown_end) + step)
            else:  # a jump: a new window around what is on screen
                step_first = max(first, shown_first - step // 2)
                step_end = min(end, shown_end + step // 2)
            more = (step_first, step_end) != (first, end)
            if (step_first, step_end) != (self._first, self._end):
                self._set_anchor()
                await self._mount_window(step_first, step_end)
        finally:
            self._refreshing = False
            if more or self._again:
                # Let the frame with what was mounted reach the screen before more.
                self._refreshing = True
                self.call_after_refresh(self._refresh_window, True)

    def _window_short(self) -> bool:
        """The viewport came near the edge of what is mounted, or went far from it."""
        if not self._slots:
            return False
        offsets = self._positions()
        top = self.scroll_y
        height = self._viewport_height()
        margin = self.MARGIN * height
        if self._first > 0 and offsets[self._first] > top - margin / 2:
            return True
        if self._end < len(self._slots) and offsets[self._end] < top + height + margin / 2:
            return True
        return (offsets[self._first] < top - 4 * margin
                or offsets[self._end] > top + height + 4 * margin)

    # -- keeping the place ----------------------------------------------------------------

    def _set_anchor(self) -> None:
        """Note what is at the top of the viewport now, to keep it there."""
        if not self.detached:
            self._anchor = None
            return
        top = self.scroll_y
        offsets = self._positions()
        if self._slots and top < offsets[-1]:
            index = max(0, bisect_right(offsets, top) - 1)
            self._anchor = (index, round(offsets[index] - top))
            return
        # Among the messages added after the stored ones.
        arranged = self._arranged
        if arranged is None:
            self._anchor = None
            return
        for placement in arranged.placements:
            region = placement.region
            if region.bottom > top and placement.widget not in (self._above, self._below):
                self._anchor = (placement.widget, round(region.y - top))
                return
        self._anchor = None

    def arrange(self, size: Size, optimal: bool = False) -> DockArrangeResult:
        # Here the layout has just placed the messages, and the compositor has not yet placed
        # them on screen: heights are measured, and the scroll offset is set so that what was
        # at the top of the viewport still is, in this same frame (as Textual's own anchor to
        # the end does), so a wrong estimate never makes the text jump.
        laid = super().arrange(size, optimal)
        above, below = self._above, self._below
        if above is None or below is None:
            self._laid = self._arranged = laid
            return laid
        lines = (above.lines, below.lines)
        if laid is self._laid and lines == self._laid_lines and self._arranged is not None:
            return self._arranged
        self._laid, self._laid_lines = laid, lines
        result = self._arranged = DockArrangeResult(
            _make_room(laid.placements, above, below), laid.widgets, laid.scroll_spacing)
        if not self._slots:
            return result
        slots = self._slots
        if self._width == size.width:
            # Heights from where the layout put each message, before `_make_room`.
            laid_tops = {placement.widget: placement.region.y for placement in laid.placements}
            changed = False
            below_top = laid_tops.get(below)
            for index in range(self._first, self._end):
                view = slots[index].view
                if view is None or view not in laid_tops:
                    continue
                following = slots[index + 1].view if index + 1 < self._end else below
                next_top = laid_tops.get(following) if following is not None else below_top
                if next_top is None:
                    continue
                height = next_top - laid_tops[view]
                if height > 0 and (height != slots[index].height or not slots[index].measured):
                    changed = changed or height != slots[index].height
                    slots[index].height = height
                    slots[index].measured = True
            if changed:
                self._offsets = None
        tops: dict[Widget, int] = {placement.widget: placement.region.y
                                   for placement in result.placements}
        if self._pending is not None and self._pending in tops:
            self._anchor = (self._pending, 0)
            self._pending = None
        anchor = self._anchor
        if anchor is not None:
            key, offset = anchor
            view = key if isinstance(key, Widget) else slots[key].view
            y = tops.get(view) if view is not None else None
            if y is not None:
                bottom = result.spatial_map.total_region.bottom
                most = max(0, bottom - size.height)
                scroll = float(max(0, min(most, y - offset)))
                if scroll != self.scroll_y:
                    self.set_reactive(Widget.scroll_y, scroll)
                    self.set_reactive(Widget.scroll_target_y, scroll)
                    self.vertical_scrollbar.position = scroll
                    self.detached = scroll < most - 0.5
        return result

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
        if self._slots and self._content_width() != self._width:
            self._set_anchor()
            self._schedule_window()
        return changed

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.detached = new < self.max_scroll_y - 0.5
        if new != old and self._slots and self._pending is None:
            self._set_anchor()
            if self._window_short():
                self._schedule_window()

    def action_scroll_home(self) -> None:
        """Home: the start of the conversation, at once (an animation would pass through
        every message between, mounting each on the way)."""
        self._anchor = None
        self.scroll_home(animate=False, immediate=True)

    def action_follow(self) -> None:
        """Jump to the end and follow new text again."""
        self._anchor = None
        self.scroll_end(animate=False, immediate=True)
        self.detached = False
        if self._slots and self._end < len(self._slots):
            self._schedule_window()


def _make_room(placements: list[WidgetPlacement], above: TranscriptSpacer,
               below: TranscriptSpacer) -> list[WidgetPlacement]:
    """The layout's placements with room made for the messages that are not mounted: what
    comes after `above` moved down by its lines, what comes after `below` by its lines too
    (as a margin that tall would have: collapsed with the next one's top margin), and `below`
    a line of no height where the unmounted messages end, so that the arrangement is as tall
    as the whole conversation (the scrollbar) while covering only what is mounted."""
    shift = 0
    placed: list[WidgetPlacement] = []
    add = placed.append
    after_below = False
    for placement in placements:
        widget = placement.widget
        if widget is above:
            shift = above.lines
        elif widget is below:
            region = placement.region
            add(placement._replace(region=Region(region.x, region.y + shift + below.lines,
                                                 region.width, 0)))
            after_below = True
            continue
        elif after_below:
            top = placement.margin.top
            shift += max(below.lines, top) - top
            after_below = False
        if shift and not placement.fixed and not placement.absolute:
            placement = placement._replace(region=placement.region.translate((0, shift)))
        add(placement)
    return placed


def _maker(view_for: Callable[[Any], Widget], row: Any) -> Callable[[], Widget]:
    return lambda: view_for(row)
