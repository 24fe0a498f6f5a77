"""RowCompositor: Textual's compositor, made to send the terminal only what changed.

Textual's compositor is built for correctness over thrift, which costs twice on every frame of
a streaming answer:

- CPU: for any dirty line it asks *every* visible widget to render its whole visible area (a
  widget is picked when its container overlaps the update, not when it does), then throws
  away all but the dirty lines. Here each widget renders only the rows being updated.
- Bytes: it rewrites each dirty line from the widget's left edge with a colour reset after
  every run of text, and when the log scrolls it rewrites every row that moved. Here a copy of
  what the terminal shows (`TerminalRows`) is kept; each update sends only the cells that
  differ from it, with one colour code per change of style, and rows that moved are moved by
  the terminal itself (a scroll region and line feeds) rather than drawn again.

Textual's compositor is private API: this module is imported only once
`tui_chat.compat.textual_hooks` has checked it (hook "compositor").

The copy is only trusted while this compositor is the one writing: the chat screen forgets it
when another screen takes over, on resize and when the app comes back from a suspend, and the
next full repaint fills it again. Anything unexpected in an update falls back to Textual's own
output for that frame.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.color import ColorSystem
from rich.segment import Segment
from textual.geometry import Region
from textual.strip import Strip

from tui_chat.compat.textual_hooks import (
    ChopsUpdate,
    Compositor,
    CompositorUpdate,
    LayoutUpdate,
    count,
)

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from textual.screen import Screen

log = logging.getLogger(__name__)

SCROLL_MIN_ROWS = 3
"""Rows that must reappear shifted before the terminal is asked to scroll them."""


def move_to(x: int, y: int) -> str:
    """CUP: put the cursor at column `x`, row `y` (both from 0)."""
    return f"\x1b[{y + 1};{x + 1}H"


def render_strip(strip: Iterable[Segment], color_system: ColorSystem) -> str:
    """A strip as terminal text with one SGR sequence per change of style.

    Textual wraps every segment in its own codes and a reset; neighbouring segments often
    share a style (a line of text and the padding after it), so this sends less. The output
    starts and ends with default attributes, like Textual's.
    """
    parts: list[str] = []
    append = parts.append
    current = ""
    render_ansi = Strip.render_ansi
    for text, style, control in strip:
        if control or not text:
            continue
        if style is None:
            codes = ""
        elif style.link:
            # Hyperlinks carry their own OSC 8 wrapper; let Textual draw them whole.
            if current:
                append("\x1b[0m")
                current = ""
            append(Strip.render_style(style, text, color_system))
            continue
        else:
            codes = style._ansi if style._ansi is not None else render_ansi(style, color_system)
        if codes != current:
            if not codes:
                append("\x1b[0m")
            elif current:
                append(f"\x1b[0;{codes}m")
            else:
                append(f"\x1b[{codes}m")
            current = codes
        append(text)
    if current:
        append("\x1b[0m")
    return "".join(parts)


def _pieces(segments: Iterable[Segment], reverse: bool) -> Iterator[tuple[str, object]]:
    """(text, style) of each non-empty segment; texts reversed when walking from the end."""
    ordered = reversed(list(segments)) if reverse else segments
    for text, style, control in ordered:
        if text and not control:
            yield (text[::-1] if reverse else text), style


def _common_prefix_length(a: str, b: str) -> int:
    if a.startswith(b):
        return len(b)
    if b.startswith(a):
        return len(a)
    low, high = 0, min(len(a), len(b))
    while low < high:  # slices compare in C; a binary search needs log2(120) of them
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def common_cells(old: Strip, new: Strip, *, reverse: bool = False) -> int:
    """How many cells from the start (or from the end) of two strips look the same.

    Compares text and style; stops at a character boundary of both strips, so cutting there
    never splits a wide character.
    """
    old_pieces = _pieces(old, reverse)
    new_pieces = _pieces(new, reverse)
    cells = 0
    old_text = new_text = ""
    old_style = new_style = None
    while True:
        if not old_text:
            piece = next(old_pieces, None)
            if piece is None:
                return cells
            old_text, old_style = piece
        if not new_text:
            piece = next(new_pieces, None)
            if piece is None:
                return cells
            new_text, new_style = piece
        if old_style != new_style:
            return cells
        if old_text == new_text:
            cells += cell_len(old_text)
            old_text = new_text = ""
            continue
        same = _common_prefix_length(old_text, new_text)
        cells += cell_len(old_text[:same])
        if same < len(old_text) and same < len(new_text):
            return cells
        old_text, new_text = old_text[same:], new_text[same:]


def split_segments(segments: Sequence[Segment],
                   cut: int) -> tuple[list[Segment], list[Segment]] | None:
    """The segments of a row before cell `cut`, and from it on; None if the cut falls inside
    a wide character."""
    cells = 0
    for index, segment in enumerate(segments):
        if cells >= cut:
            return list(segments[:index]), list(segments[index:])
        length = cell_len(segment.text)
        if cells + length > cut:
            left, right = segment.split_cells(cut - cells)
            if left.text + right.text != segment.text:
                return None  # Rich made the halves of a wide character two spaces
            return [*segments[:index], left], [right, *segments[index + 1:]]
        cells += length
    return list(segments), []


def _same_cells(old: Sequence[Segment], new: Sequence[Segment], reverse: bool) -> int:
    """How many cells from the start (or the end) of two runs of segments look the same: the
    list-walking twin of common_cells, for one span of a row."""
    if reverse:
        old, new = old[::-1], new[::-1]
    old_count, new_count = len(old), len(new)
    i = j = cells = 0
    old_text = new_text = ""
    old_style = new_style = None
    while True:
        if not old_text:
            if i >= old_count:
                return cells
            old_text, old_style, _ = old[i]
            i += 1
            if reverse:
                old_text = old_text[::-1]
            continue
        if not new_text:
            if j >= new_count:
                return cells
            new_text, new_style, _ = new[j]
            j += 1
            if reverse:
                new_text = new_text[::-1]
            continue
        if old_style != new_style:
            return cells
        if old_text == new_text:
            cells += cell_len(old_text)
            old_text = new_text = ""
            continue
        same = _common_prefix_length(old_text, new_text)
        cells += cell_len(old_text[:same])
        if same < len(old_text) and same < len(new_text):
            return cells
        old_text, new_text = old_text[same:], new_text[same:]


def _row_key(strip: Strip) -> tuple[Segment, ...]:
    return tuple(strip)


def find_shift(
    old: Sequence[Strip | None], new: Mapping[int, Strip]
) -> tuple[int, int, int] | None:
    """A vertical move that would turn many old rows into new ones: (top, bottom, k).

    Rows `top`..`bottom` (inclusive) moved up by `k` (down when `k` is negative): new row `y`
    equals old row `y + k` for at least `SCROLL_MIN_ROWS` of the changed rows. Rows that
    occur more than twice on the old screen (blank lines) are not evidence of anything.
    """
    where: dict[tuple[Segment, ...], list[int]] = {}
    for y, row in enumerate(old):
        if row is not None:
            where.setdefault(_row_key(row), []).append(y)
    votes: Counter[int] = Counter()
    voters: dict[int, list[int]] = {}
    for y, row in new.items():
        if row is old[y] or row == old[y]:
            continue
        found = where.get(_row_key(row))
        if not found or len(found) > 2:
            continue
        for source in found:
            if source != y:
                votes[source - y] += 1
                voters.setdefault(source - y, []).append(y)
    if not votes:
        return None
    shift, count = votes.most_common(1)[0]
    if count < SCROLL_MIN_ROWS:
        return None
    rows = voters[shift]
    if shift > 0:
        top, bottom = min(rows), max(rows) + shift
    else:
        top, bottom = min(rows) + shift, max(rows)
    if bottom - top + 1 <= abs(shift):
        return None
    return top, bottom, shift


class TerminalRows:
    """What the terminal shows, row by row (None: not known), as written by this compositor."""

    def __init__(self) -> None:
        self.rows: list[Strip | None] = []
        self.width = 0

    def forget(self) -> None:
        """Something else may have drawn on the terminal: trust nothing until a full repaint."""
        self.rows = []

    def fits(self, width: int, height: int) -> bool:
        return self.width == width and len(self.rows) == height

    def reset(self, width: int, height: int) -> None:
        self.width = width
        self.rows = [None] * height

    def scroll(self, top: int, bottom: int, shift: int) -> str:
        """Move rows `top`..`bottom` up by `shift` (down if negative) with the terminal's own
        scrolling, and record the rows it leaves blank. Returns the sequence to send."""
        rows = self.rows
        blank: Strip | None = Strip([Segment(" " * self.width)], self.width)
        count = abs(shift)
        band = rows[top:bottom + 1]
        if shift > 0:
            moved = band[count:] + [blank] * count
            # Line feeds at the bottom margin scroll the region up, on every terminal.
            sequence = f"\x1b[{top + 1};{bottom + 1}r{move_to(0, bottom)}" + "\n" * count
        else:
            moved = [blank] * count + band[:-count]
            # Reverse index at the top margin scrolls the region down.
            sequence = f"\x1b[{top + 1};{bottom + 1}r{move_to(0, top)}" + "\x1bM" * count
        rows[top:bottom + 1] = moved
        return sequence + "\x1b[r"


class DiffUpdate(CompositorUpdate):
    """One frame, written as the difference from what the terminal shows."""

    def __init__(self, update: LayoutUpdate | ChopsUpdate, shown: TerminalRows,
                 size: tuple[int, int]) -> None:
        self.update = update
        self.shown = shown
        self.size = size

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.update  # printed to a console (a screenshot, say): Textual's own drawing

    def render_segments(self, console: Console) -> str:
        color_system = console._color_system or ColorSystem.TRUECOLOR
        try:
            if isinstance(self.update, LayoutUpdate):
                written = self._full(console, color_system)
            else:
                written = self._partial(color_system)
        except Exception:  # the copy may be off now: draw Textual's way and start again
            log.exception("differential update failed; drawing the whole frame")
            self.shown.forget()
            return self.update.render_segments(console)
        count("compositor.diff")
        return written

    def _full(self, console: Console, color_system: ColorSystem) -> str:
        update = self.update
        assert isinstance(update, LayoutUpdate)
        width, height = self.size
        shown = self.shown
        if update.region != Region(0, 0, width, height):
            shown.forget()
            return update.render_segments(console)
        rows = {y: Strip.join(line) for y, line in enumerate(update.strips)}
        if not shown.fits(width, height):
            shown.reset(width, height)
        return self._write(rows, color_system)

    def _partial(self, color_system: ColorSystem) -> str:
        update = self.update
        assert isinstance(update, ChopsUpdate)
        width, height = self.size
        shown = self.shown
        if not shown.fits(width, height):
            shown.reset(width, height)
        spans = update.spans
        if len(spans) <= SCROLL_MIN_ROWS and len({y for y, _, _ in spans}) == len(spans):
            written = self._spans(color_system)
            if written is not None:
                return written
        rows: dict[int, Strip] = {}
        direct: list[str] = []
        for y, x1, x2 in spans:
            content = _span(update.chops[y], update.chop_ends[y], x1, x2)
            base = rows.get(y) or shown.rows[y]
            if base is None:
                # Not known what the rest of the row shows: write the span as Textual would.
                direct.append(move_to(x1, y) + render_strip(content, color_system))
                continue
            rows[y] = Strip.join([base.crop(0, x1), content, base.crop(x2)])
        return "".join(direct) + self._write(rows, color_system)

    def _spans(self, color_system: ColorSystem) -> str | None:
        """A few rows changed, one span each (a streamed frame: a line of text and perhaps the
        status bar): each span is compared with what the terminal shows there, and only the
        cells between the first and the last that differ are sent. The same cells as _write
        finds, without making a Strip for every piece of every row (that was three quarters
        of the time, ~85 of 110 µs a row). None: a row is not known; _write's way then."""
        update = self.update
        assert isinstance(update, ChopsUpdate)
        shown_rows = self.shown.rows
        if any(shown_rows[y] is None for y, _, _ in update.spans):
            return None
        width = self.shown.width
        out: list[str] = []
        new_rows: list[tuple[int, Strip]] = []
        for y, x1, x2 in update.spans:
            content = list(_span(update.chops[y], update.chop_ends[y], x1, x2))
            if any(control for _, _, control in content):
                return None  # nothing Textual paints has them; leave it to the general way
            before = shown_rows[y]
            assert before is not None
            # A span's edge inside a wide character shown there: the cells beside the span
            # change too (Textual's crop turns the character into spaces).
            if (cut := split_segments(list(before), x1)) is None:
                return None
            left, rest = cut
            if (cut := split_segments(rest, x2 - x1)) is None:
                return None
            middle, right = cut
            start = _same_cells(middle, content, reverse=False)
            if start < x2 - x1:
                end = x2 - x1 - _same_cells(middle, content, reverse=True)
                if end > start:
                    changed = content[:]
                    if (cut := split_segments(changed, end)) is None \
                            or (cut := split_segments(cut[0], start)) is None:
                        return None  # not at a character boundary of both (cannot happen)
                    out.append(move_to(x1 + start, y) + render_strip(cut[1], color_system))
            new_rows.append((y, Strip([*left, *content, *right], width)))
        for y, row in new_rows:
            shown_rows[y] = row
        return "".join(out)

    def _write(self, rows: dict[int, Strip], color_system: ColorSystem) -> str:
        """Send what turns the shown rows into `rows` (full-width strips by row)."""
        shown = self.shown
        old = shown.rows
        out: list[str] = []
        if len(rows) > SCROLL_MIN_ROWS and all(old[y] is not None for y in rows):
            shift = find_shift(old, rows)
            if shift is not None:
                top, bottom, count = shift
                out.append(shown.scroll(top, bottom, count))
                for y in range(top, bottom + 1):
                    if y not in rows:
                        rows[y] = old[y]  # type: ignore[assignment]
                old = shown.rows
        for y in sorted(rows):
            new = rows[y]
            before = old[y]
            old[y] = new
            if before is None:
                out.append(move_to(0, y) + render_strip(new, color_system))
                continue
            if new is before or new == before:
                continue
            start = common_cells(before, new)
            end = new.cell_length - common_cells(before, new, reverse=True)
            if end <= start:
                continue
            out.append(move_to(start, y) + render_strip(new.crop(start, end), color_system))
        return "".join(out)


