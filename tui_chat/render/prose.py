"""Markdown prose (paragraphs, headings, lists, quotes) and plain text drawn with Rich into strips.

Imported on first use, not with the package: Rich's Markdown, markdown-it and Pygments take
about 55 ms to import, and the first screen draws no answer.

One private Rich console per RenderStyle maps the `markdown.*` styles to the style's colours.
Rich's Markdown is adjusted for a chat transcript: headings flush left, numbered items with a
dot, a drawn rule, code in the theme's code background, and no OSC 8 hyperlinks. A paragraph
or list item of one paragraph skips Rich's Markdown and is wrapped by `wrap.py` (same lines).
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import ClassVar

from markdown_it import MarkdownIt
from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import (
    CodeBlock,
    Heading,
    HorizontalRule,
    ListElement,
    ListItem,
    Markdown,
    MarkdownContext,
    TableElement,
    TextElement,
)
from rich.rule import Rule
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from rich.theme import Theme
from textual.strip import Strip

from tui_chat.render.markdown_grammar import LIST_ITEM_TEXT
from tui_chat.render.style import TAB_SIZE, RenderStyle
from tui_chat.render.wrap import plain_paragraph, trim_line, wrap_plain, wrap_styled


@lru_cache(maxsize=1)
def markdown_parser() -> MarkdownIt:
    """The one markdown-it parser (Rich would build a new one, about 1.7 ms, per block)."""
    return MarkdownIt().enable("strikethrough").enable("table")


@lru_cache(maxsize=16)
def console_for(style: RenderStyle) -> Console:
    """A private console whose theme maps Rich's markdown styles to `style`."""
    heading = style.heading
    theme = Theme({
        "markdown.paragraph": style.text,
        "markdown.text": style.text,
        "markdown.em": style.emphasis,
        "markdown.strong": style.strong,
        "markdown.s": style.strikethrough,
        "markdown.h1": heading + Style(underline=True),
        "markdown.h1.border": style.rule,
        "markdown.h2": heading,
        "markdown.h3": heading,
        "markdown.h4": heading + Style(italic=True),
        "markdown.h5": heading + Style(italic=True),
        "markdown.h6": heading + Style(dim=True),
        "markdown.code": style.inline_code,
        "markdown.code_block": style.code_background_style,
        "markdown.block_quote": style.quote,
        "markdown.list": Style(),
        "markdown.item": Style(),
        "markdown.item.bullet": style.list_bullet,
        "markdown.item.number": style.list_bullet,
        "markdown.hr": style.rule,
        "markdown.link": style.link,
        "markdown.link_url": style.muted,
        "markdown.table.border": style.table_border,
        "markdown.table.header": style.table_header,
        "markdown.kbd": style.inline_code,
    }, inherit=True)
    return Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=80,
                   theme=theme, legacy_windows=False, markup=False, emoji=False, highlight=False,
                   no_color=False, force_jupyter=False, force_interactive=False,
                   tab_size=TAB_SIZE)


# -- Rich's Markdown, adjusted for a chat transcript -------------------------------------------


class _Heading(Heading):
    """Every heading flush left (Rich centres h1)."""

    LEVEL_ALIGN: ClassVar = dict.fromkeys(("h1", "h2", "h3", "h4", "h5", "h6"), "left")


class _Rule(HorizontalRule):
    """A drawn line (Rich draws dashes) with no blank line after it."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Rule(style=console.get_style("markdown.hr", default="none"), characters="─")


class _List(ListElement):
    """Numbers sized to the real last number (Rich counts one too many)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.list_type == "bullet_list_open":
            for item in self.items:
                yield from item.render_bullet(console, options)
            return
        first = 1 if self.list_start is None else self.list_start
        last = first + len(self.items) - 1
        for index, item in enumerate(self.items):
            yield from item.render_number(console, options, first + index, last)


class _ListItem(ListItem):
    """" 1. " rather than Rich's " 1 ", aligned like the bullets (" • ")."""

    def render_number(self, console: Console, options: ConsoleOptions, number: int,
                      last_number: int) -> RenderResult:
        width = len(str(last_number)) + 3
        lines = console.render_lines(self.elements, options.update(width=options.max_width - width),
                                     style=self.style)
        number_style = console.get_style("markdown.item.number", default="none")
        numeral = Segment(f" {number}.".rjust(width - 1) + " ", number_style)
        padding = Segment(" " * width)
        new_line = Segment("\n")
        for index, line in enumerate(lines):
            yield numeral if index == 0 else padding
            yield from line
            yield new_line


class _CodeBlock(CodeBlock):
    """Indented code, or fences nested in quotes: the theme's code background, not Pygments'."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        background = console.get_style("markdown.code_block", default="none").bgcolor
        yield Syntax(str(self.text).rstrip(), self.lexer_name, theme=self.theme, word_wrap=True,
                     padding=(0, 1), background_color=background.name if background else None,
                     tab_size=TAB_SIZE)


class _Table(TableElement):
    """Tables nested in quotes or lists (top-level ones are drawn by `table.py`): boxed."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(box=box.ROUNDED, border_style="markdown.table.border", show_edge=True,
                      pad_edge=True, collapse_padding=False)
        if self.header is not None and self.header.row is not None:
            for column in self.header.row.cells:
                heading = column.content.copy()
                heading.stylize("markdown.table.header")
                table.add_column(heading)
        if self.body is not None:
            for row in self.body.rows:
                table.add_row(*(cell.content for cell in row.cells))
        yield table


