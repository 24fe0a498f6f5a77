"""AttachFileScreen: a path prompt with completion, for a file to go with the next message.

Completion is shown as the input's grey suggestion (the first entry of the directory that
starts with what was typed; a directory gets its `/`); Tab or → takes it. A file that cannot be
attached (missing, a directory, too large, binary) keeps the prompt open with one line that
says why, and the typed path stays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static

from tui_chat.attachments import AttachmentError, Limits, read_attachment
from tui_chat.frame_timer import PacedUpdates
from tui_chat.models import Attachment

MAX_ENTRIES = 2000
"""Directory entries looked at per suggestion: a huge directory must not stall typing."""


class PathSuggester(Suggester):
    """Completes the last part of a path from what is on disk."""

    def __init__(self, cwd: Path | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.cwd = cwd

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value, self.cwd)


def complete_path(value: str, cwd: Path | None = None) -> str | None:
    """`value` completed to the first entry (by name) of its directory that starts with its
    last part, or None. Hidden entries only when the part starts with a dot."""
    if not value:
        return None
    head, _, part = value.rpartition("/")
    directory = os.path.expanduser(head + "/" if head or value.startswith("/") else ".")
    base = Path(directory)
    if not base.is_absolute():
        base = (cwd if cwd is not None else Path.cwd()) / base
    try:
        with os.scandir(base) as entries:
            names = []
            for count, entry in enumerate(entries):
                if count >= MAX_ENTRIES:
                    break
                if entry.name.startswith(part) and (part.startswith(".")
                                                    or not entry.name.startswith(".")):
                    names.append((entry.name, entry.is_dir()))
    except OSError:
        return None
    if not names:
        return None
    name, is_dir = min(names)
    completed = (value[: len(value) - len(part)] + name + ("/" if is_dir else ""))
    return completed if completed != value else None


class AttachFileScreen(PacedUpdates, ModalScreen[Attachment | None]):
    """Ask for a path; dismissed with the file read and checked, or None."""

    DEFAULT_CSS = """
    AttachFileScreen { align: center middle; }
    AttachFileScreen > Vertical {
        width: 76;
        max-width: 100%;
        height: auto;
        padding: 0 1;
        border: round $primary;
        background: $surface;
    }
    AttachFileScreen #attach-title { text-style: bold; }
    AttachFileScreen #attach-hint { color: $text-muted; }
    AttachFileScreen #attach-error { color: $text-error; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Close", id="attach.close"),
        Binding("tab", "complete", "Complete", id="attach.complete", priority=True),
    ]

    def __init__(self, *, limits: Limits | None = None, cwd: Path | None = None) -> None:
        super().__init__()
        self.limits = limits if limits is not None else Limits()
        self.cwd = cwd

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Attach a file to the next message", id="attach-title")
            yield Input(placeholder="path/to/file (text, or a PNG/JPEG/WebP/GIF image)",
                        suggester=PathSuggester(self.cwd), id="attach-path")
            yield Static("", id="attach-error", markup=False)
            yield Static(Content("tab or → completes · enter attaches · esc closes"),
                         id="attach-hint")

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def action_complete(self) -> None:
        """Take the suggested completion (what → does at the end of the input)."""
        field = self.query_one(Input)
        field.cursor_position = len(field.value)
        field.action_cursor_right()

    @on(Input.Changed)
    def _forget_error(self) -> None:
        self.query_one("#attach-error", Static).update("")

    @on(Input.Submitted)
    def attach(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            return
        try:
            attachment = read_attachment(path, limits=self.limits, cwd=self.cwd)
        except AttachmentError as error:
            self.query_one("#attach-error", Static).update(str(error))
            return
        self.dismiss(attachment)
