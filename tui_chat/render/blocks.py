"""The block splitter: a Markdown source, as whole lines arrive, cut into top-level blocks.

Blocks end at blank lines, fences, headings, tables and the items of a list. Only the last (open)
block can still change; every earlier one is final. Each block draws itself and keeps its strips
for one width and style: prose through Rich (`prose.py`), fenced code and tables line by line and
row by row (`code.py`, `table.py`). StreamingDocument (`document.py`) adds the source and the
render cache on top.
"""

from __future__ import annotations

import re
from typing import Protocol

from rich.segment import Segment
from textual.strip import Strip

from tui_chat.compat.textual_hooks import lean
from tui_chat.render.code import FenceBlock
from tui_chat.render.markdown_grammar import (
    FENCE_OPEN,
    HEADING,
    LANGUAGE,
    LIST_ITEM,
    THEMATIC_BREAK,
)
from tui_chat.render.style import RenderStyle
from tui_chat.render.table import TableBlock, is_delimiter_row, starts_table


class Block(Protocol):
    gap: bool
    """A blank line separates this block from the one before."""

    def add_line(self, line: str) -> None: ...

    def reset(self) -> None: ...

    def render(self, width: int, style: RenderStyle, partial: str = "", cursor: str = "",
               final: bool = False, relex: bool = True) -> list[Strip]: ...


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def expand_leading_tabs(line: str) -> str:
    body = line.lstrip(" \t")
    lead = line[: len(line) - len(body)]
    return lead.expandtabs(4) + body if "\t" in lead else line