class _HtmlBlock(TextElement):
    """Raw HTML shown as typed (Rich drops it, which would hide the text)."""

    style_name = "markdown.paragraph"

    def on_enter(self, context: MarkdownContext) -> None:
        self.text = Text(justify="left")

    def on_text(self, context: MarkdownContext, text: object) -> None:
        if isinstance(text, str):
            self.text.append(text.rstrip("\n"), context.current_style)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.text


class ChatMarkdown(Markdown):
    """Rich Markdown with the shared parser and the elements above; links shown as text."""

    elements: ClassVar = {
        **Markdown.elements,
        "heading_open": _Heading,
        "hr": _Rule,
        "bullet_list_open": _List,
        "ordered_list_open": _List,
        "list_item_open": _ListItem,
        "fence": _CodeBlock,
        "code_block": _CodeBlock,
        "table_open": _Table,
        "html_block": _HtmlBlock,
    }

    def __init__(self, markup: str, code_theme: str = "monokai") -> None:
        # Markdown.__init__ would build a parser; the attributes it sets are set here instead.
        self.markup = markup
        self.parsed = markdown_parser().parse(markup)
        self.code_theme = code_theme
        self.justify = None
        self.style = "none"
        self.hyperlinks = False  # no OSC 8: links show as "text (address)"
        self.inline_code_lexer = None
        self.inline_code_theme = code_theme


# -- drawing ------------------------------------------------------------------------------


def _is_blank(segments: list[Segment]) -> bool:
    return not any(segment.text.strip() for segment in segments)


def render_markdown(source: str, style: RenderStyle, width: int) -> list[Strip]:
    """`source` (one or more Markdown blocks) as unpadded strips at `width`, without the blank
    lines Rich puts before and after blocks."""
    console = console_for(style)
    markdown = ChatMarkdown(source, code_theme=style.code_theme)
    lines = console.render_lines(markdown, console.options.update(width=width), pad=False,
                                 new_lines=False)
    end = len(lines)
    while end and _is_blank(lines[end - 1]):
        end -= 1
    start = 0
    while start < end and _is_blank(lines[start]):
        start += 1
    return [Strip(trim_line(line)) for line in lines[start:end]]


_PARAGRAPH_TOKENS = frozenset({
    "text", "softbreak", "hardbreak", "code_inline", "strong_open", "strong_close", "em_open",
    "em_close", "s_open", "s_close", "link_open", "link_close",
})


def paragraph_text(source: str, style: RenderStyle) -> Text | None:
    """`source` as the Text Rich's Markdown would build for it, if it is one plain paragraph
    (text, emphasis, code, links); None for anything else."""
    tokens = markdown_parser().parse(source)
    if (len(tokens) != 3 or tokens[0].type != "paragraph_open"
            or tokens[1].children is None):
        return None
    children = tokens[1].children
    if any(token.type not in _PARAGRAPH_TOKENS for token in children):
        return None
    # The styles Rich's Markdown stacks up, looked up in the same theme (console_for).
    styles = console_for(style).get_style
    text = Text(justify="left")
    stack = [Style.null() + styles("markdown.paragraph")]
    link: list[str] | None = None
    href = ""
    opening = {"strong_open": "markdown.strong", "em_open": "markdown.em",
               "s_open": "markdown.s"}
    for token in children:
        kind = token.type
        if kind in opening:
            stack.append(stack[-1] + styles(opening[kind]))
        elif kind in ("strong_close", "em_close", "s_close"):
            stack.pop()
        elif kind == "link_open":
            link, href = [], str(token.attrs.get("href", ""))
        elif kind == "link_close" and link is not None:
            # Rich draws a link (hyperlinks off) as its plain text, then the address.
            current = stack[-1]
            text.append("".join(link), current + styles("markdown.link"))
            text.append(" (", current)
            text.append(href, current + styles("markdown.link_url"))
            text.append(")", current)
            link = None
        else:
            content = {"softbreak": " ", "hardbreak": "\n"}.get(kind, token.content)
            if link is not None:
                link.append(content)
            elif kind == "code_inline":
                text.append(content, stack[-1] + styles("markdown.code"))
            else:
                text.append(content, stack[-1])
    return text


@lru_cache(maxsize=16)
def _paragraph_style(style: RenderStyle) -> Style | None:
    """The style Rich's Markdown gives paragraph text (None when that is no style at all)."""
    paragraph = Style.null() + console_for(style).get_style("markdown.paragraph")
    return None if paragraph == Style.null() else paragraph


