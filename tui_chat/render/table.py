"""Top-level Markdown tables drawn row by row, so a long streaming table costs O(new row).

Column widths come from the header and the completed rows. Each completed row is parsed once
and drawn once per set of column widths; a row being typed is wrapped into the current widths.
Only when a completed row widens a column (or the width changes) is the whole table drawn again.
"""

from __future__ import annotations

import re

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from tui_chat.render.style import RenderStyle

_DELIMITER = re.compile(r"^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_MIN_COLUMN = 3


def split_cells(line: str) -> list[str]:
    """The cells of a table row: split at unescaped pipes, outer pipes optional."""
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip() for cell in _CELL_SPLIT.split(line)]


def is_delimiter_row(line: str) -> bool:
    return "|" in line and "-" in line and _DELIMITER.match(line) is not None


def starts_table(header: str, delimiter: str) -> bool:
    """Whether `header` followed by `delimiter` opens a table (same number of columns)."""
    return ("|" in header and is_delimiter_row(delimiter)
            and len(split_cells(header)) == len(split_cells(delimiter)))


def _alignment(cell: str) -> str:
    if cell.startswith(":") and cell.endswith(":"):
        return "center"
    if cell.endswith(":"):
        return "right"
    return "left"


def _column_widths(desired: list[int], available: int) -> list[int]:
    """Widths that fit `available` cells: as desired if possible, else shared out fairly
    (narrow columns keep their width, wide ones split what is left)."""
    if sum(desired) <= available:
        return list(desired)
    widths = [0] * len(desired)
    remaining = available
    order = sorted(range(len(desired)), key=lambda i: desired[i])
    for position, column in enumerate(order):
        share = remaining // (len(order) - position)
        widths[column] = max(1, min(desired[column], share))
        remaining -= widths[column]
    return widths


class _Row:
    __slots__ = ("cells", "natural", "strips", "widths")

    def __init__(self, cells: list[Text]) -> None:
        self.cells = cells
        self.natural = [max(part.cell_len for part in _cell_lines(cell)) for cell in cells]
        self.widths: tuple[int, ...] = ()
        self.strips: list[Strip] = []


def _cell_lines(cell: Text) -> list[Text]:
    return [cell] if "\n" not in cell.plain else list(cell.split("\n", allow_blank=True))


