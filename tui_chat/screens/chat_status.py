"""StatusReport: what the status bar says about the running (or last) answer.

Kept apart from the screen so the figures can be worked out, and tested, from an Exchange alone:
no widget and no app is needed (the screen only puts the result into its StatusBar).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from tui_chat.context_window import RunningEstimate
from tui_chat.models import BUSY_PHASES, Phase
from tui_chat.widgets.status_bar import StatusFigures

if TYPE_CHECKING:
    from tui_chat.session import Exchange


class ShownText(Protocol):
    """Where the answer's text on screen is read from (a MessageView)."""

    @property
    def text(self) -> str: ...


class StatusReport:
    """Phase, tokens, speed, time, retry countdown and the last notice, as StatusFigures."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.message = ""
        """The last error or retry reason (sanitised), shown after the figures."""
        self.context_note = ""
        """E.g. "context: last 20 of 57 messages", set when the request was built."""
        self._shown_tokens = RunningEstimate()
        """Tokens of the answer text on screen, estimated as it grows (the status bar's count
        while streaming: counting chunks lagged the text when a chunk held several tokens)."""
        self._shown_chars = 0

    def start_answer(self, shown_before: int = 0) -> None:
        """A new answer: no notice, and its count starts from nothing (a continued answer:
        from the `shown_before` characters it already had)."""
        self.message = ""
        self._shown_tokens = RunningEstimate()
        self._shown_chars = shown_before

    def figures(self, phase: Phase, exchange: Exchange | None,
                answer: ShownText | None) -> StatusFigures:
        """The figures for `phase`, from the exchange (None before the first answer) and the
        view the answer is shown in."""
        if exchange is None:
            return StatusFigures(phase=phase)
        metrics = exchange.metrics
        busy = phase in BUSY_PHASES
        now = self._clock()
        retry_in = None
        attempt = 0
        if (pending := exchange.retry_pending) is not None:
            retry_in = max(0.0, pending.resume_at - now)
            attempt = pending.attempt
        started = metrics.started_at
        tokens = metrics.tokens
        tokens_per_second = (exchange.live_tokens_per_second() if busy
                             else metrics.tokens_per_second)
        if busy and metrics.tokens_estimated:
            tokens, tokens_per_second = self.shown_figures(answer, metrics.first_token_at, now,
                                                           metrics.reasoning_tokens)
        return StatusFigures(
            phase=phase,
            tokens=tokens,
            tokens_estimated=metrics.tokens_estimated,
            tokens_per_second=tokens_per_second,
            ttft=metrics.ttft,
            elapsed=(now - started if busy and started is not None else metrics.total_time),
            buffered_chars=exchange.held_chars,
            retry_in=retry_in,
            attempt=attempt,
            context_note=self.context_note,
            message=self.message,
            thinking_tokens=(metrics.reasoning_tokens if busy and exchange.reasoning_parts
                             and not exchange.parts else None),
        )

    def shown_figures(self, answer: ShownText | None, first_token_at: float | None, now: float,
                      reasoning_tokens: int = 0) -> tuple[int, float | None]:
        """Estimated tokens of the answer text on screen (and of the reasoning before it),
        and the speed they came at."""
        if answer is not None:
            text = answer.text
            if len(text) > self._shown_chars:
                self._shown_tokens.add(text[self._shown_chars:])
                self._shown_chars = len(text)
        tokens = self._shown_tokens.tokens + reasoning_tokens
        span = now - first_token_at if first_token_at is not None else 0.0
        return tokens, (tokens / span if span > 0.2 else None)
