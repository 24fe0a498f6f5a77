"""Which part of a conversation is sent to the model: a rough token count and a budget."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tui_chat.attachments import message_text
from tui_chat.models import Message

if TYPE_CHECKING:
    from tui_chat.store import StoredMessage

DEFAULT_MAX_MESSAGES = 20
DEFAULT_MAX_TOKENS = 6000
"""Fits a model with an 8k context window and leaves room for the answer."""
MESSAGE_OVERHEAD = 4
"""Tokens a chat template spends on each message's role and separators."""
IMAGE_TOKENS = 800
"""A rough cost of one attached image (OpenAI counts 85 to about 1,100 by size and detail)."""

# East Asian wide and fullwidth characters (CJK, kana, hangul, fullwidth forms) and the common
# emoji blocks: tokenizers spend about one token on each, against about four Latin characters.
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6"
    "\U0001f300-\U0001f64f\U0001f900-\U0001f9ff\U00020000-\U0002fffd\U00030000-\U0003fffd]"
)


def estimate_tokens(text: str) -> int:
    """About how many tokens `text` costs: one per wide character, one per 4 others."""
    narrow = _WIDE.sub("", text)
    wide = len(text) - len(narrow)
    return wide + -(-len(narrow) // 4)


class RunningEstimate:
    """`estimate_tokens` of a text that grows piece by piece, at a cost per piece (the
    status bar's count while an answer streams, from the text on screen)."""

    def __init__(self) -> None:
        self.wide = 0
        self.narrow = 0

    def add(self, text: str) -> None:
        narrow = len(_WIDE.sub("", text))
        self.wide += len(text) - narrow
        self.narrow += narrow

    @property
    def tokens(self) -> int:
        return self.wide + -(-self.narrow // 4)


def message_tokens(message: Message) -> int:
    """A message's estimated cost: its text, its text files, its images."""
    if not message.attachments:
        return estimate_tokens(message.content) + MESSAGE_OVERHEAD
    images = sum(1 for attachment in message.attachments if attachment.is_image)
    return estimate_tokens(message_text(message)) + images * IMAGE_TOKENS + MESSAGE_OVERHEAD


def history_from_stored(rows: Iterable[StoredMessage]) -> list[Message]:
    """The conversation as sent to the model, from its stored rows: no error rows, no answer
    that failed with no text (the question stands alone), no system row (the system prompt
    comes from the settings, sent first)."""
    history = []
    for row in rows:
        if (row.role == "assistant" and not row.content) or row.role == "system":
            continue
        if (message := row.to_message()) is not None:
            history.append(message)
    return history


def without_unanswered(history: Sequence[Message]) -> list[Message]:
    """`history` without the user turns that got no answer (failed, or cancelled before any
    text), except the last message: it is the question being asked now.

    A failed exchange stays on screen and in the store, marked; the model is sent what the
    person meant, the latest question once, not a pile of unanswered copies before it.
    """
    last = len(history) - 1
    return [message for index, message in enumerate(history)
            if message.role != "user" or index == last
            or history[index + 1].role == "assistant"]


def fit_context(
    system: str,
    history: Sequence[Message],
    *,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> tuple[list[Message], int]:
    """The most recent messages of `history` that fit the budget, whole and in order.

    The system prompt's cost is taken off `max_tokens` first; it is not in the result (send
    it before the messages). Everything from the latest user message on is always kept, even
    over budget: the model must see the question, and the server reports if it is too long.
    When older messages are left out, an assistant message at the start of what remains is
    left out too, so the model never sees an answer without its question.

    Returns:
        The messages to send and how many older ones were left out.
    """
    if max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    budget = max_tokens - (estimate_tokens(system) + MESSAGE_OVERHEAD if system else 0)
    latest_user = next(
        (i for i in range(len(history) - 1, -1, -1) if history[i].role == "user"), len(history)
    )
    start, used = len(history), 0
    for index in range(len(history) - 1, -1, -1):
        cost = message_tokens(history[index])
        required = index >= latest_user
        if not required and (len(history) - index > max_messages or used + cost > budget):
            break
        start, used = index, used + cost
    while 0 < start < latest_user and history[start].role == "assistant":
        start += 1
    return list(history[start:]), start
