"""RenderStyle: the colours and code style the renderer draws with (no Textual state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.color import Color
from rich.style import Style

TAB_SIZE = 4
"""Columns between tab stops, in prose and code."""


@dataclass(frozen=True)
class RenderStyle:
    """Rich styles the renderer uses; built by the widget from the current Textual theme.

    Every field has a default, so `RenderStyle()` draws readable output on a dark terminal.
    Hashable: the renderer keeps one private console per style.
    """

    text: Style = field(default_factory=Style)
    """Base text. Usually empty, so the widget's own colours show through."""
    heading: Style = field(default_factory=lambda: Style(bold=True))
    """Headings h1..h6 (h1 also underlined, h4..h6 italic, h6 dim)."""
    emphasis: Style = field(default_factory=lambda: Style(italic=True))
    strong: Style = field(default_factory=lambda: Style(bold=True))
    strikethrough: Style = field(default_factory=lambda: Style(strike=True))
    link: Style = field(default_factory=lambda: Style(underline=True))
    """Link text; the address follows it in brackets, in `muted`."""
    inline_code: Style = field(default_factory=lambda: Style(bold=True))
    quote: Style = field(default_factory=lambda: Style(italic=True))
    rule: Style = field(default_factory=lambda: Style(dim=True))
    table_border: Style = field(default_factory=lambda: Style(dim=True))
    table_header: Style = field(default_factory=lambda: Style(bold=True))
    list_bullet: Style = field(default_factory=lambda: Style(bold=True))
    code_background: Color | str = "#1e1e1e"
    """Painted across the full width of fenced code."""
    code_theme: str = "monokai"
    """A Pygments style name for token colours (its own background is not used)."""
    muted: Style = field(default_factory=lambda: Style(dim=True))
    """Secondary text: the fence language label, link addresses."""

    @property
    def code_background_style(self) -> Style:
        return Style(bgcolor=self.code_background)
