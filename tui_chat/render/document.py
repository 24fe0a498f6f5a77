"""StreamingDocument: a Markdown answer that grows chunk by chunk and renders in O(chunk).

The source is split, as it arrives, into top-level blocks at blank lines and fences. Only the
last block can still change; every earlier block is final, so it is rendered once per width and
its strips are reused. Fenced code is drawn by us, one completed line at a time, so a long code
block never re-highlights what it already highlighted. Only the open tail (a paragraph, a list,
a table, or the current line of code) is drawn again.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

from markdown_it import MarkdownIt
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Heading, Markdown
from rich.segment import Segment
from rich.style import Style
from rich.syntax import PygmentsSyntaxTheme
from rich.text import Text
from rich.theme import Theme
from textual.strip import Strip

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
_BLANK = Strip([])


@dataclass(frozen=True)
class RenderStyle:
    """Rich styles the renderer uses; built by the widget from the current Textual theme."""

    text: Style = field(default_factory=Style)
    heading: Style = field(default_factory=lambda: Style(bold=True))
    link: Style = field(default_factory=lambda: Style(underline=True))
    inline_code: Style = field(default_factory=lambda: Style(bold=True))
    quote: Style = field(default_factory=lambda: Style(italic=True))
    rule: Style = field(default_factory=lambda: Style(dim=True))
    table_border: Style = field(default_factory=lambda: Style(dim=True))
    list_bullet: Style = field(default_factory=lambda: Style(bold=True))
    code_background: str = "#1e1e1e"
    code_theme: str = "monokai"
    muted: Style = field(default_factory=lambda: Style(dim=True))


class _LeftHeading(Heading):
    """Headings flush left, as in a chat transcript (Rich centres h1)."""

    LEVEL_ALIGN: ClassVar[dict[str, str]] = dict.fromkeys(  # type: ignore[assignment]
        ("h1", "h2", "h3", "h4", "h5", "h6"), "left")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.text.copy()
        text.justify = "left"
        yield text


class _ChatMarkdown(Markdown):
    elements: ClassVar = {**Markdown.elements, "heading_open": _LeftHeading}

    def __init__(self, markup: str, code_theme: str = "monokai") -> None:
        # Rich builds a new markdown-it parser for every Markdown object (about 1.7 ms, most
        # of the cost of drawing a streaming paragraph); one parser serves every block.
        self.markup = markup
        self.parsed = _parser().parse(markup)
        self.code_theme = code_theme
        self.justify = None
        self.style = "none"
        self.hyperlinks = False
        self.inline_code_lexer = None
        self.inline_code_theme = code_theme


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt().enable("strikethrough").enable("table")


@lru_cache(maxsize=16)
def _console(style: RenderStyle) -> Console:
    """One private console per style: Rich looks markdown styles up in its theme."""
    heading = style.heading
    theme = Theme({
        "markdown.paragraph": style.text,
        "markdown.text": style.text,
        "markdown.h1": heading + Style(underline=True),
        "markdown.h1.border": style.rule,
        "markdown.h2": heading,
        "markdown.h3": heading,
        "markdown.h4": heading + Style(italic=True),
        "markdown.h5": heading + Style(italic=True),
        "markdown.h6": heading + Style(dim=True),
        "markdown.code": style.inline_code,
        "markdown.code_block": Style(bgcolor=style.code_background),
        "markdown.block_quote": style.quote,
        "markdown.list": Style(),
        "markdown.item.bullet": style.list_bullet,
        "markdown.item.number": style.list_bullet,
        "markdown.hr": style.rule,
        "markdown.link": style.link,
        "markdown.link_url": style.muted,
        "markdown.table.border": style.table_border,
        "markdown.table.header": Style(bold=True),
    }, inherit=True)
    return Console(file=io.StringIO(), force_terminal=True, color_system="truecolor",
                   width=80, theme=theme, legacy_windows=False, markup=False, emoji=False,
                   highlight=False, no_color=False, force_jupyter=False)


@lru_cache(maxsize=16)
def _syntax_theme(name: str) -> PygmentsSyntaxTheme:
    try:
        return PygmentsSyntaxTheme(name)
    except Exception:  # an unknown style name must not break drawing
        return PygmentsSyntaxTheme("monokai")


@lru_cache(maxsize=64)
def _lexer(language: str):  # type: ignore[no-untyped-def]
    from pygments.lexers import get_lexer_by_name
    from pygments.lexers.special import TextLexer
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False) if language else None
    except ClassNotFound:
        lexer = None
    return lexer or TextLexer(stripnl=False, ensurenl=False)


def _to_strips(lines: list[list[Segment]]) -> list[Strip]:
    return [Strip(line) for line in lines]


class _Block:
    """A top-level block of the source: Markdown text, or a fenced code block."""

    __slots__ = ("closed", "code_strips", "fence", "language", "lines", "strips", "width")

    def __init__(self, fence: str = "", language: str = "") -> None:
        self.fence = fence
        """The opening fence (``` or ~~~…); empty for a Markdown block."""
        self.language = language
        self.lines: list[str] = []
        self.closed = False
        self.width = -1
        self.strips: list[Strip] = []
        """Whole-block strips at `width` (finished blocks only)."""
        self.code_strips: list[list[Strip]] = []
        """Per completed code line, its wrapped strips at `width` (fences only)."""

    def closes(self, line: str) -> bool:
        stripped = line.strip()
        return (len(line) - len(line.lstrip(" ")) <= 3 and len(stripped) >= len(self.fence)
                and set(stripped) == {self.fence[0]})


class StreamingDocument:
    """A message's source, split into blocks as it grows, drawn incrementally.

    Args:
        text: Initial source.
        style: Colours and the code style.
        markdown: False draws the text as typed (user prompts, errors).
    """

    def __init__(self, text: str = "", *, style: RenderStyle | None = None,
                 markdown: bool = True) -> None:
        self._style = style or RenderStyle()
        self._markdown = markdown
        self._parts: list[str] = []
        self._length = 0
        self._joined: str | None = ""
        self._blocks: list[_Block] = []
        """Finished blocks, in order."""
        self._open: _Block | None = None
        self._partial: list[str] = []
        """The current line, not yet ended by a newline."""
        self._finished = False
        self._finished_width = -1
        self._finished_strips: list[Strip] = []
        """Strips of every finished block at `_finished_width`, with blank lines between."""
        self._finished_count = 0
        """How many finished blocks `_finished_strips` holds."""
        if text:
            self.append(text)

    # -- input -------------------------------------------------------------------------

    @property
    def text(self) -> str:
        if self._joined is None:
            self._joined = "".join(self._parts)
            self._parts = [self._joined]
        return self._joined

    def __len__(self) -> int:
        return self._length

    def append(self, text: str) -> None:
        """Add text at the end. O(len(text)): splits lines, renders nothing."""
        if not text:
            return
        self._parts.append(text)
        self._length += len(text)
        self._joined = None
        if not self._markdown:
            return
        pieces = text.split("\n")
        if len(pieces) == 1:
            self._partial.append(text)
            return
        self._partial.append(pieces[0])
        self._end_line("".join(self._partial))
        for line in pieces[1:-1]:
            self._end_line(line)
        self._partial = [pieces[-1]] if pieces[-1] else []

    def _end_line(self, line: str) -> None:
        block = self._open
        if block is not None and block.fence:
            if block.closes(line):
                block.closed = True
                self._finish_block()
            else:
                block.lines.append(line)
            return
        if match := _FENCE_OPEN.match(line):
            self._finish_block()
            self._open = _Block(fence=match.group(1), language=match.group(2).lower())
        elif not line.strip():
            self._finish_block()
        else:
            if block is None:
                block = self._open = _Block()
            block.lines.append(line)

    def _finish_block(self) -> None:
        if self._open is not None:
            self._open.width = -1  # its whole-block strips are drawn once, on the next render
            self._blocks.append(self._open)
            self._open = None

    def finish(self) -> None:
        """The stream ended: the open block and the last line are final."""
        if self._finished or not self._markdown:
            self._finished = True
            return
        if self._partial:
            line = "".join(self._partial)
            self._partial = []
            if self._open is not None and self._open.fence:
                self._open.lines.append(line)
            else:
                self._end_line(line)
        self._finish_block()
        self._finished = True

    def set_style(self, style: RenderStyle) -> None:
        """New colours: every cached strip is dropped and drawn again on the next render."""
        if style == self._style:
            return
        self._style = style
        self._finished_width = -1
        for block in self._blocks:
            block.width = -1
            block.code_strips.clear()
        if self._open is not None:
            self._open.width = -1
            self._open.code_strips.clear()

    # -- output ------------------------------------------------------------------------

    def render(self, width: int, *, cursor: str = "") -> list[Strip]:
        """Every line at `width`. Finished blocks come from the cache (the same Strip objects as
        last time); only the open tail is drawn again."""
        width = max(width, 4)
        if not self._markdown:
            return self._render_plain(self.text + cursor, width)
        if width != self._finished_width:
            self._finished_width = width
            self._finished_strips = []
            self._finished_count = 0
        strips = self._finished_strips
        for block in self._blocks[self._finished_count:]:
            if strips:
                strips.append(_BLANK)
            strips.extend(self._block_strips(block, width))
        self._finished_count = len(self._blocks)
        tail = self._tail_strips(width, cursor)
        if not tail:
            return list(strips)
        if strips:
            return [*strips, _BLANK, *tail]
        return tail

    def _render_plain(self, text: str, width: int) -> list[Strip]:
        console = _console(self._style)
        rendered = Text(text, style=self._style.text, no_wrap=False)
        lines = console.render_lines(rendered, console.options.update(width=width),
                                     pad=False, new_lines=False)
        return _to_strips(lines)

    def _block_strips(self, block: _Block, width: int) -> list[Strip]:
        if block.width != width:
            block.width = width
            if block.fence:
                block.code_strips.clear()
                block.strips = [*self._fence_label(block, width),
                                *self._code_lines(block, width, whole=True)]
            else:
                block.strips = self._markdown_strips("\n".join(block.lines), width)
        return block.strips

    def _tail_strips(self, width: int, cursor: str) -> list[Strip]:
        block = self._open
        partial = "".join(self._partial)
        if len(self._partial) > 1:
            self._partial = [partial]
        if block is not None and block.fence:
            if block.width != width:
                block.width = width
                block.code_strips.clear()
            strips = [*self._fence_label(block, width), *self._code_lines(block, width)]
            if partial or cursor:
                strips.extend(self._code_line(Text(partial + cursor), width))
            return strips
        source = "\n".join([*(block.lines if block else []), partial]) if block else partial
        if not source.strip():
            return [Strip([Segment(cursor)])] if cursor else []
        return self._markdown_strips(source + cursor, width)

    def _markdown_strips(self, source: str, width: int) -> list[Strip]:
        console = _console(self._style)
        markdown = _ChatMarkdown(source, code_theme=self._style.code_theme)
        lines = console.render_lines(markdown, console.options.update(width=width), pad=False,
                                     new_lines=False)
        # Rich pads some blocks with blank lines; blocks are spaced here, one blank line apart.
        while lines and not any(segment.text.strip() for segment in lines[-1]):
            lines.pop()
        start = 0
        while start < len(lines) and not any(segment.text.strip() for segment in lines[start]):
            start += 1
        return _to_strips(lines[start:])

    # -- code ----------------------------------------------------------------------------

    def _fence_label(self, block: _Block, width: int) -> list[Strip]:
        background = Style(bgcolor=self._style.code_background)
        label = f" {block.language or 'code'} "[:width]
        return [Strip([Segment(label, self._style.muted + background),
                       Segment(" " * max(0, width - len(label)), background)], width)]

    def _code_lines(self, block: _Block, width: int, *, whole: bool = False) -> list[Strip]:
        """Strips of the completed code lines; highlights only lines not done before."""
        done = block.code_strips
        if whole and block.closed:
            # Closing the fence: highlight the whole block once, so tokens that span lines
            # (docstrings, block comments) come out right.
            done.clear()
            for line in self._highlight("\n".join(block.lines), block.language):
                done.append(self._code_line(line, width))
        else:
            for line in block.lines[len(done):]:
                highlighted = self._highlight(line, block.language)
                done.append(self._code_line(highlighted[0] if highlighted else Text(), width))
        return [strip for strips in done for strip in strips]

    def _highlight(self, code: str, language: str) -> list[Text]:
        theme = _syntax_theme(self._style.code_theme)
        text = Text()
        append = text.append
        for token_type, value in _lexer(language).get_tokens(code):
            append(value, theme.get_style_for_token(token_type))
        return text.split("\n", allow_blank=True) if code else [Text()]

    def _code_line(self, line: Text, width: int) -> list[Strip]:
        console = _console(self._style)
        background = Style(bgcolor=self._style.code_background)
        line = line.copy()
        line.expand_tabs(4)
        inner = max(1, width - 2)
        wrapped = [line]
        if line.cell_len > inner:
            wrapped = list(line.wrap(console, inner, overflow="fold", no_wrap=False))
        strips = []
        for piece in wrapped:
            # The theme's code background wins over the Pygments style's own token backgrounds.
            segments = [Segment(" ", background)]
            segments.extend(Segment(s.text, s.style + background if s.style else background)
                            for s in piece.render(console) if s.text)
            used = 1 + piece.cell_len
            segments.append(Segment(" " * max(0, width - used), background))
            strips.append(Strip(segments, width))
        return strips
