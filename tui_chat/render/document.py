"""StreamingDocument: a Markdown answer that grows chunk by chunk and renders in O(chunk).

The source is split, as whole lines arrive, into top-level blocks: at blank lines, fences,
headings, tables and the items of a list. Only the last block can still change; every earlier
block is final, so it is drawn once per width and its strips are reused (the same objects, so
a caller can diff by identity). Fenced code and tables are drawn by us, line by line and row by
row (`code.py`, `table.py`); other blocks go through Rich (`prose.py`). Only the open tail is
drawn again on each `render()`, and a long list or table is split so that tail stays small.
"""

from __future__ import annotations

import re
import time
from typing import Protocol

from rich.segment import Segment
from textual.strip import Strip

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
from tui_chat.sanitize import sanitize

__all__ = ["RenderStyle", "StreamingDocument"]

_BLANK = Strip([])
_MIN_WIDTH = 4


class _Block(Protocol):
    gap: bool
    """A blank line separates this block from the one before."""

    def add_line(self, line: str) -> None: ...

    def reset(self) -> None: ...

    def render(self, width: int, style: RenderStyle, partial: str = "", cursor: str = "",
               final: bool = False, relex: bool = True) -> list[Strip]: ...


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _expand_leading_tabs(line: str) -> str:
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
        if final:
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

            self._strips = render_plain(self.text, style, width)
        return self._strips


