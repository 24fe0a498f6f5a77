"""Theme files: shipped themes load, apply in a real app, read well; broken files are reported."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import ClassVar

import pytest
from pygments import token
from pygments.styles import get_all_styles, get_style_by_name
from rich.color import Color as RichColor
from rich.color import ColorSystem
from textual.app import App, ComposeResult
from textual.color import Color
from textual.theme import BUILTIN_THEMES
from textual.widgets import Static

from tui_chat.compat.textual_hooks import EIGHT_BIT_PALETTE
from tui_chat.locations import bundled_themes_dir
from tui_chat.themes import (
    APP_VARIABLE_DEFAULTS,
    ThemeFile,
    app_variables_for,
    load_themes,
    read_theme_file,
    syntax_style_for,
)

SHIPPED, SHIPPED_PROBLEMS = load_themes([bundled_themes_dir()])
BY_NAME = {theme_file.theme.name: theme_file for theme_file in SHIPPED}

GOOD = 'primary = "#5DB0E8"\nbackground = "#0E1A26"\nforeground = "#D9E4EE"\n'


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two opaque colours."""

    def luminance(colour: str) -> float:
        channels = [value / 255 for value in Color.parse(colour).rgb]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


class ThemedApp(App[None]):
    """Uses the app variables the way the chat widgets do, so a bad value breaks the CSS."""

    CSS = """
    #user { background: $message-user-background; border-left: outer $message-border-user; }
    #code { background: $message-code-background; border-left: outer $message-border-error; }
    #answer { border-left: outer $message-border-assistant; }
    """
    derive_defaults: ClassVar[bool] = False

    def compose(self) -> ComposeResult:
        yield Static("question", id="user")
        yield Static("print(1)", id="code")
        yield Static("answer", id="answer")

    def get_theme_variable_defaults(self) -> dict[str, str]:
        if self.derive_defaults:
            return app_variables_for(self.current_theme)
        return dict(APP_VARIABLE_DEFAULTS)


class DerivingApp(ThemedApp):
    derive_defaults = True


# --- shipped themes ------------------------------------------------------------------------


def test_shipped_themes_load_without_problems() -> None:
    assert SHIPPED_PROBLEMS == []
    stems = {path.stem for path in bundled_themes_dir().glob("*.toml")}
    assert set(BY_NAME) == stems
    assert len(SHIPPED) >= 6
    assert sum(not theme_file.theme.dark for theme_file in SHIPPED) >= 2


@pytest.mark.parametrize("name", sorted(BY_NAME))
async def test_shipped_theme_registers_and_applies_in_a_real_app(name: str) -> None:
    theme_file = BY_NAME[name]
    app = ThemedApp()
    async with asyncio.timeout(30), app.run_test() as pilot:
        app.register_theme(theme_file.theme)
        app.theme = name
        await pilot.pause()  # the CSS refresh runs here; a bad value would crash the app
        assert app.current_theme.name == name
        user = app.query_one("#user", Static)
        code = app.query_one("#code", Static)
        expected = {**APP_VARIABLE_DEFAULTS, **theme_file.theme.variables}
        assert user.styles.background == Color.parse(expected["message-user-background"])
        assert code.styles.background == Color.parse(expected["message-code-background"])
        assert user.styles.border_left[1] == Color.parse(expected["message-border-user"])
        assert app.screen.styles.background == Color.parse(theme_file.theme.background or "")


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_shipped_theme_text_is_readable(name: str) -> None:
    theme = BY_NAME[name].theme
    assert theme.foreground and theme.background and theme.surface and theme.panel
    assert contrast(theme.foreground, theme.background) >= 7
    for area in (theme.surface, theme.panel, theme.variables["message-user-background"],
                 theme.variables["message-code-background"]):
        assert contrast(theme.foreground, area) >= 4.5, area
    # Headings and links are drawn in these as text; the rest mark borders and states.
    for role in ("primary", "accent"):
        assert contrast(getattr(theme, role), theme.background) >= 4.5, role
    for role in ("secondary", "warning", "error", "success"):
        assert contrast(getattr(theme, role), theme.background) >= 3, role


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_shipped_theme_code_colours_are_readable_on_its_code_background(name: str) -> None:
    theme_file = BY_NAME[name]
    style = get_style_by_name(theme_file.syntax)
    background = theme_file.theme.variables["message-code-background"]
    kinds = (token.Keyword, token.Name, token.Name.Function, token.Name.Class, token.Name.Builtin,
             token.String, token.String.Escape, token.Number, token.Operator, token.Comment)
    for kind in kinds:
        colour = style.style_for_token(kind)["color"]
        drawn = f"#{colour}" if colour else theme_file.theme.foreground or ""
        assert contrast(drawn, background) >= 3, (theme_file.syntax, kind)


