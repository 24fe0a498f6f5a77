"""CopyAndSetupActions: the chat screen's copy, model, system prompt and settings actions.

Copying goes through the terminal (OSC 52); the model, system prompt, temperature and answer
length are this conversation's own (kept with it in the store) and shown in the status bar.
A mixin of ChatScreen, on top of its ConversationStorage.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tui_chat.models import ConversationSettings
from tui_chat.screens.chat_storage import ConversationStorage
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tui_chat.providers.base import Provider
    from tui_chat.screens.prompt_editor import ConversationSetup


class CopyAndSetupActions(ConversationStorage):
    """Copy an answer or a code block; pick the model; edit the system prompt and parameters."""

    _code_cursor: dict[int, int]
    """The code block copied last, per message view (F5 again copies the one before)."""

    if TYPE_CHECKING:
        _provider: Provider

    # -- copy --------------------------------------------------------------------------------

    def copy_text(self, text: str, what: str) -> None:
        """Copy through the terminal (OSC 52), which also works over SSH."""
        if not text:
            self.notify(f"Nothing to copy: {what} is empty.", severity="warning", markup=False)
            return
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {what} ({len(text):,} chars) via the terminal clipboard (OSC 52). "
                    "In tmux: set -g set-clipboard on.", markup=False, timeout=4)

    def action_copy_answer(self) -> None:
        """Copy the focused message, or else the last answer, as Markdown source."""
        focused = self.focused
        if isinstance(focused, MessageView):
            self.copy_text(focused.text, f"the {focused.role} message")
            return
        answers = [v for v in self.query(MessageView) if v.role == "assistant"]
        self.copy_text(answers[-1].text if answers else "", "the last answer")

    def action_copy_code(self) -> None:
        """Copy a code block of the focused message (or the last answer); pressing again
        copies the one before, and so on round."""
        from tui_chat.render.code_blocks import code_blocks

        focused = self.focused
        view = focused if isinstance(focused, MessageView) else next(
            (v for v in reversed(list(self.query(MessageView))) if v.role == "assistant"), None)
        blocks = code_blocks(view.text) if view is not None else []
        if not blocks or view is None:
            self.copy_text("", "a code block")
            return
        index = self._code_cursor.get(id(view), len(blocks)) - 1
        if index < 0:
            index = len(blocks) - 1
        self._code_cursor = {id(view): index}
        self.copy_text(blocks[index], f"code block {index + 1} of {len(blocks)}")

    # -- model, endpoint, system prompt ------------------------------------------------------

    def action_pick_model(self) -> None:
        from tui_chat.screens.model_picker import ModelPicker

        self.app.push_screen(ModelPicker(self._provider, self.conversation.settings.model,
                                         self.options.models), self._model_chosen)

    def _model_chosen(self, model: str | None) -> None:
        if model:
            self.set_model(model)

    def set_model(self, model: str) -> None:
        """Use another model for this conversation's next requests."""
        self.change_settings(replace(self.conversation.settings, model=model))
        self.notify(f"Model: {model}", markup=False, timeout=3)

    def set_provider(self, provider: Provider, model: str, label: str) -> None:
        """Talk to another endpoint from the next request on (a profile switch). Its model
        becomes this conversation's, and the one new conversations start with."""
        self._provider = provider
        self.options = replace(self.options, params=replace(self.options.params, model=model))
        self.set_model(model)
        self.notify(f"Endpoint: {label}", markup=False, timeout=3)

    def action_edit_system(self) -> None:
        from tui_chat.screens.prompt_editor import PromptEditor

        settings = self.conversation.settings
        self.app.push_screen(PromptEditor(settings.system, self.options.presets,
                                          temperature=settings.temperature,
                                          max_tokens=settings.max_tokens),
                             self._system_edited)

    def _system_edited(self, setup: ConversationSetup | None) -> None:
        if setup is not None:
            self.change_settings(replace(self.conversation.settings, system=setup.system,
                                         temperature=setup.temperature,
                                         max_tokens=setup.max_tokens))
            self.notify("Settings updated for this conversation.", markup=False, timeout=3)

    # -- this conversation's settings ----------------------------------------------------------

    def change_settings(self, settings: ConversationSettings) -> None:
        """Use `settings` for this conversation from the next request on, and keep them with
        it (a conversation not stored yet gets them when its first message stores it)."""
        self.conversation.settings = settings
        store, conversation_id = self.store, self.conversation.id
        if store is not None and conversation_id is not None:
            self._store_call("settings", lambda: store.set_conversation_settings(
                conversation_id, settings))
        self._show_settings()

    def _show_settings(self) -> None:
        settings = self.conversation.settings
        bar = self.query_one(StatusBar)
        state = self.options.model_state
        bar.model = (state() if state is not None else "") or settings.model
        bar.setup = settings.summary(self.options.conversation_defaults())
