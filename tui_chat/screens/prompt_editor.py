"""PromptEditor: edit the system prompt of the current conversation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Select, Static, TextArea

from tui_chat.sanitize import sanitize


class PromptEditor(ModalScreen[str | None]):
    """A text area with the current system prompt and the configured presets."""

    DEFAULT_CSS = """
    PromptEditor {
        align: center middle;
        #editor {
            width: 90;
            max-width: 95%;
            height: auto;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
        TextArea { height: 10; }
        #editor-buttons { height: auto; align-horizontal: right; }
        #editor-buttons Button { margin-left: 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt-editor.cancel"),
        Binding("ctrl+s", "save", "Save", id="prompt-editor.save"),
    ]

    def __init__(self, current: str, presets: Mapping[str, str]) -> None:
        super().__init__()
        self._current = current
        self._presets = dict(presets)

    def compose(self) -> ComposeResult:
        with Vertical(id="editor"):
            yield Static(Content("System prompt for this conversation (ctrl+s saves)"))
            if self._presets:
                yield Select([(name, name) for name in self._presets], prompt="Presets",
                             id="editor-preset")
            yield TextArea(self._current, id="editor-text", soft_wrap=True)
            with Horizontal(id="editor-buttons"):
                yield Button("Save", variant="primary", id="editor-save")
                yield Button("Cancel", id="editor-cancel")

    @on(Select.Changed, "#editor-preset")
    def preset_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value in self._presets:
            self.query_one("#editor-text", TextArea).text = self._presets[event.value]

    @on(Button.Pressed, "#editor-save")
    def action_save(self) -> None:
        self.dismiss(sanitize(self.query_one("#editor-text", TextArea).text).strip())

    @on(Button.Pressed, "#editor-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