class TableBlock:
    """A top-level table: its header, delimiter row and body rows."""

    __slots__ = ("_alignments", "_desired", "_rows", "_rules", "_style", "columns", "gap",
                 "lines")

    def __init__(self, header: str, delimiter: str, *, gap: bool = True) -> None:
        self.lines = [header, delimiter]
        self.gap = gap
        delimiters = split_cells(delimiter)
        self.columns = len(delimiters)
        self._alignments = [_alignment(cell) for cell in delimiters]
        self._style: RenderStyle | None = None
        self._rows: list[_Row] = []
        """Parsed completed rows, the header first."""
        self._desired: list[int] = []
        self._rules: tuple[tuple[int, ...], list[Strip]] = ((), [])
        """The top, middle and bottom borders for one set of column widths."""

    def add_line(self, line: str) -> None:
        self.lines.append(line)

    def reset(self) -> None:
        self._style = None
        self._rules = ((), [])

    def _cells(self, line: str, style: RenderStyle, header: bool = False) -> list[Text]:
        cells = split_cells(line)[: self.columns]
        cells += [""] * (self.columns - len(cells))
        base = style.table_header if header else None
        from tui_chat.render.prose import inline_text

        return [inline_text(cell, style, base) for cell in cells]

    def _parse(self, style: RenderStyle) -> None:
        """Parse the completed rows not parsed yet (all of them after a style change)."""
        if style is not self._style:
            self._style = style
            self._rows = []
            self._desired = [0] * self.columns
        rows = self._rows
        sources = self.lines
        while len(rows) < len(sources) - 1:
            index = len(rows)
            line = sources[0] if index == 0 else sources[index + 1]
            row = _Row(self._cells(line, style, header=index == 0))
            rows.append(row)
            self._desired = [max(a, b) for a, b in zip(self._desired, row.natural, strict=True)]

    def render(self, width: int, style: RenderStyle, partial: str = "", cursor: str = "",
               final: bool = False, relex: bool = True) -> list[Strip]:
        self._parse(style)
        columns = self.columns
        # Each cell has one space of padding either side, and there is a border between and
        # around the columns.
        available = width - 3 * columns - 1
        if available < columns * _MIN_COLUMN:
            return self._render_narrow(width, style, partial + cursor)
        typing: _Row | None = None
        desired = self._desired
        if partial or cursor:
            # The row being typed counts for the column widths too, so it does not wrap into
            # columns sized for the rows before it (while it is the widest, every row is
            # drawn again; that stops when it is complete).
            cells = self._cells(partial, style) if partial.strip() else [Text()] * columns
            typing = _Row(cells)
            desired = [max(a, b) for a, b in zip(desired, typing.natural, strict=True)]
        widths = tuple(_column_widths(desired, available))
        cursor_at = None
        if typing is not None and cursor:
            # The cursor does not count for the widths: at the end of the widest cell it
            # made every row draw again on every frame (15 ms for 100 rows), only for the
            # widths to shrink back when the row ended. Where the cell's line is full, it
            # is drawn in the cell's right padding.
            filled = [i for i, cell in enumerate(split_cells(partial)[:columns]) if cell]
            last = filled[-1] if filled else 0
            cell = typing.cells[last]
            if cell.cell_len == widths[last] and "\n" not in cell.plain:
                cursor_at = 2 + sum(width + 3 for width in widths[:last]) + widths[last]
            else:
                typing.cells[last] = cell + Text(cursor)
        if self._rules[0] != widths:
            border = style.table_border
            self._rules = (widths, [self._rule(left, middle, right, widths, border)
                                    for left, middle, right in ("╭┬╮", "├┼┤", "╰┴╯")])
        top, middle, bottom = self._rules[1]
        strips = [top]
        for index, row in enumerate(self._rows):
            if row.widths != widths:
                row.widths = widths
                row.strips = self._row_strips(row.cells, widths, style)
            strips.extend(row.strips)
            if index == 0:
                strips.append(middle)
        if typing is not None:
            row_strips = self._row_strips(typing.cells, widths, style)
            if cursor_at is not None:
                line = row_strips[0]
                row_strips[0] = Strip.join([line.crop(0, cursor_at), Strip([Segment(cursor)]),
                                            line.crop(cursor_at + 1)])
            strips.extend(row_strips)
        strips.append(bottom)
        return strips

    @staticmethod
    def _rule(left: str, middle: str, right: str, widths: tuple[int, ...],
              border: Style) -> Strip:
        text = left + middle.join("─" * (w + 2) for w in widths) + right
        return Strip([Segment(text, border)], len(text))

    def _row_strips(self, cells: list[Text], widths: tuple[int, ...],
                    style: RenderStyle) -> list[Strip]:
        from tui_chat.render.prose import console_for

        console = console_for(style)
        border = style.table_border
        wrapped: list[list[Text]] = []
        for cell, cell_width in zip(cells, widths, strict=True):
            lines: list[Text] = []
            for part in _cell_lines(cell):
                if part.cell_len <= cell_width:
                    lines.append(part)
                else:
                    lines.extend(part.wrap(console, cell_width, overflow="fold"))
            wrapped.append(lines or [Text()])
        height = max(len(lines) for lines in wrapped)
        bar = Segment("│", border)
        strips = []
        for y in range(height):
            segments = [bar]
            for lines, cell_width, align in zip(wrapped, widths, self._alignments, strict=True):
                line = lines[y] if y < len(lines) else Text()
                gap = cell_width - line.cell_len
                before = gap // 2 if align == "center" else gap if align == "right" else 0
                segments.append(Segment(" " * (1 + before)))
                segments.extend(line.render(console))
                segments.append(Segment(" " * (1 + gap - before)))
                segments.append(bar)
            strips.append(Strip(segments))
        return strips

    def _render_narrow(self, width: int, style: RenderStyle, partial: str) -> list[Strip]:
        """Too narrow for columns: each row as one line of cells joined by a bar."""
        from tui_chat.render.prose import render_plain

        strips: list[Strip] = []
        rows = [self.lines[0], *self.lines[2:]] + ([partial] if partial else [])
        for row in rows:
            strips.extend(render_plain(" │ ".join(split_cells(row)), style, width))
        return strips
