"""Fenced code blocks: highlighted one completed line at a time, wrapped, cached per line.

While a fence is open each new line is lexed once on its own, so a long block never lexes the
same line twice. When the block is final it is lexed once as a whole, so tokens that span lines
(docstrings, block comments) come out right; lines whose colours did not change keep their
strips. The code background is painted across the full width; the Pygments style gives only
the token colours.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from rich.cells import get_character_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from tui_chat.compat.textual_hooks import lean
from tui_chat.render.style import TAB_SIZE, RenderStyle

if TYPE_CHECKING:
    from pygments.lexer import Lexer
    from rich.syntax import PygmentsSyntaxTheme


@lru_cache(maxsize=16)
def syntax_theme(name: str) -> PygmentsSyntaxTheme:
    from rich.syntax import PygmentsSyntaxTheme  # Pygments: imported when code first shows

    try:
        return PygmentsSyntaxTheme(name)
    except Exception:  # an unknown style name must not stop drawing
        return PygmentsSyntaxTheme("monokai")


@lru_cache(maxsize=64)
def lexer_for(language: str) -> Lexer:
    """The Pygments lexer for a fence's language; plain text when there is none."""
    from pygments.lexers import get_lexer_by_name
    from pygments.lexers.special import TextLexer
    from pygments.util import ClassNotFound

    if language:
        try:
            return get_lexer_by_name(language, stripnl=False, ensurenl=False)
        except ClassNotFound:
            pass
    return TextLexer(stripnl=False, ensurenl=False)


@lru_cache(maxsize=256)
def _token_style(theme: PygmentsSyntaxTheme, token_type: object, background: Style) -> Style:
    # Pygments styles may carry their own background; the theme's code background wins.
    return theme.get_style_for_token(token_type) + background  # type: ignore[arg-type]


def highlight(code: str, language: str, style: RenderStyle) -> list[Text]:
    """`code` lexed as `language`: one Text per line (an empty code gives one empty line)."""
    theme = syntax_theme(style.code_theme)
    background = style.code_background_style
    text = Text()
    append = text.append
    for token_type, value in lexer_for(language).get_tokens(code):
        append(value, _token_style(theme, token_type, background))
    return list(text.split("\n", allow_blank=True))


def _fold_points(text: str, width: int) -> list[int]:
    """Character offsets where `text` is cut into pieces of at most `width` cells."""
    if text.isascii():
        return list(range(width, len(text), width))
    points: list[int] = []
    used = 0
    for index, char in enumerate(text):
        size = get_character_cell_size(char)
        if used + size > width and used:
            points.append(index)
            used = 0
        used += size
    return points


def code_strips(line: Text, width: int, indent: int, style: RenderStyle) -> list[Strip]:
    """One line of code, folded to fit, on the code background from `indent` to `width`."""
    from tui_chat.render.prose import console_for

    console = console_for(style)
    background = style.code_background_style
    if "\t" in line.plain:
        line = line.copy()
        line.expand_tabs(TAB_SIZE)
    inner = max(1, width - indent - 2)  # one cell of margin each side
    pieces = [line] if line.cell_len <= inner else line.divide(_fold_points(line.plain, inner))
    strips = []
    lead = [Segment(" " * indent), Segment(" ", background)] if indent else [
        Segment(" ", background)]
    for piece in pieces:
        segments = [*lead, *piece.render(console)]
        used = indent + 1 + piece.cell_len
        if used < width:
            segments.append(Segment(" " * (width - used), background))
        strips.append(Strip(segments, max(width, used)))
    return strips


def label_strip(language: str, width: int, indent: int, style: RenderStyle) -> Strip:
    """The fence's first row: its language, muted, on the code background."""
    background = style.code_background_style
    label = Text(f" {language or 'code'} ", style=style.muted + background)
    label.truncate(max(1, width - indent))
    segments = [Segment(" " * indent)] if indent else []
    from tui_chat.render.prose import console_for

    segments.extend(label.render(console_for(style)))
    used = indent + label.cell_len
    if used < width:
        segments.append(Segment(" " * (width - used), background))
    return Strip(segments, max(width, used))


