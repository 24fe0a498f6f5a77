"""Theme files: read themes/*.toml into checked Textual themes, each with its Pygments style."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from difflib import get_close_matches
from functools import cache, partial
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.css.constants import VALID_STYLE_FLAGS
from textual.theme import BUILTIN_THEMES, Theme

APP_VARIABLE_DEFAULTS: dict[str, str] = {
    # Behind the user's own messages, so a question stands apart from the answer under it.
    "message-user-background": "#0F1E29",
    # Behind fenced code in answers; the Pygments colours of the theme's `syntax` sit on it.
    "message-code-background": "#1E1E1E",
    # Left edge of an answer from the model.
    "message-border-assistant": "#004578",
    # Left edge of the user's messages.
    "message-border-user": "#0178D4",
    # Left edge of a message that reports an error.
    "message-border-error": "#B93C5B",
    # Secondary text (dates and counts in the conversation list, hints): quieter than the
    # foreground but readable (WCAG contrast 4.5 or more) on background, surface and panel.
    "meta-text": "#94999C",
}
"""App-specific theme variables and their values for the default `textual-dark` theme.

A theme file may set any of them in its `[variables]` table. They are always opaque `#RRGGBB`
colours after loading, so they can be handed to Rich as they are.
"""

DEFAULT_DARK_SYNTAX = "monokai"
DEFAULT_LIGHT_SYNTAX = "default"

# Pygments styles that match Textual's built-in themes; names missing from the installed
# Pygments are dropped when looked up, so an old Pygments falls back to the defaults.
_BUILTIN_SYNTAX = {
    "dracula": "dracula",
    "nord": "nord",
    "gruvbox": "gruvbox-dark",
    "monokai": "monokai",
    "solarized-light": "solarized-light",
    "solarized-dark": "solarized-dark",
    "atom-one-dark": "one-dark",
    "tokyo-night": "night-owl",
}

_COLOUR_KEYS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground",
                "background", "surface", "panel", "boost")
_BOOL_KEYS = ("dark", "ansi")
_FRACTION_KEYS = ("luminosity_spread", "text_alpha")
_KNOWN_KEYS = {f.name for f in fields(Theme)} | {"syntax"}
_THEME_NAME = re.compile(r"[A-Za-z0-9_-]+")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


@dataclass(frozen=True)
class ThemeFile:
    """A theme read from a file, ready for `App.register_theme`."""

    theme: Theme
    syntax: str
    """Pygments style for code blocks under this theme."""
    path: Path


class ThemeFileError(Exception):
    """A theme file cannot be used. `str(error)` is one line naming the file and the problem."""


def load_themes(directories: Iterable[Path]) -> tuple[list[ThemeFile], list[str]]:
    """Read every `*.toml` theme in `directories`.

    A broken file is skipped and reported; it never stops the others from loading. A theme in a
    later directory replaces one of the same name from an earlier one, so pass the bundled
    directory first and the user's directory after it. Missing directories are skipped quietly.

    Returns:
        The themes, sorted by name, and one line per problem.
    """
    found: dict[str, ThemeFile] = {}
    problems: list[str] = []
    for directory in directories:
        try:
            paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
        except OSError as error:
            problems.append(f"{directory}: cannot list themes: {error.strerror or error}")
            continue
        for path in paths:
            try:
                theme_file = read_theme_file(path)
            except ThemeFileError as error:
                problems.append(str(error))
            else:
                found[theme_file.theme.name] = theme_file
    return [found[name] for name in sorted(found)], problems


def read_theme_file(path: Path) -> ThemeFile:
    """Read and check one theme file; its stem is the theme's name.

    Raises:
        ThemeFileError: naming the file, the line when known, and what is wrong.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ThemeFileError(f"{path}: cannot read: {reason or error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ThemeFileError(_toml_problem(path, error)) from None
    try:
        theme, syntax = _build(path.stem, data, text)
    except _Problem as problem:
        where = f"{path}, line {problem.line}" if problem.line else str(path)
        raise ThemeFileError(f"{where}: {problem.message}") from None
    return ThemeFile(theme=theme, syntax=syntax, path=path)


def syntax_style_for(theme_name: str, theme_files: Iterable[ThemeFile], *, dark: bool) -> str:
    """The Pygments style for code under `theme_name`.

    A theme file's `syntax` comes first, then a style matching a Textual built-in theme, then
    a default for dark or light themes.
    """
    chosen = None
    for theme_file in theme_files:
        if theme_file.theme.name == theme_name:
            chosen = theme_file.syntax  # no break: the last file of a name wins, as in load_themes
    if chosen is None:
        chosen = _BUILTIN_SYNTAX.get(theme_name)
    if chosen is not None and is_pygments_style(chosen):
        return chosen
    return DEFAULT_DARK_SYNTAX if dark else DEFAULT_LIGHT_SYNTAX


def app_variables_for(theme: Theme) -> dict[str, str]:
    """Values of the app variables that suit `theme`, for themes whose files do not set them.

    Made from the theme's own colours, so Textual's built-in themes get message colours that
    match them, dark or light. The theme's `variables` still win in `App.get_css_variables`.
    """
    generated = theme.to_color_system().generate()
    if theme.ansi:
        # The terminal's own palette: only its named colours follow the user's terminal theme.
        return {
            "message-user-background": generated["background"],
            "message-code-background": generated["background"],
            "message-border-assistant": generated["secondary"],
            "message-border-user": generated["primary"],
            "message-border-error": generated["error"],
        }
    background = Color.parse(generated["background"])
    foreground = Color.parse(generated["foreground"])
    primary = Color.parse(generated["primary"])
    code = code_background(background, foreground)
    grounds = [background, code, *(Color.parse(generated[key]) for key in ("surface", "panel"))]
    return {
        "message-user-background": background.blend(primary, 0.12).hex,
        "message-code-background": code.hex,
        "message-border-assistant": Color.parse(generated["secondary"]).hex,
        "message-border-user": primary.hex,
        "message-border-error": Color.parse(generated["error"]).hex,
        "meta-text": secondary_text(foreground, grounds).hex,
    }


READABLE = 4.5
"""WCAG 2 AA contrast for text."""

CODE_SET_APART = 1.1
"""Least contrast between code blocks' background and the page's: below it (and when both
fall on one xterm-256 colour) a code block has no background of its own."""


def contrast(first: Color, second: Color) -> float:
    """WCAG 2 contrast ratio of two opaque colours (1 to 21)."""

    def luminance(colour: Color) -> float:
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                  for c in (colour.r / 255, colour.g / 255, colour.b / 255)]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def code_background(background: Color, foreground: Color) -> Color:
    """The page's background moved towards the text just far enough to set code apart, in
    true colour and in 256 colours (tmux and many SSH setups)."""
    for percent in range(4, 41):
        code = background.blend(foreground, percent / 100)
        if is_set_apart(code, background):
            return code
    return background.blend(foreground, 0.4)