def _span(chops: Mapping[int, Strip | None], ends: Sequence[int], x1: int, x2: int) -> Strip:
    """The cells `x1`..`x2` of a row from the compositor's chops (pieces cut at widget edges)."""
    pieces: list[Strip] = []
    for end, (x, strip) in zip(ends, chops.items(), strict=False):
        if strip is not None and x <= x1 and end >= x2 and not pieces:  # one widget's piece
            span = strip.crop(x1 - x, x2 - x)
            if span.cell_length != x2 - x1:
                raise ValueError(f"the update covers {span.cell_length} of {x2 - x1} cells")
            return span
        if strip is None or end <= x1 or x >= x2:
            continue
        pieces.append(strip.crop(max(x1, x) - x, min(x2, end) - x))
    span = Strip.join(pieces)
    if span.cell_length != x2 - x1:
        raise ValueError(f"the update covers {span.cell_length} of {x2 - x1} cells")
    return span


class RowCompositor(Compositor):
    """A compositor that renders only the rows it updates and sends only the cells that change."""

    def __init__(self) -> None:
        super().__init__()
        self.shown = TerminalRows()
        """What this compositor last put on the terminal."""

    def forget_terminal(self) -> None:
        self.shown.forget()

    def _get_renders(
        self, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if crop is None:
            yield from super()._get_renders(crop)
            return
        # Each widget renders the update's rows only. The clip is narrowed to those rows, so
        # the caller pairs strips with rows exactly as it does for a partly visible widget.
        # Widgets come front to back and the front one wins every cell it covers, so once one
        # covers the whole update, nothing behind it can show.
        count("compositor.rows")
        rows = Region(0, crop.y, self.size.width, crop.height)
        for widget, (region, clip) in self.visible_widgets.items():
            clip = clip.intersection(rows)
            visible = region.intersection(clip)
            x, y, width, height = visible
            if not (width and height and visible.overlaps(crop)):
                continue
            yield region, clip, widget.render_lines(
                Region(x - region.x, y - region.y, width, height))
            if visible.contains_region(crop):
                return

    def render_update(
        self, full: bool = False, screen_stack: list[Screen[Any]] | None = None,
        simplify: bool = False
    ) -> RenderableType | None:
        update = super().render_update(full=full, screen_stack=screen_stack, simplify=simplify)
        if simplify or not isinstance(update, LayoutUpdate | ChopsUpdate):
            return update  # screenshots, and anything this does not know
        return DiffUpdate(update, self.shown, (self.size.width, self.size.height))