def render_paragraph(source: str, style: RenderStyle, width: int) -> list[Strip] | None:
    """A paragraph drawn without Rich's Markdown (a paragraph is drawn on every frame while
    it streams); the same lines as `render_markdown`. None when `source` is not one
    paragraph of text, emphasis, code and links."""
    width = max(1, width)
    lines = _wrapped_paragraph(source, style, width)
    if isinstance(lines, Text):  # a character that might not take one cell: Rich measures it
        console = console_for(style)
        rendered = console.render_lines(lines, console.options.update(width=width), pad=False,
                                        new_lines=False)
        return [Strip(trim_line(line)) for line in rendered]
    return lines


def _wrapped_paragraph(source: str, style: RenderStyle,
                       width: int) -> list[Strip] | Text | None:
    """`source` wrapped by our own word wrap when it is one paragraph (a paragraph of plain
    words skips markdown-it too); its Text when only Rich can wrap it (see `wrap_styled`);
    None when it is not one paragraph."""
    plain = plain_paragraph(source)
    if plain is not None:
        paragraph = _paragraph_style(style)
        return [Strip([Segment(line, paragraph)], len(line)) if line else Strip([])
                for line in wrap_plain(plain, width)]
    text = paragraph_text(source, style)
    if text is None:
        return None
    strips = wrap_styled(text, width)
    return text if strips is None else strips


@lru_cache(maxsize=16)
def _marker_styles(style: RenderStyle) -> tuple[Style, Style] | None:
    """The bullet's and the number's styles, or None when Rich would lay list styles over
    an item's text or paint a marker's background (such items are left to Rich)."""
    console = console_for(style)
    if console.get_style("markdown.item", default="none") or \
            console.get_style("markdown.list", default="none"):
        return None
    bullet = console.get_style("markdown.item.bullet", default="none")
    number = console.get_style("markdown.item.number", default="none")
    if bullet.bgcolor is not None or number.bgcolor is not None:
        return None
    return bullet, number


def render_list_item(source: str, style: RenderStyle, width: int) -> list[Strip] | None:
    """One list item whose text is one paragraph, drawn as `render_markdown` draws it (the
    bullet, or the number, then the text wrapped beside it) without Rich's Markdown: a list
    item is drawn on every frame while it streams. None for any other item."""
    item = LIST_ITEM_TEXT.match(source)
    markers = _marker_styles(style)
    if item is None or markers is None:
        return None
    number = item.group(2)
    if number is None:
        first, rest = Segment(" • ", markers[0]), Segment("   ", markers[0])
    else:  # as _ListItem.render_number draws an item numbered alone
        number = str(int(number))
        first = Segment(f" {number}. ", markers[1])
        rest = Segment(" " * (len(number) + 3))
    if width - first.cell_length < 2:
        return None
    lines = _wrapped_paragraph(source[item.end():], style, width - first.cell_length)
    if not isinstance(lines, list):
        return None
    return [Strip(trim_line([first if index == 0 else rest, *line]))
            for index, line in enumerate(lines)]


def render_plain(text: str, style: RenderStyle, width: int) -> list[Strip]:
    """One line of plain text, wrapped at `width`, literally (no markup of any kind)."""
    if not text:
        return [Strip([])]
    console = console_for(style)
    rendered = Text(text, style=style.text)
    if "\t" in text:
        rendered.expand_tabs(TAB_SIZE)
    lines = console.render_lines(rendered, console.options.update(width=width), pad=False,
                                 new_lines=False)
    return [Strip(trim_line(line)) for line in lines]


def inline_text(source: str, style: RenderStyle, base: Style | None = None) -> Text:
    """Inline Markdown (emphasis, code, links) as a Rich Text; for table cells."""
    text = Text()
    stack = [base if base is not None else style.text]
    links: list[str] = []
    tokens = markdown_parser().parseInline(source)
    children = tokens[0].children if tokens and tokens[0].children else []
    opening = {"strong_open": style.strong, "em_open": style.emphasis,
               "s_open": style.strikethrough}
    for token in children:
        kind = token.type
        current = stack[-1]
        if kind in ("text", "text_special"):
            text.append(token.content, current)
        elif kind == "code_inline":
            text.append(token.content, current + style.inline_code)
        elif kind in opening:
            stack.append(current + opening[kind])
        elif kind in ("strong_close", "em_close", "s_close"):
            if len(stack) > 1:
                stack.pop()
        elif kind == "link_open":
            links.append(str(token.attrs.get("href", "")))
            stack.append(current + style.link)
        elif kind == "link_close":
            if len(stack) > 1:
                stack.pop()
            href = links.pop() if links else ""
            if href:
                text.append(" (", stack[-1])
                text.append(href, stack[-1] + style.muted)
                text.append(")", stack[-1])
        elif kind in ("softbreak", "hardbreak"):
            text.append(" ", current)
        elif kind == "html_inline":
            if token.content.replace(" ", "").lower() in ("<br>", "<br/>"):
                text.append("\n", current)  # tables use <br> for line breaks in a cell
            else:
                text.append(token.content, current)
        elif kind == "image":
            text.append(token.content or str(token.attrs.get("src", "")), current)
        elif token.content:
            text.append(token.content, current)
    if "\t" in text.plain:
        text.expand_tabs(TAB_SIZE)
    return text