def test_midnight_256_colours_survive_reduction_to_256_colours() -> None:
    theme = BY_NAME["midnight-256"].theme
    colours = [getattr(theme, key) for key in ("primary", "secondary", "accent", "warning",
                                               "error", "success", "foreground", "background",
                                               "surface", "panel")]
    colours += [value for key, value in theme.variables.items() if key.startswith("message-")]
    for colour in colours:
        reduced = RichColor.parse(colour).downgrade(ColorSystem.EIGHT_BIT)
        assert reduced.number is not None and reduced.number >= 16, colour  # 0-15 vary by terminal
        assert EIGHT_BIT_PALETTE[reduced.number] == Color.parse(colour).rgb, colour


# --- broken files --------------------------------------------------------------------------


def broken(name: str, text: str, expected: str) -> object:
    return pytest.param(text, expected, id=name)


@pytest.mark.parametrize(("text", "expected"), [
    broken("bad-toml", GOOD + "dark = \n", "line 4: not valid TOML"),
    broken("unknown-key", GOOD + 'primay = "#ffffff"\n',
           "line 4: unknown key 'primay' (did you mean 'primary'?)"),
    broken("bad-colour", 'dark = true\n\nprimary = "reddish"\n',
           "line 3: invalid colour 'reddish' for primary"),
    broken("unknown-pygments-style", GOOD + 'syntax = "monokay"\n',
           "line 4: unknown Pygments style 'monokay' for syntax"),
    broken("variable-refers-to-variable",
           GOOD + '[variables]\nmessage-user-background = "$surface"\n',
           "line 5: invalid colour '$surface' for variable 'message-user-background'"),
    broken("app-variable-not-opaque",
           GOOD + '[variables]\nmessage-code-background = "#00000080"\n',
           "must be an opaque colour"),
    broken("unknown-variable", GOOD + '[variables]\nmesage-user-background = "#000000"\n',
           "unknown variable 'mesage-user-background' (did you mean 'message-user-background'?)"),
    broken("bad-text-style", GOOD + '[variables]\nbutton-focus-text-style = "shiny"\n',
           "invalid text style 'shiny'"),
    broken("bad-colour-with-alpha", GOOD + '[variables]\ninput-selection-background = "blu 35%"\n',
           "invalid colour 'blu'"),
    broken("dark-not-bool", GOOD + "dark = 1\n", "line 4: 'dark' must be true or false"),
    broken("text-alpha-out-of-range", GOOD + "text_alpha = 2\n",
           "'text_alpha' must be a number from 0 to 1"),
    broken("name-differs-from-file", GOOD + 'name = "other"\n',
           "'name' is 'other' but the file is named 'broken'"),
    broken("no-primary", 'background = "#000000"\n', "'primary' is missing"),
])
async def test_broken_file_is_one_line_and_the_others_still_load(
        tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, "good", GOOD)
    broken = write(tmp_path, "broken", text)

    themes, problems = load_themes([tmp_path])

    assert len(problems) == 1
    assert "\n" not in problems[0]
    assert problems[0].startswith(f"{broken}")
    assert expected in problems[0]
    assert [theme_file.theme.name for theme_file in themes] == ["good"]
    app = ThemedApp()
    async with asyncio.timeout(30), app.run_test() as pilot:
        for theme_file in themes:
            app.register_theme(theme_file.theme)
        app.theme = "good"
        await pilot.pause()
        assert app.current_theme.name == "good"
        assert "broken" not in app.available_themes


def test_problem_names_the_file_line_and_colour(tmp_path: Path) -> None:
    write(tmp_path, "ember", '# warm\ndark = true\nprimary = "reddish"\n')
    _, problems = load_themes([tmp_path])
    assert problems == [f"{tmp_path / 'ember.toml'}, line 3: invalid colour 'reddish' for primary "
                        f"(did you mean 'red'?)"]


def test_read_theme_file_keeps_what_it_was_given(tmp_path: Path) -> None:
    path = write(tmp_path, "tide", GOOD + 'name = "tide"\ndark = false\nsyntax = "friendly"\n'
                                          'text_alpha = 1\n'
                                          '[variables]\nmessage-user-background = "rgb(1, 2, 3)"\n'
                                          'input-selection-background = "#81a1c1 35%"\n'
                                          'block-cursor-text-style = "bold underline"\n')
    theme_file = read_theme_file(path)
    assert theme_file == ThemeFile(theme=theme_file.theme, syntax="friendly", path=path)
    theme = theme_file.theme
    assert (theme.name, theme.primary, theme.dark, theme.text_alpha) == ("tide", "#5DB0E8",
                                                                           False, 1.0)
    assert theme.variables == {"message-user-background": "#010203",
                               "input-selection-background": "#81a1c1 35%",
                               "block-cursor-text-style": "bold underline"}