class FenceBlock:
    """A fenced code block of the source; drawn incrementally while it is open."""

    __slots__ = ("_flat", "_line_strips", "_texts", "_whole", "_width", "closed", "fence",
                 "gap", "indent", "language", "lines", "source_indent")

    def __init__(self, fence: str, language: str, *, source_indent: int = 0, indent: int = 0,
                 gap: bool = True) -> None:
        self.fence = fence
        """The opening run of ``` or ~~~; the closer must be as long."""
        self.language = language
        self.source_indent = source_indent
        """Spaces before the opener, removed from each code line (CommonMark)."""
        self.indent = indent
        """Cells left unpainted on the left (a code block inside a list item)."""
        self.gap = gap
        self.lines: list[str] = []
        self.closed = False
        self._texts: list[Text] = []
        """Highlighted lines, one per entry of `lines` so far."""
        self._whole = False
        """`_texts` came from lexing the whole block (done once, when the block is final)."""
        self._width = -1
        self._line_strips: list[list[Strip]] = []
        """Per highlighted line, its strips at `_width`."""
        self._flat: list[Strip] = []
        """The label and every line's strips at `_width`, in order."""

    def closes(self, line: str) -> bool:
        stripped = line.strip()
        return (len(line) - len(line.lstrip(" ")) <= 3 and len(stripped) >= len(self.fence)
                and stripped == self.fence[0] * len(stripped))

    def dedented(self, line: str) -> str:
        """`line` without the opener's indentation (CommonMark strips up to that much)."""
        if self.source_indent:
            spaces = len(line) - len(line.lstrip(" "))
            return line[min(spaces, self.source_indent):]
        return line

    def add_line(self, line: str) -> None:
        self.lines.append(self.dedented(line))

    def reset(self) -> None:
        """Drop everything drawn (the style changed)."""
        self._texts = []
        self._whole = False
        self._width = -1

    @property
    def lexed_whole(self) -> bool:
        return self._whole

    def render(self, width: int, style: RenderStyle, partial: str = "", cursor: str = "",
               final: bool = False, relex: bool = True) -> list[Strip]:
        if width != self._width:
            self._width = width
            self._line_strips = []
            self._flat = [label_strip(self.language, width, self.indent, style)]
        if final and relex and not self._whole:
            self._highlight_whole(style)
        texts = self._texts
        for line in self.lines[len(texts):]:
            texts.append(highlight(line, self.language, style)[0])
        flat = self._flat
        for text in texts[len(self._line_strips):]:
            strips = lean(code_strips(text, width, self.indent, style))
            self._line_strips.append(strips)
            flat.extend(strips)
        if not partial and not cursor:
            return flat
        # The unfinished last line: lexed on its own each time (one line), cursor after it.
        tail = highlight(partial, self.language, style)[0] if partial else Text()
        if cursor:
            tail.append(cursor, style.code_background_style)
        return [*flat, *code_strips(tail, width, self.indent, style)]

    def _highlight_whole(self, style: RenderStyle) -> None:
        self._whole = True
        whole = highlight("\n".join(self.lines), self.language, style)
        if len(whole) != len(self.lines):  # a lexer that ate or added a newline: keep per line
            return
        old = self._texts
        line_strips = self._line_strips
        changed = False
        for index, text in enumerate(whole):
            if index < len(old) and old[index] == text:
                continue
            if index < len(old):
                old[index] = text
            else:
                old.append(text)
            if index < len(line_strips):
                line_strips[index] = lean(code_strips(text, self._width, self.indent, style))
                changed = True
        if changed:
            self._flat = [self._flat[0]]
            for strips in line_strips:
                self._flat.extend(strips)