def is_set_apart(code: Color, background: Color) -> bool:
    """Whether a code block's background shows against the page's."""
    return (contrast(code, background) >= CODE_SET_APART
            and xterm_256(code) != xterm_256(background))


def xterm_256(colour: Color) -> int | None:
    """The xterm-256 colour a terminal without true colour shows for `colour`."""
    from rich.color import Color as RichColor
    from rich.color import ColorSystem

    return RichColor.from_rgb(colour.r, colour.g, colour.b).downgrade(ColorSystem.EIGHT_BIT).number


def secondary_text(foreground: Color, backgrounds: list[Color]) -> Color:
    """The quietest blend of the foreground into the backgrounds that stays readable on each."""
    closest = min(backgrounds, key=lambda ground: contrast(foreground, ground))
    for percent in range(50, 101, 2):
        text = closest.blend(foreground, percent / 100)
        if all(contrast(text, ground) >= READABLE + 0.05 for ground in backgrounds):
            return text
    return foreground


def is_pygments_style(name: str) -> bool:
    """Whether a Pygments style of this name is installed here.

    The built-in names are a dict lookup; only another name costs the search of every
    installed package for plugin styles (35-45 ms, measured), which the app would otherwise
    pay at every launch, for every theme file.
    """
    from pygments.styles import STYLE_MAP

    return name in STYLE_MAP or name in pygments_styles()


@cache
def pygments_styles() -> frozenset[str]:
    """Names of the Pygments styles installed here, plugins included."""
    from pygments.styles import get_all_styles

    return frozenset(get_all_styles())


@cache
def _textual_variable_names() -> frozenset[str]:
    return frozenset(BUILTIN_THEMES["textual-dark"].to_color_system().generate())


_Line = int | None | Callable[[], int | None]
"""A line number, or how to find it: looking a key up in the file's text takes a regex compile,
so checks of values that are usually fine pass the finder, and only a problem calls it."""


