"""Every shipped theme keeps secondary text readable and code blocks set apart, computed from
the theme's resolved colours and from what the conversation list actually draws."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygments.styles import get_style_by_name
from pygments.token import Token
from rich.color import Color as RichColor
from rich.color import ColorSystem
from textual.color import Color

from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.locations import bundled_themes_dir
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.screens.conversations import ConversationList
from tui_chat.store import ConversationStore
from tui_chat.themes import ThemeFile, app_variables_for, load_themes

SHIPPED, PROBLEMS = load_themes([bundled_themes_dir()])
THEMES = {theme_file.theme.name: theme_file for theme_file in SHIPPED}


def luminance(colour: Color) -> float:
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
              for c in (colour.r / 255, colour.g / 255, colour.b / 255)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def wcag(first: Color, second: Color) -> float:
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def xterm_256(colour: Color) -> int | None:
    return RichColor.from_rgb(colour.r, colour.g, colour.b).downgrade(ColorSystem.EIGHT_BIT).number


def resolved(theme_file: ThemeFile) -> dict[str, Color]:
    """The theme's colours as the app uses them: Textual's generated ones, our derived app
    variables, then the file's own [variables] (the order App.get_css_variables applies)."""
    theme = theme_file.theme
    values = {**theme.to_color_system().generate(), **app_variables_for(theme),
              **theme.variables}
    colours = {}
    for key, value in values.items():
        try:
            colours[key] = Color.parse(value)
        except Exception:  # "auto 60%", text styles: resolved below where used
            continue
    background = colours["background"]
    colours["text-muted@background"] = background + background.get_contrast_text(0.6)
    panel = colours["panel"]
    colours["text-muted@panel"] = panel + panel.get_contrast_text(0.6)
    return colours


def test_the_shipped_themes_load() -> None:
    assert PROBLEMS == []
    assert {"paper", "sand", "harbour", "ember", "moss", "midnight-256"} <= THEMES.keys()


@pytest.mark.parametrize("name", sorted(THEMES))
def test_secondary_text_is_readable(name: str) -> None:
    colours = resolved(THEMES[name])
    for ground in ("background", "surface", "panel"):
        assert wcag(colours["meta-text"], colours[ground]) >= 4.5, ground
    # The status bar and message footers: $text-muted on the panel and the page.
    assert wcag(colours["text-muted@panel"], colours["panel"]) >= 4.5
    assert wcag(colours["text-muted@background"], colours["background"]) >= 4.5


@pytest.mark.parametrize("name", sorted(THEMES))
def test_code_blocks_have_a_background_of_their_own_and_readable_text(name: str) -> None:
    theme_file = THEMES[name]
    colours = resolved(theme_file)
    code, background = colours["message-code-background"], colours["background"]
    assert wcag(code, background) >= 1.1
    assert xterm_256(code) != xterm_256(background)  # also apart in 256 colours (tmux)
    style = get_style_by_name(theme_file.syntax)
    plain = style.style_for_token(Token.Text)["color"] or style.style_for_token(Token)["color"]
    text = Color.parse(f"#{plain}") if plain else colours["foreground"]
    assert wcag(text, code) >= 4.5
    assert wcag(colours["accent"], code) >= 4.5  # inline code


@pytest.mark.parametrize("name", sorted(THEMES))
async def test_the_conversation_lists_dates_and_counts_are_readable(
        name: str, tmp_path: Path) -> None:
    settings = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m", theme=name)
    with ConversationStore(tmp_path / "c.db") as store:
        for title in ("Soup", "Trip", "Rust"):
            conversation = store.create_conversation(title)
            store.add_message(conversation, "user", "hi")
        app = make_app(settings, ScriptedProvider(), store=store)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("ctrl+o")
            await pilot.pause()
            listing = app.screen.query_one(ConversationList)
            checked = 0
            for y in range(5):
                for segment in listing.render_line(y):
                    style = segment.style
                    if not segment.text.strip() or style is None or style.color is None:
                        continue
                    fg, bg = style.color.triplet, style.bgcolor and style.bgcolor.triplet
                    assert fg is not None and bg is not None
                    ratio = wcag(Color(*fg), Color(*bg))
                    assert ratio >= 4.5, (y, segment.text, fg.hex, bg.hex, round(ratio, 2))
                    checked += "message" in segment.text
            assert checked == 3
