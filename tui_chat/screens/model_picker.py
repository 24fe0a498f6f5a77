"""ModelPicker: choose the model for this conversation from the endpoint's list, with a filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui_chat.frame_timer import PacedUpdates
from tui_chat.providers.base import Provider
from tui_chat.sanitize import sanitize_line


class ModelPicker(PacedUpdates, ModalScreen[str | None]):
    """Lists `/v1/models` (or the configured names when the server cannot say); Enter picks."""

    DEFAULT_CSS = """
    ModelPicker {
        align: center middle;
        #picker {
            width: 70;
            max-width: 95%;
            height: auto;
            max-height: 80%;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
        #picker-note { color: $text-muted; height: auto; }
        OptionList { height: auto; max-height: 20; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Close", id="models.close"),
        Binding("down", "focus_list", "List", show=False, id="models.list"),
    ]

    def __init__(self, provider: Provider, current: str, fallback: Sequence[str] = ()) -> None:
        super().__init__()
        self._provider = provider
        self._current = current
        self._fallback = list(dict.fromkeys([current, *fallback]))
        self._models: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Input(placeholder="Filter models, or type a model name and press Enter",
                        id="picker-filter")
            yield Static(Content("Asking the server for its models…"), id="picker-note")
            yield OptionList(id="picker-list")

    def on_mount(self) -> None:
        self._show(self._fallback)
        self.load_models()

    @work(exclusive=True, group="models", exit_on_error=False)
    async def load_models(self) -> None:
        models = await self._provider.list_models()
        note = self.query_one("#picker-note", Static)
        if models:
            self._models = [sanitize_line(m) for m in models]
            note.update(Content(f"{len(models)} models from the server"))
        else:
            self._models = self._fallback
            note.update(Content("The server did not list its models; showing the configured ones"))
        self._show(self._filtered())

    def _filtered(self) -> list[str]:
        query = self.query_one("#picker-filter", Input).value.strip().lower()
        models = self._models or self._fallback
        return [m for m in models if query in m.lower()]

    def _show(self, models: Sequence[str]) -> None:
        options = self.query_one("#picker-list", OptionList)
        options.clear_options()
        options.add_options([Option(Content(("● " if m == self._current else "  ") + m), id=m)
                             for m in models])
        if models:
            options.highlighted = 0

    @on(Input.Changed, "#picker-filter")
    def filter_changed(self) -> None:
        self._show(self._filtered())

    @on(Input.Submitted, "#picker-filter")
    def filter_submitted(self, event: Input.Submitted) -> None:
        options = self.query_one("#picker-list", OptionList)
        if options.option_count and options.highlighted is not None:
            option = options.get_option_at_index(options.highlighted)
            self.dismiss(option.id)
        elif name := sanitize_line(event.value.strip()):
            self.dismiss(name)  # a model the server does not list (e.g. a new one)

    @on(OptionList.OptionSelected, "#picker-list")
    def option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_focus_list(self) -> None:
        self.query_one("#picker-list", OptionList).focus()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
