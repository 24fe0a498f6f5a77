"""ModelTitles: a new conversation's title from the model, once its first answer is done.

The request (tui_chat/titles.py) goes out only while no answer runs: one that starts closes it,
and it is asked again when that answer ends (at most TITLE_ATTEMPTS times). Its title replaces
the first-line title the store gave the conversation, never a name given meanwhile; a failure
is logged, never shown. A mixin of ChatScreen, typed as a Screen but a plain class at run time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar

from textual import work
from textual.worker import Worker

from tui_chat.models import Conversation, Message, MessageStatus
from tui_chat.screens.chat_part import ChatScreenPart

if TYPE_CHECKING:
    from tui_chat.providers.base import Provider
    from tui_chat.screens.chat import ChatOptions
    from tui_chat.store import ConversationStore

log = logging.getLogger(__name__)
_T = TypeVar("_T")



class ModelTitles(ChatScreenPart):
    """Asks for the title of the conversation this screen started, when nothing else runs."""

    TITLE_ATTEMPTS: ClassVar[int] = 3
    """Title requests cut short by a new answer are asked again at most this often."""

    _titles_for: int | None = None
    """The conversation this screen created (so the model may title it), until titled."""
    _title_pending: tuple[int, str, str, list[Message]] | None = None
    """(conversation id, first question, first answer, the conversation as the next question
    would send it or [] for the quoted form) of a title still to ask for."""
    _title_attempts = 0
    _title_worker: Worker[None] | None = None

    if TYPE_CHECKING:  # the chat screen's own, used here
        options: ChatOptions
        store: ConversationStore | None
        conversation: Conversation
        history: list[Message]
        _provider: Provider

        @property
        def conversation_id(self) -> int | None: ...
        def _store_call(self, what: str, call: Callable[[], _T]) -> _T | None: ...
        def request_messages(self) -> list[Message]: ...

    def _may_title(self, conversation_id: int) -> None:
        """The conversation was just created here, with its first line as its title."""
        self._titles_for = conversation_id

    def _pause_title(self) -> None:
        """An answer starts: a title request running now must not slow it (it is closed, and
        asked again once no answer runs)."""
        worker = self._title_worker
        if worker is not None and not worker.is_finished:
            worker.cancel()

    def _title_when_idle(self, status: MessageStatus) -> None:
        """No answer runs now: ask for the title if one is due."""
        if status == "done" and self._title_pending is None:
            self._title_pending = self._first_exchange()
            self._title_attempts = 0
        if self._title_pending is not None and self._title_attempts < self.TITLE_ATTEMPTS:
            self._title_worker = self._ask_title(*self._title_pending)

    def _first_exchange(self) -> tuple[int, str, str, list[Message]] | None:
        """The new conversation's first question and answer (and, for a local server, the
        conversation as the next question would send it), if this screen should title it."""
        conversation_id = self.conversation_id
        if not self.options.auto_title or conversation_id is None \
                or conversation_id != self._titles_for:
            return None
        question = next((m.content for m in self.history if m.role == "user"), "")
        answer = next((m.content for m in self.history if m.role == "assistant"), "")
        if not (question and answer):
            return None
        context = self.request_messages() if self.options.title_in_context else []
        return conversation_id, question, answer, context

    @work(exclusive=True, group="title", exit_on_error=False)
    async def _ask_title(self, conversation_id: int, question: str, answer: str,
                         context: list[Message]) -> None:
        from tui_chat.store.database import title_from
        from tui_chat.titles import ask_for_title

        store = self.store
        if store is None:
            return
        self._title_attempts += 1
        title = await ask_for_title(self._provider, self.conversation.settings.model,
                                    question, answer, conversation=context)
        # Answered, or given up: not asked again (a cancel does not get here).
        if self._title_pending is not None and self._title_pending[0] == conversation_id:
            self._title_pending = None
        if self._titles_for == conversation_id:
            self._titles_for = None
        if title is not None and self._store_call("title", lambda: store.replace_title(
                conversation_id, title_from(question), title)):
            log.info("conversation %d titled %r", conversation_id, title)
