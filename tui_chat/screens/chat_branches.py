"""EditAndContinue: editing a sent question (a new branch), and continuing an answer that
stopped early.

Editing: `e` on a focused question, or Up in an empty input for the last one, puts its text in
the input; Enter sends the edited text as a new version of that question, and the conversation
goes on from there. What followed the old text stays in the store as an earlier branch, behind
the question's "‹ 1/2 ›" switcher (chat_versions.py switches it); the context sent is always
the branch shown (the history is rebuilt from the store's path shown).

Continue: an answer cut at max tokens, interrupted (a dropped connection, a stall, a killed app)
or cancelled, when it is the last one, offers Continue (F6, `c` on it, the palette): the model is
sent the conversation with the partial answer last and asked to go on (see continuation.py for
the two ways); what comes back is appended to the same answer, in the same stored row, with a
repeated start dropped.

A mixin of ChatScreen, on top of its ConversationStorage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from tui_chat.context_window import history_from_stored
from tui_chat.continuation import continuation_messages
from tui_chat.models import BUSY_PHASES, Message
from tui_chat.screens.chat_storage import ConversationStorage
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from tui_chat.session import Exchange
    from tui_chat.store.recorder import AnswerRecorder


class EditNote(Static):
    """The line above the input while it edits a sent question: Enter sends a new version."""

    # Its own CSS, not chat.tcss: that file is not loaded for the default screen (seen in
    # this session; a separate fix).
    DEFAULT_CSS = """
    EditNote {
        display: none;
        height: 1;
        padding: 0 2;
        background: $primary-muted;
        color: $text;
    }
    """

    def __init__(self) -> None:
        super().__init__(Content("✎ editing · enter sends a new version, the old one stays · "
                                 "esc cancels"), id="edit-note")


class EditAndContinue(ConversationStorage):
    """A sent question edited into a new branch; an answer that stopped early continued."""

    if TYPE_CHECKING:  # the chat screen's own, used here
        @property
        def prompt_input(self) -> PromptInput: ...
        async def _start_answer(self, replaces: int | None = None) -> None: ...
        def request_messages(self) -> list[Message]: ...
        def _new_exchange(self, messages: list[Message], *, continues: str | None = None,
                          fallback: list[Message] | None = None) -> Exchange: ...
        def _run_answer(self, exchange: Exchange, view: MessageView,
                        recorder: AnswerRecorder | None) -> None: ...

    # -- editing a sent question -----------------------------------------------------------

    def last_question(self) -> tuple[str, MessageView] | None:
        """The last question shown and its view, for Up in an empty input (None while an
        answer runs: Up then only recalls)."""
        if self.phase in BUSY_PHASES:
            return None
        view = next((v for v in reversed(list(self.query(MessageView))) if v.role == "user"),
                    None)
        if view is None or view.message_id is None:
            return None
        return view.text, view

    def action_edit_last_question(self) -> None:
        """The palette's way to what Up in an empty input does."""
        last = self.last_question()
        if last is None:
            self.notify("No question to edit here yet (or an answer is still streaming).",
                        markup=False, timeout=4)
            return
        self.edit_question(last[1])

    # By name, not with @on: this class is a plain mixin at run time (see chat_storage.py),
    # and Textual collects @on handlers only from the classes it builds.
    def on_message_view_edit_requested(self, event: MessageView.EditRequested) -> None:
        event.stop()
        self.edit_question(event.view)

    def on_prompt_input_editing_changed(self, event: PromptInput.EditingChanged) -> None:
        """Say above the input that Enter sends a new version, not a new message."""
        self.query_one(EditNote).display = event.editing

    def edit_question(self, view: MessageView) -> None:
        """Put a sent question in the input to edit (Enter sends it as a new version)."""
        prompt = self.prompt_input
        prompt.begin_edit(view.text, view)
        prompt.focus()

    async def send_edit(self, view: MessageView, text: str) -> None:
        """Send `text` as a new version of the question `view` shows: the conversation goes
        on from there, and what followed the old text stays as an earlier branch."""
        if self.phase in BUSY_PHASES:
            self.prompt_input.begin_edit(text, view)  # nothing typed is lost
            self.notify("An answer is still streaming: Esc stops it, then Enter sends the "
                        "edit.", severity="warning", markup=False)
            return
        store, message_id = self.store, view.message_id
        if store is None or message_id is None:  # the branches live in the store
            self.prompt_input.begin_edit(text, view)
            self.notify("This message is not stored, so it cannot be edited (there is no "
                        "conversation database).", severity="warning", markup=False)
            return
        model = self.conversation.settings.model
        edited = self._store_call("edit", lambda: store.edit_message(message_id, text,
                                                                       model=model))
        if edited is None:
            self.prompt_input.begin_edit(text, view)
            return
        await self.show_branch(edited, at_end=True)
        await self._start_answer()

    async def show_branch(self, message_id: int, *, at_end: bool = False) -> None:
        """Show the branch the store now shows (after an edit or a switch of a question's
        version), with `message_id` focused, or the end with `at_end`."""
        store, conversation_id = self.store, self.conversation_id
        if store is None or conversation_id is None:
            return
        stored = self._store_call("load", lambda: store.messages(conversation_id)) or []
        self.history = history_from_stored(stored)
        self._versions = self._store_call(
            "versions", lambda: store.version_numbers(conversation_id)) or {}
        index = next((i for i, row in enumerate(stored) if row.id == message_id), None)
        await self.transcript.show_rows(stored, self._view_for_row,
                                        estimate=MessageView.estimated_height,
                                        at=None if at_end else index)
        if not at_end and index is not None:
            target = await self.transcript.reveal(index)
            if isinstance(target, MessageView):
                target.focus(scroll_visible=False)
        self.offer_continue()

    # -- continuing an answer --------------------------------------------------------------

    def offer_continue(self) -> None:
        """Say Continue under the last answer if it stopped early, and nowhere else."""
        views = list(self.query(MessageView))
        last = views[-1] if views else None
        for view in views:
            view.offer_continue(view is last and view.continuable
                                and self.phase not in BUSY_PHASES)

    async def on_message_view_continue_requested(
            self, event: MessageView.ContinueRequested) -> None:
        event.stop()
        await self.continue_answer(event.view)

    async def action_continue_answer(self) -> None:
        """F6 and the palette: continue the last answer, if it stopped early."""
        await self.transcript.show_end()
        views = list(self.query(MessageView))
        await self.continue_answer(views[-1] if views else None)

    async def continue_answer(self, view: MessageView | None) -> None:
        """Ask for the rest of `view`'s answer and append it there (see the module's doc)."""
        if self.phase in BUSY_PHASES:
            self.notify("An answer is still streaming.", severity="warning", markup=False)
            return
        views = list(self.query(MessageView))
        if view is None or not view.continuable or not views or views[-1] is not view:
            self.notify("Only the last answer can be continued, once it stopped early (cut "
                        "at max tokens, interrupted or cancelled).", markup=False, timeout=4)
            return
        partial, reasoning = view.text, view.thinking
        if not self.history or self.history[-1].role != "assistant":
            self.history.append(Message("assistant", partial))
        recorder: AnswerRecorder | None = None
        store, message_id = self.store, view.message_id
        if store is not None and message_id is not None:
            from tui_chat.store.recorder import AnswerRecorder

            recorder = AnswerRecorder.resume(store, message_id, text=partial,
                                             reasoning=reasoning,
                                             on_failure=self._store_failed_with)
        # A view of the same answer still open at its end (a finished one has closed its
        # last line and any code block), in the same place.
        growing = MessageView("assistant", partial, status="streaming",
                              render_style=self.render_style(), message_id=message_id,
                              reasoning=reasoning, reasoning_mode=self.options.reasoning)
        growing.versions = view.versions
        if reasoning:
            growing.end_thinking(None, None)
        await self.transcript.replace(view, growing)
        self.transcript.scroll_end(animate=False)
        context = self.request_messages()
        mode = self.options.continue_mode
        messages = continuation_messages(context, mode)
        # A server that refuses the partial answer as the last message (llama.cpp for a model
        # in thinking mode) is asked in words instead.
        fallback = continuation_messages(context, "instruct") if mode == "prefill" else None
        self._run_answer(self._new_exchange(messages, continues=partial, fallback=fallback),
                         growing, recorder)
