"""HelpScreen: every key binding of the screen beneath, generated from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

_TIPS = (
    "Enter sends · Shift+Enter, Ctrl+J or Alt+Enter starts a new line.\n"
    "Keys can be changed in the config file's [keys] table by binding id,\n"
    'e.g. "chat.cancel" = "f8". Ctrl+P opens the command palette.'
)


class HelpScreen(ModalScreen[None]):
    """Lists the keys that work on the screen the person came from."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        #help-body {
            width: 84;
            max-width: 100%;
            height: auto;
            max-height: 90%;
            border: thick $primary;
            background: $surface;
            padding: 1 2;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, beneath: Screen[object]) -> None:
        super().__init__()
        self._beneath = beneath

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(self._table(), id="help-keys")
            yield Static(Content(_TIPS), id="help-tips")

    def _table(self) -> Content:
        rows: dict[str, tuple[str, str]] = {}
        for active in self._beneath.active_bindings.values():
            binding = active.binding
            description = binding.description or binding.action
            keys = self.app.get_key_display(binding)
            binding_id = binding.id or ""
            if description in rows:
                continue
            rows[description] = (keys, binding_id)
        width = max((len(keys) for keys, _ in rows.values()), default=4) + 2
        lines = ["Keys", ""]
        for description, (keys, binding_id) in sorted(rows.items(), key=lambda r: r[1][1]):
            suffix = f"  ({binding_id})" if binding_id else ""
            lines.append(f"{keys.ljust(width)}{description}{suffix}")
        return Content("\n".join(lines))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
