"""PromptEditor: this conversation's system prompt, temperature and answer length."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from tui_chat.frame_timer import PacedUpdates
from tui_chat.sanitize import sanitize


@dataclass(frozen=True, slots=True)
class ConversationSetup:
    """What the editor returns."""

    system: str
    temperature: float | None
    max_tokens: int | None


class PromptEditor(PacedUpdates, ModalScreen[ConversationSetup | None]):
    """The system prompt (with the configured presets), temperature and max tokens."""

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
        #editor-numbers { height: auto; }
        #editor-numbers Input { width: 1fr; }
        #editor-numbers Label { padding: 1 1 0 0; }
        #editor-error { color: $text-error; height: auto; }
        #editor-buttons { height: auto; align-horizontal: right; }
        #editor-buttons Button { margin-left: 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt-editor.cancel"),
        Binding("ctrl+s,f5", "save", "Save", id="prompt-editor.save"),
    ]

    def __init__(self, current: str, presets: Mapping[str, str], *,
                 temperature: float | None = None, max_tokens: int | None = None) -> None:
        super().__init__()
        self._current = current
        self._presets = dict(presets)
        self._temperature = temperature
        self._max_tokens = max_tokens

    def compose(self) -> ComposeResult:
        with Vertical(id="editor"):
            yield Static(Content("System prompt for this conversation (ctrl+s or f5 saves)"))
            if self._presets:
                yield Select([(name, name) for name in self._presets], prompt="Presets",
                             id="editor-preset")
            yield TextArea(self._current, id="editor-text", soft_wrap=True)
            with Horizontal(id="editor-numbers"):
                yield Label("Temperature")
                yield Input("" if self._temperature is None else f"{self._temperature:g}",
                            placeholder="server default", id="editor-temperature")
                yield Label("Max tokens")
                yield Input("" if self._max_tokens is None else str(self._max_tokens),
                            placeholder="server default", id="editor-max-tokens")
            yield Static("", id="editor-error")
            with Horizontal(id="editor-buttons"):
                yield Button("Save", variant="primary", id="editor-save")
                yield Button("Cancel", id="editor-cancel")

    @on(Select.Changed, "#editor-preset")
    def preset_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value in self._presets:
            self.query_one("#editor-text", TextArea).text = self._presets[event.value]

    @on(Button.Pressed, "#editor-save")
    def action_save(self) -> None:
        temperature_text = self.query_one("#editor-temperature", Input).value.strip()
        max_tokens_text = self.query_one("#editor-max-tokens", Input).value.strip()
        error = self.query_one("#editor-error", Static)
        temperature: float | None = None
        max_tokens: int | None = None
        try:
            if temperature_text:
                temperature = float(temperature_text)
                if not 0 <= temperature <= 2:
                    raise ValueError
        except ValueError:
            error.update(Content("Temperature is a number from 0 to 2, or empty."))
            return
        try:
            if max_tokens_text:
                max_tokens = int(max_tokens_text)
                if max_tokens <= 0:
                    raise ValueError
        except ValueError:
            error.update(Content("Max tokens is a whole number above 0, or empty."))
            return
        system = sanitize(self.query_one("#editor-text", TextArea).text).strip()
        self.dismiss(ConversationSetup(system, temperature, max_tokens))

    @on(Button.Pressed, "#editor-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
