"""The welcome shown in an empty conversation: where the questions go and how to change it.

Built by one function, `welcome_text`, so a new way to start (say `tui-chat --local`) is one
more line there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from textual.content import Content


@dataclass(frozen=True, slots=True)
class WelcomeFacts:
    """What the welcome says, as plain values (the app gathers them from the settings)."""

    endpoint: str
    model: str
    via_relay: bool = False
    profiles: Sequence[str] = ()
    config_path: Path | None = None
    problems: Sequence[str] = field(default_factory=tuple)
    """One line each, e.g. that no API key is set; shown here rather than as a toast that
    would cover the input's hint."""


def welcome_text(facts: WelcomeFacts) -> Content:
    """A few short lines for the transcript of an empty conversation (fits 80x24)."""
    where = "a tui-chat relay at" if facts.via_relay else "the endpoint"
    lines: list[Content] = [
        Content.styled("Welcome to tui-chat.", "bold"),
        Content(f"Questions go to {facts.model} at {where} {facts.endpoint}"),
    ]
    change = "Change them with --base-url URL and --model NAME"
    if facts.profiles:
        change += f", a profile (--profile NAME: {', '.join(facts.profiles)})"
    else:
        change += ", a [profiles.NAME] table"
    config = shown_path(facts.config_path) if facts.config_path else "the config file"
    lines.append(Content(f"{change}, or {config}; F2 picks a model now."))
    # A line about other ways to start (e.g. `tui-chat --local`) goes here.
    for problem in facts.problems:
        lines.append(Content.styled(f"! {problem}", "bold"))
    lines.append(Content("F1 lists every key · Ctrl+P every command · Enter sends."))
    return Content("\n").join(lines)


def shown_path(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """A path as a person would type it: under $XDG_CONFIG_HOME or ~ when it is."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME")
    if base and path.is_relative_to(base):
        return f"$XDG_CONFIG_HOME/{path.relative_to(base)}"
    try:
        home = Path.home()
    except RuntimeError:  # no home directory known
        return str(path)
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
