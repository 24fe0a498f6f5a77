"""StreamingDocument: a Markdown answer that grows chunk by chunk and renders in O(chunk).

The source is split, as whole lines arrive, into top-level blocks (`blocks.py`: at blank lines,
fences, headings, tables and the items of a list). Only the last block can still change; every
earlier block is final, so it is drawn once per width and its strips are reused (the same
objects, so a caller can diff by identity): that cache is this module. Only the open tail is
drawn again on each `render()`, and a long list or table is split so that tail stays small.
"""

from __future__ import annotations

import time

from rich.segment import Segment
from textual.strip import Strip

from tui_chat.render.blocks import BlockSplitter, ProseBlock, expand_leading_tabs
from tui_chat.render.code import FenceBlock
from tui_chat.render.style import RenderStyle
from tui_chat.sanitize import sanitize

__all__ = ["RenderStyle", "StreamingDocument"]

_BLANK = Strip([])
_MIN_WIDTH = 4


class StreamingDocument(BlockSplitter):
    """A message's source, split into blocks as it grows (BlockSplitter), drawn incrementally.

    Args:
        text: Initial source.
        style: Colours and the code style.
        markdown: False draws the text as typed (user prompts, errors): no Markdown at all.
    """

    def __init__(self, text: str = "", *, style: RenderStyle | None = None,
                 markdown: bool = True) -> None:
        super().__init__(markdown=markdown)
        self._style = style or RenderStyle()
        self._parts: list[str] = []
        self._joined: str | None = ""
        self._length = 0
        self._version = 0
        """Bumped by every change of the source; the tail is drawn again only when it moved."""
        self._partial: list[str] = []
        """The current line, not yet ended by a newline, in pieces."""
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
            line = expand_leading_tabs(partial) if "\t" in partial else partial
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

