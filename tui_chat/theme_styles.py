"""Turn the current Textual theme into the renderer's styles."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from rich.style import Style
from textual.app import App
from textual.color import Color, ColorParseError

from tui_chat.render import RenderStyle


def render_style_for(app: App[Any], code_theme: str) -> RenderStyle:
    """Build the renderer's styles from the app's theme variables, so answers follow the theme."""
    variables = app.theme_variables
    try:
        background = Color.parse(variables.get("background", "#000000"))
    except ColorParseError:
        background = Color(0, 0, 0)

    def colour(name: str, fallback: str) -> str:
        # Theme values may carry alpha (#RRGGBBAA) or be words; Rich wants opaque #RRGGBB,
        # so blend over the background.
        try:
            return (background + Color.parse(variables.get(name, fallback))).hex6
        except ColorParseError:
            return fallback

    primary = colour("primary", "#0178D4")
    accent = colour("accent", "#ffa62b")
    secondary = colour("secondary", "#004578")
    muted = colour("meta-text", "#94999C")  # readable on the theme's backgrounds
    code_background = colour("message-code-background", colour("surface", "#1e1e1e"))
    wanted: dict[str, Any] = {
        "text": Style(),
        "heading": Style(color=primary, bold=True),
        "link": Style(color=accent, underline=True),
        "inline_code": Style(color=accent, bgcolor=code_background),
        "quote": Style(color=muted, italic=True),
        "rule": Style(color=secondary),
        "table_border": Style(color=secondary),
        "list_bullet": Style(color=primary, bold=True),
        "code_background": code_background,
        "code_theme": code_theme,
        "muted": Style(color=muted),
    }
    known = {f.name for f in fields(RenderStyle)}
    return RenderStyle(**{k: v for k, v in wanted.items() if k in known})
