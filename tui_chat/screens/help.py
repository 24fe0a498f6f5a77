"""HelpScreen: every key binding of the screen beneath, generated from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui_chat.frame_timer import PacedUpdates

_TIPS = (
    "Enter sends. New line: Ctrl+J everywhere; Alt+Enter in most terminals, tmux and screen; "
    "Shift+Enter where the terminal reports it (not through tmux) and in the browser "
    "(tui-chat web). Up/Down in an empty "
    "input recall the prompts sent before (this conversation's first).\n"
    "Scrolling works whatever has focus: PgUp/PgDn by page, Shift+Up/Down (or Ctrl+Up/Down) "
    "by three lines; End (with the input empty) or Ctrl+End follows the answer again. Tab "
    "walks the messages from the newest; Ctrl+G copies the one focused.\n"
    "Keys can be changed in the config file's [keys] table by binding id, "
    'e.g. "chat.cancel" = "f9". Ctrl+P opens the command palette.'
)


class HelpScreen(PacedUpdates, ModalScreen[None]):
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
            keys, editing = self._table()
            yield Static(keys, id="help-keys")
            # Before the long list of editing keys, so it shows without scrolling at 80x24.
            yield Static(Content("\n" + _TIPS), id="help-tips")
            if editing:
                yield Static(editing, id="help-editing")

    def _table(self) -> tuple[Content, Content | None]:
        ours: dict[str, tuple[list[str], str]] = {}
        editing: dict[str, str] = {}
        for active in self._beneath.active_bindings.values():
            binding = active.binding
            description = binding.description or binding.action
            keys = self.app.get_key_display(binding)
            if binding.id:
                # Every key of the binding: the first may be one a terminal or tmux swallows.
                shown, _ = ours.setdefault(binding.id, ([], description))
                if keys not in shown:
                    shown.append(keys)
            else:
                editing.setdefault(description, keys)
        joined = {binding_id: (" ".join(keys), description)
                  for binding_id, (keys, description) in ours.items()}
        width = max((len(keys) for keys, _ in joined.values()), default=4) + 2
        lines = ["Keys", ""]
        for binding_id, (keys, description) in sorted(joined.items()):
            lines.append(f"{keys.ljust(width)}{description.ljust(12)}  {binding_id}")
        in_input = None
        if editing:
            in_input = Content("\nIn the input: " + " · ".join(
                f"{keys} {description.lower()}" for description, keys in editing.items()))
        return Content("\n".join(lines)), in_input

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