class StreamingDocument:
    """A message's source, split into blocks as it grows, drawn incrementally.

    Args:
        text: Initial source.
        style: Colours and the code style.
        markdown: False draws the text as typed (user prompts, errors): no Markdown at all.
    """

    def __init__(self, text: str = "", *, style: RenderStyle | None = None,
                 markdown: bool = True) -> None:
        self._style = style or RenderStyle()
        self._markdown = markdown
        self._parts: list[str] = []
        self._joined: str | None = ""
        self._length = 0
        self._version = 0
        """Bumped by every change of the source; the tail is drawn again only when it moved."""
        self._blocks: list[_Block] = []
        """Finished blocks, in order."""
        self._open: _Block | None = None
        self._partial: list[str] = []
        """The current line, not yet ended by a newline, in pieces."""
        self._list_context = False
        """The last top-level block was a list (indented text and fences belong to it)."""
        self._list_shift = 1
        """Drawn minus source column of the list's text (Rich draws " • " for "- ")."""
        self._finished = False
        # Render caches (for one width and style at a time).
        self._width = -1
        self._render_style: RenderStyle | None = None
        self._done: list[Strip] = []
        """Strips of the first `_done_count` finished blocks, with their blank lines."""
        self._done_count = 0
        self._done_starts: list[int] = []
        """Where each of those blocks starts in `_done` (its blank line before it included)."""
        self._unlexed: int | None = None
        """The first of those blocks that is a code block not yet lexed as a whole."""
        self._tail_key: tuple[int, str, int] | None = None
        self._tail: tuple[bool, list[Strip]] = (False, [])
        self._last: list[Strip] = []
        self._changed_from = 0
        self.behind = False
        """The last `render` ran out of its budget before the end of the text."""
        if text:
            self.append(text)

    # -- input ------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The whole source as received (joined on demand, not per append)."""
        if self._joined is None:
            self._joined = "".join(self._parts)
            self._parts = [self._joined]
        return self._joined

    def __len__(self) -> int:
        return self._length

    @property
    def finished(self) -> bool:
        return self._finished

    def append(self, text: str) -> None:
        """Add text at the end. Amortised O(len(text)): splits lines, draws nothing."""
        text = sanitize(text)
        if not text:
            return
        self._parts.append(text)
        self._length += len(text)
        self._joined = None
        self._version += 1
        self._finished = False
        if "\n" not in text:
            self._partial.append(text)
            return
        pieces = text.split("\n")
        self._partial.append(pieces[0])
        self._end_line("".join(self._partial))
        for line in pieces[1:-1]:
            self._end_line(line)
        self._partial = [pieces[-1]] if pieces[-1] else []

    def finish(self) -> None:
        """The stream ended: the last line and the open block are final (an unterminated
        fence is closed)."""
        if self._finished:
            return
        self._finished = True
        self._version += 1
        if self._partial:
            line = "".join(self._partial)
            self._partial = []
            self._end_line(line)
        self._close_open()

    def set_style(self, style: RenderStyle) -> None:
        """New colours: every cached strip is dropped and drawn again on the next render."""
        if style == self._style:
            return
        self._style = style
        for block in self._blocks:
            block.reset()
        if self._open is not None:
            self._open.reset()

    # -- splitting into blocks ----------------------------------------------------------

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
            line = _expand_leading_tabs(line)
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

    # -- output -------------------------------------------------------------------------------

    @property
    def changed_from(self) -> int:
        """Index of the first line of the last `render()` that is not the very same Strip as
        in the call before (at the same width and style); the lines before it are unchanged."""
        return self._changed_from

    @property
    def unlexed(self) -> bool:
        """A closed code block is drawn from its lines lexed one by one (see `render`)."""
        return self._unlexed is not None

    def render(self, width: int, *, cursor: str = "", budget: float | None = None,
               relex: bool = True) -> list[Strip]:
        """Every line at `width`, unpadded (code blocks paint their background to `width`).

        Finished blocks come from the cache (the same Strip objects as last time); only the
        open tail is drawn again, and only if the source changed. `cursor` is drawn at the end
        of the text.

        With a `budget` (seconds), drawing the blocks not yet drawn stops once it is spent:
        the lines then end at the last block drawn, `behind` is true, and the next call goes
        on from there. A flood of text is so drawn over several frames, and keys and the
        network are served in between.

        A closed code block is lexed again as a whole (so strings and comments that span
        lines come out right) only when `relex` is true: that is 50-70 ms for a 250-line
        block, too long for a frame while text streams. A later call with `relex` draws
        such blocks again.
        """
        deadline = None if budget is None else time.perf_counter() + budget
        width = max(width, _MIN_WIDTH)
        style = self._style
        if width != self._width or style is not self._render_style:
            self._width = width
            self._render_style = style
            self._done = []
            self._done_count = 0
            self._done_starts = []
            self._unlexed = None
            self._tail_key = None
            self._last = []
        done = self._done
        starts = self._done_starts
        count = self._done_count
        if relex and self._unlexed is not None:  # draw again from the first such block
            count = self._unlexed
            del done[starts[count]:]
            del starts[count:]
            self._unlexed = None
        stable = len(done)
        blocks = self._blocks
        self.behind = False
        while count < len(blocks):
            block = blocks[count]
            starts.append(len(done))
            strips = block.render(width, style, final=True, relex=relex)
            if not relex and self._unlexed is None and isinstance(block, FenceBlock) \
                    and not block.lexed_whole:
                self._unlexed = count
            count += 1
            if strips:
                if done and block.gap:
                    done.append(_BLANK)
                done.extend(strips)
            # At least one block a call, so drawing always moves on.
            if deadline is not None and count < len(blocks) and time.perf_counter() > deadline:
                self.behind = True
                break
        self._done_count = count
        if self.behind:
            lines = done.copy()
            self._changed_from = min(stable, len(self._last))
            self._last = lines
            return lines
        key = (self._version, cursor, self._done_count)
        if key != self._tail_key:
            self._tail_key = key
            self._tail = self._render_tail(width, cursor)
        gap, tail = self._tail
        if not tail:
            lines = done.copy()
        elif not done:
            lines = tail.copy()
        else:
            lines = [*done, _BLANK, *tail] if gap else [*done, *tail]
        old = self._last
        end = min(len(old), len(lines))
        index = min(stable, end)
        while index < end and lines[index] is old[index]:
            index += 1
        self._changed_from = index
        self._last = lines
        return lines

    def _render_tail(self, width: int, cursor: str) -> tuple[bool, list[Strip]]:
        style = self._style
        partial = "".join(self._partial)
        if len(self._partial) > 1:
            self._partial = [partial]
        block = self._open
        if not self._markdown:
            if not partial and not cursor:
                return False, []
            from tui_chat.render.prose import render_plain

            return False, render_plain(partial + cursor, style, width)
        if block is None:
            if not partial.strip():
                return True, [Strip([Segment(cursor)])] if cursor else []
            # The first line of a block is still arriving: draw it as the block it starts.
            return self._render_fresh(partial, width, cursor, gap=True)
        if isinstance(block, FenceBlock):
            return block.gap, block.render(width, style, block.dedented(partial), cursor)
        if partial and isinstance(block, ProseBlock):
            line = _expand_leading_tabs(partial) if "\t" in partial else partial
            if (gap := self._split_gap(block, line)) not in (None, "table"):
                # The arriving line starts the next block (most often a list's next item):
                # drawn as the two blocks it will be once the line ends, not as one piece of
                # Markdown.
                lines = block.render(width, style)
                fresh_gap, tail = self._render_fresh(line, width, cursor, gap=gap != "tight")
                between = [_BLANK] if fresh_gap and lines and tail else []
                return block.gap, [*lines, *between, *tail]
        return block.gap, block.render(width, style, partial, cursor)

    def _render_fresh(self, line: str, width: int, cursor: str, *,
                      gap: bool) -> tuple[bool, list[Strip]]:
        """`line`, still arriving, drawn as the block it starts (not placed)."""
        fresh, _ = self._new_block(line, gap=gap)
        if isinstance(fresh, FenceBlock):
            return fresh.gap, fresh.render(width, self._style, "", cursor)
        fresh.lines.pop()
        return fresh.gap, fresh.render(width, self._style, line, cursor)

def _marker(item: re.Match[str]) -> str:
    """Which list an item belongs to: its bullet, or for a numbered item its delimiter."""
    marker = item.group(2)
    return marker if item.group(3) is None else marker[-1]