class _Problem(Exception):
    def __init__(self, message: str, line: _Line = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line() if callable(line) else line


def _build(name: str, data: dict[str, Any], text: str) -> tuple[Theme, str]:
    for key in data:
        if key not in _KNOWN_KEYS:
            raise _Problem(f"unknown key '{key}'{_suggest(key, _KNOWN_KEYS)}", _line_of(text, key))
    if not _THEME_NAME.fullmatch(name):
        raise _Problem(f"the file name must use only letters, digits, '-' and '_' "
                       f"(it is the theme's name), not {name!r}")
    if "name" in data and data["name"] != name:
        raise _Problem(f"'name' is {data['name']!r} but the file is named {name!r}; "
                       f"the file name is the theme's name", _line_of(text, "name"))
    if "primary" not in data:
        raise _Problem("'primary' is missing; a theme needs at least a primary colour")
    options: dict[str, Any] = {"name": name}
    for key in _COLOUR_KEYS:
        if key in data:
            _colour(data[key], f"for {key}", partial(_line_of, text, key))
            options[key] = data[key]  # kept as written: an ansi_* name must stay a name
    for key in _BOOL_KEYS:
        if key in data:
            if not isinstance(data[key], bool):
                raise _Problem(f"'{key}' must be true or false, not {data[key]!r}",
                               _line_of(text, key))
            options[key] = data[key]
    for key in _FRACTION_KEYS:
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise _Problem(f"'{key}' must be a number from 0 to 1, not {value!r}",
                               _line_of(text, key))
            options[key] = float(value)
    options["variables"] = _variables(data.get("variables", {}), text)
    dark = options.get("dark", True)
    syntax = data.get("syntax", DEFAULT_DARK_SYNTAX if dark else DEFAULT_LIGHT_SYNTAX)
    if not isinstance(syntax, str) or not is_pygments_style(syntax):
        hint = _suggest(str(syntax), pygments_styles())
        raise _Problem(f"unknown Pygments style {syntax!r} for syntax{hint}",
                       _line_of(text, "syntax"))
    theme = Theme(**options)
    try:
        theme.to_color_system().generate()  # what the app will do when the theme is chosen
    except (ColorParseError, ValueError, TypeError) as error:
        raise _Problem(f"Textual cannot use this theme: {error}") from None
    return theme, syntax


def _variables(table: Any, text: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise _Problem("'variables' must be a table, such as [variables]",
                       _line_of(text, "variables"))
    known = _textual_variable_names() | APP_VARIABLE_DEFAULTS.keys()
    checked: dict[str, str] = {}
    for key, value in table.items():
        line = partial(_line_of, text, key, table="variables")
        if key not in known:
            raise _Problem(f"unknown variable '{key}'{_suggest(key, known)}", line)
        if not isinstance(value, str):
            raise _Problem(f"variable '{key}' must be a string, not {value!r}", line)
        if key in APP_VARIABLE_DEFAULTS:
            colour = _colour(value, f"for variable '{key}'", line)
            if colour.a < 1:
                raise _Problem(f"variable '{key}' must be an opaque colour, not {value!r}", line)
            checked[key] = colour.hex
        elif key.endswith("-style") or "-style-" in key:
            words = value.split()
            if not words or any(word not in VALID_STYLE_FLAGS for word in words):
                raise _Problem(f"invalid text style {value!r} for variable '{key}' "
                               f"(use words such as bold, italic, underline, reverse, none)", line)
            checked[key] = value
        else:
            checked[key] = _textual_colour_value(value, key, line)
    return checked


def _textual_colour_value(value: str, key: str, line: _Line) -> str:
    """A colour as Textual's own variables take it: `#81a1c1`, `#81a1c1 35%` or `auto 87%`."""
    words = value.split()
    if len(words) == 2 and _PERCENT.fullmatch(words[1]):
        if words[0] == "auto":
            return value
        _colour(words[0], f"for variable '{key}'", line)
        return value
    _colour(value, f"for variable '{key}'", line)
    return value


def _colour(value: Any, what: str, line: _Line) -> Color:
    if not isinstance(value, str):
        raise _Problem(f"invalid colour {value!r} {what}: write it as a string such as "
                       f"\"#1e2a38\"", line)
    if value.strip().startswith("$"):
        raise _Problem(f"invalid colour {value!r} {what}: other variables cannot be used here, "
                       f"write a colour such as \"#1e2a38\"", line)
    try:
        return Color.parse(value)
    except ColorParseError as error:
        hint = f" (did you mean '{error.suggested_color}'?)" if error.suggested_color else ""
        raise _Problem(f"invalid colour {value!r} {what}{hint}", line) from None


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _line_of(text: str, key: str, *, table: str | None = None) -> int | None:
    start = 0
    if table is not None:
        header = re.search(rf"^[ \t]*\[[ \t]*{re.escape(table)}[ \t]*\]", text, re.MULTILINE)
        start = header.end() if header else 0
    pattern = re.compile(rf"^[ \t]*(?:\w+\.)?[\"']?{re.escape(key)}[\"']?[ \t]*=", re.MULTILINE)
    match = pattern.search(text, start) or pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _toml_problem(path: Path, error: tomllib.TOMLDecodeError) -> str:
    message = str(error)
    if position := _TOML_POSITION.search(message):
        reason = message[: position.start()]
        return f"{path}, line {position.group(1)}: not valid TOML: {reason}"
    return f"{path}: not valid TOML: {message}"