class ProseBlock:
    """Markdown drawn by Rich: a paragraph, heading, quote, one list item, or an indented
    continuation of a list item (drawn dedented, then shifted right)."""

    __slots__ = ("_strips", "_style", "_width", "content_column", "dedent", "gap", "indent",
                 "kind", "lines", "marker")

    def __init__(self, kind: str = "prose", *, gap: bool = True, dedent: int = 0,
                 indent: int = 0, marker: str = "", content_column: int = 0) -> None:
        self.kind = kind
        """"prose", "list" (one item of a list) or "heading"."""
        self.gap = gap
        self.dedent = dedent
        """Source spaces removed from each line (an indented list continuation)."""
        self.indent = indent
        """Cells the drawn block is shifted right."""
        self.marker = marker
        """For a list item: "-", "*", "+", "." or ")" (which list it belongs to)."""
        self.content_column = content_column
        """For a list item: where its text starts, relative to `dedent`."""
        self.lines: list[str] = []
        self._width = -1
        self._style: RenderStyle | None = None
        self._strips: list[Strip] = []

    def relative(self, line: str) -> str:
        return line[min(_indent(line), self.dedent):] if self.dedent else line

    def add_line(self, line: str) -> None:
        self.lines.append(self.relative(line))

    def reset(self) -> None:
        self._style = None

    def render(self, width: int, style: RenderStyle, partial: str = "", cursor: str = "",
               final: bool = False, relex: bool = True) -> list[Strip]:
        if final and width == self._width and style is self._style:
            return self._strips
        source = "\n".join(self.lines)
        if partial or cursor:
            tail = self.relative(partial) + cursor
            source = f"{source}\n{tail}" if source else tail
        from tui_chat.render.prose import (
            render_list_item,
            render_markdown,
            render_paragraph,
        )

        indent = min(self.indent, width // 2)
        strips = None
        if self.kind == "prose":
            strips = render_paragraph(source, style, max(1, width - indent))
        elif self.kind == "list":
            strips = render_list_item(source, style, max(1, width - indent))
        if strips is None:
            strips = render_markdown(source, style, max(1, width - indent))
        if indent:
            pad = Segment(" " * indent)
            strips = [Strip([pad, *strip]) if strip.cell_length else strip for strip in strips]
        if final:  # kept as long as the answer: lean (see compat.textual_hooks.lean)
            strips = lean(strips)
            self._width, self._style, self._strips = width, style, strips
        return strips


class PlainLine:
    """One line of a plain-text document (markdown=False)."""

    __slots__ = ("_strips", "_style", "_width", "gap", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.gap = False
        self._width = -1
        self._style: RenderStyle | None = None
        self._strips: list[Strip] = []

    def add_line(self, line: str) -> None:
        raise NotImplementedError  # a plain line is complete when made

    def reset(self) -> None:
        self._style = None

    def render(self, width: int, style: RenderStyle, partial: str = "", cursor: str = "",
               final: bool = False, relex: bool = True) -> list[Strip]:
        if width != self._width or style is not self._style:
            self._width, self._style = width, style
            from tui_chat.render.prose import render_plain

            self._strips = lean(render_plain(self.text, style, width))
        return self._strips


class BlockSplitter:
    """Places each complete line: in the open block, or in a new one. Whether a line starts
    a new block depends on the open block and on whether the last top-level block was a list."""

    def __init__(self, *, markdown: bool) -> None:
        self._markdown = markdown
        self._blocks: list[Block] = []
        """Finished blocks, in order."""
        self._open: Block | None = None
        self._list_context = False
        """The last top-level block was a list (indented text and fences belong to it)."""
        self._list_shift = 1
        """Drawn minus source column of the list's text (Rich draws " • " for "- ")."""

    def _close_open(self) -> None:
        if self._open is not None:
            self._blocks.append(self._open)
            self._open = None

    def _end_line(self, line: str) -> None:
        """Place one complete line: in the open block, or in a new one."""
        if not self._markdown:
            self._blocks.append(PlainLine(line))
            return
        if "\t" in line:
            line = expand_leading_tabs(line)
        block = self._open
        if isinstance(block, FenceBlock):
            if block.closes(line):
                block.closed = True
                self._close_open()
            else:
                block.add_line(line)
            return
        if not line.strip():
            self._close_open()
            return
        if isinstance(block, TableBlock):
            if "|" in line and not self._opens_fence(line) and not HEADING.match(line):
                block.add_line(line)
                return
            self._close_open()
            self._start_block(line, gap=True)
            return
        if isinstance(block, ProseBlock):
            gap = self._split_gap(block, line)
            if gap is None:
                block.add_line(line)
                return
            if is_delimiter_row(line) and gap == "table":
                header = block.lines.pop()
                if block.lines:
                    self._close_open()
                self._open = TableBlock(header, line, gap=True)
                self._list_context = False
                return
            self._close_open()
            self._start_block(line, gap=gap != "tight")
            return
        self._start_block(line, gap=True)

    def _opens_fence(self, line: str) -> re.Match[str] | None:
        match = FENCE_OPEN.match(line)
        if match is None or (len(match.group(1)) > 3 and not self._list_context):
            return None
        if match.group(2)[0] == "`" and "`" in match.group(3):
            return None  # an info string of a backtick fence holds no backticks
        return match

    def _split_gap(self, block: ProseBlock, line: str) -> str | None:
        """Whether `line` starts a new block after the open prose `block`: None if not, else
        "tight" (the next item of the same list), "table" (a table header was the previous
        line) or "gap"."""
        if self._opens_fence(line):
            return "gap"
        indent = _indent(line)
        if block.dedent and indent < block.dedent:
            # Outside the indented continuation: only a lazy paragraph line stays in it.
            if HEADING.match(line) or (LIST_ITEM.match(line)
                                         and not THEMATIC_BREAK.match(line)):
                return "gap"
            return None
        relative = block.relative(line)
        indent = _indent(relative)
        nested = block.kind == "list" and indent >= block.content_column
        if not nested and HEADING.match(relative):
            return "gap"
        if (block.kind == "prose" and is_delimiter_row(relative) and block.lines
                and starts_table(block.lines[-1], relative) and not block.dedent):
            return "table"
        item = LIST_ITEM.match(relative)
        if item is None or nested or THEMATIC_BREAK.match(relative):
            return None
        if block.kind == "list":
            return "tight" if _marker(item) == block.marker else "gap"
        # A list interrupts a paragraph only with a non-empty item; a numbered one from 1.
        if block.kind == "prose" and item.group(4) and item.group(3) in (None, "1"):
            return "gap"
        return None

    def _start_block(self, line: str, *, gap: bool) -> None:
        block, shift = self._new_block(line, gap=gap)
        if isinstance(block, FenceBlock):
            self._list_context = block.indent > 0
        elif block.kind == "list" and not block.dedent:
            self._list_context = True
            self._list_shift = shift
        elif not block.dedent:
            self._list_context = False
        self._open = block
        if isinstance(block, ProseBlock) and block.kind == "heading":
            self._close_open()  # a heading is one line; what follows is a new block

    def _new_block(self, line: str, *, gap: bool) -> tuple[FenceBlock | ProseBlock, int]:
        """The block `line` starts (not yet placed), and for a top-level list item how many
        cells further right Rich draws its text than the source has it."""
        indent = _indent(line)
        if fence := self._opens_fence(line):
            info = fence.group(3).strip().lstrip("{.")
            language = LANGUAGE.match(info)
            nested = self._list_context and indent >= 2
            return FenceBlock(fence.group(2), language.group().lower() if language else "",
                              source_indent=indent,
                              indent=indent + self._list_shift if nested else 0, gap=gap), 0
        dedent = indent if self._list_context and indent >= 2 else 0
        shifted = dedent + self._list_shift if dedent else 0
        relative = line[dedent:]
        item = LIST_ITEM.match(relative)
        shift = 0
        if item is not None and not THEMATIC_BREAK.match(relative):
            block = ProseBlock("list", gap=gap, dedent=dedent, indent=shifted,
                               marker=_marker(item),
                               content_column=len(item.group(1)) + len(item.group(2)) + 1)
            drawn = 3 if item.group(3) is None else len(item.group(3)) + 3
            shift = drawn - block.content_column
        elif dedent:
            block = ProseBlock(gap=gap, dedent=dedent, indent=shifted)
        else:
            block = ProseBlock("heading" if HEADING.match(line) else "prose", gap=gap)
        block.add_line(line)
        return block, shift


def _marker(item: re.Match[str]) -> str:
    """Which list an item belongs to: its bullet, or for a numbered item its delimiter."""
    marker = item.group(2)
    return marker if item.group(3) is None else marker[-1]
