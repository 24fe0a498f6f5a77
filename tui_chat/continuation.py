"""Continue an answer that stopped early (cut at max tokens, interrupted, cancelled): what to
send, and how to keep the text that comes back from repeating the end of what was there.

How servers treat a conversation that ends with an assistant message decides what is sent:

- llama.cpp's server continues a trailing assistant message by default (its "assistant
  prefill", since May 2025; `--no-prefill-assistant` turns it off), but refuses it with a 400
  when the model thinks ("Assistant response prefill is incompatible with enable_thinking").
- vLLM starts a new message unless asked with `continue_final_message` (and
  `add_generation_prompt` false), which other servers reject or ignore.
- OpenAI's API has no prefill: a trailing assistant message is a finished turn, and the
  model answers it with a new message.

So there are two ways ("modes"): "prefill" sends the partial answer as the last message (the
model goes on mid-sentence), for the embedded llama.cpp engine; "instruct" adds a short user
message asking to go on exactly where the text stopped, which every server takes. Either way
the model may start by repeating the end of the partial answer (or all of it): `OverlapTrimmer`
drops the repeated part, so the answer reads once.

No Textual and no SDK here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from tui_chat.models import Message

ContinueMode = Literal["prefill", "instruct"]
ContinueSetting = Literal["auto", ContinueMode]
CONTINUE_MODES: tuple[ContinueSetting, ...] = ("auto", "prefill", "instruct")
"""As the setting takes them: "auto" is prefill for the embedded engine, instruct elsewhere."""


def continue_mode(setting: ContinueSetting, *, embedded_engine: bool) -> ContinueMode:
    """The mode a setting means for this endpoint."""
    if setting == "auto":
        return "prefill" if embedded_engine else "instruct"
    return setting

INSTRUCTION = ("Continue exactly where your previous message stopped, mid-sentence if it did. "
               "Do not repeat anything already written and do not comment on it.")
"""The user message of the "instruct" mode."""

MIN_OVERLAP = 8
"""Characters (not counting spaces) a repeated end must have to be dropped: a shorter match
("the ", a newline and an indent) is as likely to be the text going on as a repeat."""


def continuation_messages(messages: Sequence[Message], mode: ContinueMode) -> list[Message]:
    """The request that continues the answer that ends `messages` (its last message is the
    partial answer, as the assistant)."""
    if not messages or messages[-1].role != "assistant":
        raise ValueError("a continuation needs the partial answer as the last message")
    if mode == "prefill":
        return list(messages)
    return [*messages, Message("user", INSTRUCTION)]


def overlap(partial: str, continuation: str) -> int:
    """How many characters at the start of `continuation` repeat the end of `partial` (the
    longest such repeat, if it is long enough to be one; else 0)."""
    if not partial:
        return 0
    last = partial[-1]
    for size in range(min(len(partial), len(continuation)), 0, -1):
        if continuation[size - 1] == last and partial.endswith(continuation[:size]):
            return size if len(continuation[:size].strip()) >= MIN_OVERLAP else 0
    return 0


class OverlapTrimmer:
    """Passes a continuation's text on, except a start that repeats the end of the partial
    answer. It holds the text back only while it could still be such a repeat (while it is
    found in the partial answer), then lets everything through."""

    def __init__(self, partial: str) -> None:
        self._partial = partial
        self._held = ""
        self._decided = not partial.strip()

    def feed(self, text: str) -> str:
        """The part of `text` to show now ("" while undecided)."""
        if self._decided:
            return text
        self._held += text
        if self._held in self._partial:
            return ""  # still reads as the partial answer over again: wait
        return self.finish()

    def finish(self) -> str:
        """The stream ended (or the repeat, if any, is over): what was held, minus a repeat."""
        if self._decided:
            return ""
        self._decided = True
        held, self._held = self._held, ""
        return held[overlap(self._partial, held):]

    @property
    def holding(self) -> int:
        """Characters held back, undecided."""
        return len(self._held)
