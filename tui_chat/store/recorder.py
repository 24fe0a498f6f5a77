"""AnswerRecorder: keeps the answer being streamed in the store while it grows.

An answer gets its row when it starts (status 'streaming'), its text as it grows (the caller
calls `save_partial` on a timer: a crash loses at most one interval), and its final text,
status, figures and error when it ends. A failing disk is reported through `on_failure` and
never raised: the answer on screen goes on without its copy on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from tui_chat.models import MessageStatus, Metrics, stored_status
from tui_chat.store.database import ConversationStore, StoreError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

FailureHandler = Callable[[str, StoreError], None]
"""Told what failed ("start", "save", "finish") and why."""


def _log_failure(what: str, error: StoreError) -> None:
    log.error("store: %s failed: %s", what, error)


class AnswerRecorder:
    """The stored copy of one running answer."""

    def __init__(self, store: ConversationStore, message_id: int | None, *,
                 on_failure: FailureHandler = _log_failure) -> None:
        self._store = store
        self.message_id = message_id
        """The answer's row; None when it could not be created (nothing is saved then)."""
        self._on_failure = on_failure
        self._saved_chars = 0
        self._saved_reasoning = 0
        self._finished = False
        self._text_before = ""
        self._reasoning_before = ""
        """What a continued answer held before (see `resume`): saved ahead of the new text."""

    @classmethod
    def begin(cls, store: ConversationStore, conversation_id: int, *, model: str,
              replaces: int | None = None,
              on_failure: FailureHandler = _log_failure) -> AnswerRecorder:
        """Create the answer's row (in place of `replaces`, an earlier version, if given)."""
        recorder = cls(store, None, on_failure=on_failure)
        recorder.message_id = recorder._guarded("start", lambda: store.start_answer(
            conversation_id, model=model, replaces=replaces))
        return recorder

    @classmethod
    def resume(cls, store: ConversationStore, message_id: int, *, text: str,
               reasoning: str = "",
               on_failure: FailureHandler = _log_failure) -> AnswerRecorder:
        """Record the continuation of an ended answer in its own row: the row streams again,
        and what arrives is saved after the `text` (and `reasoning`) it held."""
        recorder = cls(store, None, on_failure=on_failure)
        recorder._text_before, recorder._reasoning_before = text, reasoning
        if recorder._guarded("resume", lambda: store.resume_answer(message_id)) is not None:
            recorder.message_id = message_id
        return recorder

    def save_partial(self, parts: Sequence[str], reasoning: Sequence[str] = ()) -> bool:
        """Save the text and reasoning so far (given as the pieces received) if either grew
        since the last save.

        Pieces, not the joined text: while nothing new arrived, checking costs no join.
        Returns whether anything was written.
        """
        message_id = self.message_id
        if message_id is None or self._finished:
            return False
        length = sum(map(len, parts))
        thought = sum(map(len, reasoning))
        if length == self._saved_chars and thought == self._saved_reasoning:
            return False
        self._saved_chars = length
        text = self._text_before + "".join(parts)
        # The reasoning is written while it grows; once it stops, only the answer is.
        reasoned = (self._reasoning_before + "".join(reasoning)
                    if thought != self._saved_reasoning else None)
        self._saved_reasoning = thought
        return bool(self._guarded("save", lambda: self._store.save_partial(
            message_id, text, reasoned)))

    def finish(self, text: str, status: MessageStatus, *, metrics: Metrics | None = None,
               error: str | None = None, reasoning: str = "",
               finish_reason: str | None = None) -> None:
        """Save how the answer ended (see `models.stored_status`), and why, if the server
        said. `text` and `reasoning` are what this request brought (after a continued
        answer's earlier text)."""
        message_id = self.message_id
        if message_id is None or self._finished:
            return
        self._finished = True
        stored = stored_status(status)
        self._guarded("finish", lambda: self._store.finish_answer(
            message_id, self._text_before + text, stored, metrics=metrics, error=error or None,
            reasoning=self._reasoning_before + reasoning, finish_reason=finish_reason))

    def _guarded(self, what: str, call: Callable[[], _T]) -> _T | None:
        try:
            return call()
        except StoreError as error:
            self._on_failure(what, error)
            return None