def test_missing_syntax_follows_dark_or_light(tmp_path: Path) -> None:
    dark = read_theme_file(write(tmp_path, "night", GOOD))
    light = read_theme_file(write(tmp_path, "day", GOOD + "dark = false\n"))
    assert dark.syntax != light.syntax
    assert {dark.syntax, light.syntax} <= set(get_all_styles())


def test_missing_directories_are_skipped_quietly(tmp_path: Path) -> None:
    write(tmp_path / "user", "good", GOOD)
    themes, problems = load_themes([tmp_path / "absent", tmp_path / "user"])
    assert problems == []
    assert [theme_file.theme.name for theme_file in themes] == ["good"]


# --- overriding by name --------------------------------------------------------------------


def test_user_theme_overrides_bundled_theme_of_the_same_name(tmp_path: Path) -> None:
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    copy = shutil.copy(bundled_themes_dir() / "harbour.toml", user_dir / "harbour.toml")
    text = Path(copy).read_text(encoding="utf-8")
    Path(copy).write_text(text.replace('primary = "#5DB0E8"', 'primary = "#66CCFF"'),
                          encoding="utf-8")

    themes, problems = load_themes([bundled_themes_dir(), user_dir])

    assert problems == []
    by_name = {theme_file.theme.name: theme_file for theme_file in themes}
    assert set(by_name) == set(BY_NAME)
    assert by_name["harbour"].theme.primary == "#66CCFF"
    assert by_name["harbour"].path == user_dir / "harbour.toml"
    assert by_name["ember"].path == BY_NAME["ember"].path


def test_broken_user_theme_leaves_the_bundled_one_in_place(tmp_path: Path) -> None:
    write(tmp_path, "ember", 'primary = "not a colour"\n')
    themes, problems = load_themes([bundled_themes_dir(), tmp_path])
    assert len(problems) == 1 and "ember.toml" in problems[0]
    ember = next(theme_file for theme_file in themes if theme_file.theme.name == "ember")
    assert ember.path == BY_NAME["ember"].path


# --- syntax styles -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN_THEMES))
def test_syntax_style_for_builtin_themes_exists_in_pygments(name: str) -> None:
    theme = BUILTIN_THEMES[name]
    assert syntax_style_for(name, SHIPPED, dark=theme.dark) in set(get_all_styles())


def test_syntax_style_for_prefers_the_theme_file_then_the_builtin_match() -> None:
    for theme_file in SHIPPED:
        assert syntax_style_for(theme_file.theme.name, SHIPPED, dark=True) == theme_file.syntax
    assert syntax_style_for("dracula", SHIPPED, dark=True) == "dracula"
    assert syntax_style_for("gruvbox", SHIPPED, dark=True) == "gruvbox-dark"
    assert syntax_style_for("solarized-light", SHIPPED, dark=False) == "solarized-light"
    assert syntax_style_for("textual-dark", SHIPPED, dark=True) != syntax_style_for(
        "textual-light", SHIPPED, dark=False)


def test_syntax_style_for_a_user_file_overriding_a_builtin_name(tmp_path: Path) -> None:
    write(tmp_path, "dracula", GOOD + 'syntax = "zenburn"\n')
    themes, problems = load_themes([tmp_path])
    assert problems == []
    assert syntax_style_for("dracula", themes, dark=True) == "zenburn"


# --- app variables for built-in themes -----------------------------------------------------


def test_app_variable_defaults_are_the_values_for_textual_dark() -> None:
    assert app_variables_for(BUILTIN_THEMES["textual-dark"]) == APP_VARIABLE_DEFAULTS


@pytest.mark.parametrize("name", sorted(n for n, t in BUILTIN_THEMES.items() if not t.ansi))
def test_derived_message_backgrounds_keep_builtin_themes_readable(name: str) -> None:
    theme = BUILTIN_THEMES[name]
    generated = theme.to_color_system().generate()
    values = app_variables_for(theme)
    assert values.keys() == APP_VARIABLE_DEFAULTS.keys()
    base = contrast(generated["foreground"], generated["background"])
    for key in ("message-user-background", "message-code-background"):
        assert values[key] != generated["background"]  # set apart from the page
        assert contrast(generated["foreground"], values[key]) >= min(4.5, 0.8 * base), key


async def test_every_builtin_theme_applies_with_derived_app_variables() -> None:
    app = DerivingApp()
    async with asyncio.timeout(60), app.run_test() as pilot:
        for name, theme in BUILTIN_THEMES.items():
            app.theme = name
            await pilot.pause()
            if not theme.ansi:
                expected = Color.parse(app_variables_for(theme)["message-user-background"])
                assert app.query_one("#user", Static).styles.background == expected, name

