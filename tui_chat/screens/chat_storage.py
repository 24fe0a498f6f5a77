"""ConversationStorage: the chat screen's side of the store.

Which stored conversation is shown, saving what is typed, opening a stored conversation (or a new
one), the context rebuilt from the stored rows, and export. Every store call goes through
`_store_call`, so a failing disk is said once and never takes the conversation on screen with it.
A mixin of ChatScreen (it needs the screen's transcript and notifications), typed as a Screen but
a plain class at run time; the screen holds the state it reads, set in ChatScreen.__init__.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from textual.content import Content
from textual.widgets import Static

from tui_chat.context_window import history_from_stored
from tui_chat.models import Attachment, Conversation, Message, Phase
from tui_chat.sanitize import sanitize_line
from tui_chat.screens.chat_part import ChatScreenPart
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.transcript import Transcript

if TYPE_CHECKING:
    from tui_chat.render import RenderStyle
    from tui_chat.screens.chat import ChatOptions
    from tui_chat.store import ConversationStore, StoredMessage, StoreError
    from tui_chat.store.recorder import AnswerRecorder

log = logging.getLogger("tui_chat.screens.chat")
_T = TypeVar("_T")



class ConversationStorage(ChatScreenPart):
    """Loads, saves and exports the conversation the chat screen shows."""

    store: ConversationStore | None
    conversation: Conversation
    """The conversation shown, with its own model, system prompt and parameters."""
    history: list[Message]
    """The conversation so far (user and assistant turns), as sent to the model."""
    _versions: dict[int, tuple[int, int]]
    """Stored answers that have other versions: message id -> (which, of how many)."""
    _store_failed: bool
    """Said once: a failing store is not repeated on every call."""

    if TYPE_CHECKING:  # the chat screen's own, used here
        options: ChatOptions
        phase: Phase
        _welcome: Content | None

        @property
        def transcript(self) -> Transcript: ...
        def render_style(self) -> RenderStyle: ...
        async def stop_answer(self) -> None: ...
        def _forget_answer(self) -> None: ...
        def _give_back_queued(self) -> None: ...
        def _may_title(self, conversation_id: int) -> None: ...
        def _show_settings(self) -> None: ...
        def offer_continue(self) -> None: ...

    @property
    def conversation_id(self) -> int | None:
        """The stored conversation; created on the first message when None."""
        return self.conversation.id

    def _store_call(self, what: str, call: Callable[[], _T]) -> _T | None:
        """Run a store call; a failing disk never takes the conversation on screen with it."""
        if self.store is None:
            return None
        from tui_chat.store import StoreError

        try:
            return call()
        except StoreError as error:
            self._store_failed_with(what, error)
            return None

    def _store_failed_with(self, what: str, error: StoreError) -> None:
        log.error("store: %s failed: %s", what, error)
        if not self._store_failed:
            self._store_failed = True
            self.notify(f"Could not save the conversation ({sanitize_line(str(error))}). "
                        "It stays on screen.", severity="error", timeout=10, markup=False)

    def _persist_user(self, text: str, files: tuple[Attachment, ...] = ()) -> int | None:
        store = self.store
        if store is None:
            return None
        settings = self.conversation.settings
        if self.conversation.id is None:
            self.conversation.id = self._store_call("create", lambda: store.create_conversation(
                model=settings.model, system=settings.system, temperature=settings.temperature,
                max_tokens=settings.max_tokens))
        conversation_id = self.conversation.id
        if conversation_id is None:
            return None
        title = text or (files[0].name if files else "")  # a message of files alone
        if self._store_call("title", lambda: store.set_title_if_empty(conversation_id, title)):
            self._may_title(conversation_id)  # new here: the model may title it
        return self._store_call("add", lambda: store.add_message(
            conversation_id, "user", text, model=settings.model, attachments=files))

    def _begin_recording(self, replaces: int | None) -> AnswerRecorder | None:
        """The stored row of the answer about to start (in place of `replaces`, if given)."""
        store, conversation_id = self.store, self.conversation_id
        if store is None or conversation_id is None:
            return None
        from tui_chat.store.recorder import AnswerRecorder

        return AnswerRecorder.begin(store, conversation_id,
                                    model=self.conversation.settings.model, replaces=replaces,
                                    on_failure=self._store_failed_with)

    def _reload_history(self) -> None:
        """The context to send, from the store's current versions."""
        store, conversation_id = self.store, self.conversation.id
        if store is None or conversation_id is None:
            return
        stored = self._store_call("load", lambda: store.messages(conversation_id))
        if stored is not None:
            self.history = history_from_stored(stored)

    async def load_conversation(self, conversation_id: int,
                                message_id: int | None = None) -> None:
        """Show a stored conversation and continue it."""
        store = self.store
        if store is None:
            return
        self._give_back_queued()
        await self.stop_answer()
        stored = self._store_call("load", lambda: store.messages(conversation_id)) or []
        if message_id is not None and all(row.id != message_id for row in stored):
            # A search hit in a branch not shown (or an earlier version): show its branch.
            self._store_call("branch", lambda: store.set_current_version(message_id))
            stored = self._store_call("load", lambda: store.messages(conversation_id)) or []
        summary = self._store_call("get", lambda: store.get_conversation(conversation_id))
        if summary is None:
            self.notify(f"No conversation {conversation_id}.", severity="error", markup=False)
            return
        self.conversation = Conversation(
            summary.settings(self.options.conversation_defaults()), id=conversation_id)
        self._show_settings()
        self.history = history_from_stored(stored)
        self._forget_answer()
        self._versions = self._store_call(
            "versions", lambda: store.version_numbers(conversation_id)) or {}
        index = next((i for i, row in enumerate(stored) if row.id == message_id), None) \
            if message_id is not None else None
        await self.transcript.show_rows(stored, self._view_for_row,
                                        estimate=MessageView.estimated_height, at=index)
        self.offer_continue()

    def _view_for_row(self, row: StoredMessage) -> MessageView:
        """A stored message's view, in the current colours, with its version numbers."""
        return MessageView.from_stored(row, self.render_style(), self._versions.get(row.id),
                                       reasoning_mode=self.options.reasoning)

    async def new_conversation(self) -> None:
        """Start an empty conversation (stored on its first message)."""
        self._give_back_queued()
        await self.stop_answer()
        self.conversation = Conversation(self.options.conversation_defaults())
        self._show_settings()
        self.history = []
        self._versions = {}
        self._forget_answer()
        await self.transcript.clear()
        await self._show_welcome()

    async def _show_welcome(self) -> None:
        """The welcome, in the transcript of an empty conversation."""
        if self._welcome is not None and not self.history and not self.query("#welcome"):
            await self.transcript.mount(Static(self._welcome, id="welcome"))

    def export_markdown(self) -> str:
        """This conversation as Markdown (from the store when saved, else from the screen)."""
        if self.store is not None and self.conversation_id is not None:
            store, conversation_id = self.store, self.conversation_id
            text = self._store_call("export", lambda: store.export_markdown(conversation_id))
            if text is not None:
                return text
        lines = []
        for view in self.query(MessageView):
            lines.append(f"## {view.role}\n\n{view.text}\n")
        return "\n".join(lines)
