"""Exchange: one request's life. Reads the provider to the end, holds text while the display
is paused, retries transient failures before the first token, and keeps the figures.

No Textual here: the screen drives an Exchange from a worker and shows what it yields.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from tui_chat.continuation import OverlapTrimmer
from tui_chat.models import (
    BadRequest,
    Delta,
    Finished,
    Message,
    Metrics,
    ProviderError,
    RateLimited,
    ReasoningDelta,
    RequestParams,
    ServerError,
    Usage,
)
from tui_chat.pacing import PACING
from tui_chat.providers.base import Provider


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter for failures before the first token."""

    retries: int = 3
    """Automatic retries after the first attempt; 0 turns them off."""
    base_delay: float = 1.0
    max_delay: float = 60.0
    """No wait is longer than this, whatever the server's Retry-After says."""

    def delay(self, attempt: int, error: ProviderError, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        retry_after: float | None = None
        if isinstance(error, RateLimited | ServerError):
            retry_after = error.retry_after
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay)
        backoff = self.base_delay * 2.0 ** (attempt - 1)
        return min(backoff * (0.5 + rng.random()), self.max_delay)


@dataclass(frozen=True, slots=True)
class RetryPending:
    """Told to the watcher while the exchange waits before retrying."""

    attempt: int
    retries: int
    resume_at: float
    """Clock time at which the retry starts."""
    error: ProviderError


@dataclass(frozen=True, slots=True)
class Shown:
    """What to show next: reasoning and answer text received since the last piece."""

    reasoning: str = ""
    answer: str = ""
    retracted: bool = False
    """The answer shown so far was reasoning after all (a `</think>` with no opening tag):
    move it to the reasoning, before adding `reasoning`."""


class Exchange:
    """One request and its answer (and the reasoning before it).

    Args:
        provider: Where the answer comes from.
        messages: The conversation to send (system prompt first).
        params: Model and sampling parameters.
        retry: How transient failures before the first token are retried.
        clock: Monotonic clock (tests inject their own).
        sleep: How to wait between retries (tests inject their own).
        on_retry: Called when a retry is scheduled, so the UI can show a countdown.
        continues: The partial answer this request continues (see continuation.py): a start
            of the answer that repeats its end is dropped, and `parts` hold only what is new.
        fallback: Messages sent instead, once, if the server refuses the request as sent (a
            400) before any answer: a continuation by prefill, which llama.cpp refuses for a
            model in thinking mode, falls back to asking.
    """

    def __init__(
        self,
        provider: Provider,
        messages: Sequence[Message],
        params: RequestParams,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_retry: Callable[[RetryPending | None], None] | None = None,
        rng: random.Random | None = None,
        continues: str | None = None,
        fallback: Sequence[Message] | None = None,
    ) -> None:
        self._provider = provider
        self.messages = tuple(messages)
        self.params = params
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._on_retry = on_retry
        self._rng = rng or random.Random()
        self.continues = continues
        self._fallback = tuple(fallback) if fallback is not None else None
        self._trimmer = OverlapTrimmer(continues) if continues is not None else None
        self._held: list[str] = []
        self._held_reasoning: list[str] = []
        self._held_retract = False
        self._held_chars = 0
        self._resumed = asyncio.Event()
        self._resumed.set()
        self.parts: list[str] = []
        """Every piece of answer text received, shown or not."""
        self.reasoning_parts: list[str] = []
        """Every piece of reasoning received: kept apart from the answer, never sent back."""
        self.chunks = 0
        self._arrivals = False
        """Text arrived since the reader last thought about yielding the event loop."""
        self._sink: Callable[[Shown], None] | None = None
        """Where arriving text goes at once (see display)."""
        self.metrics = Metrics()
        self.finish_reason: str | None = None
        self.attempts = 0
        self.retry_pending: RetryPending | None = None
        self.retried_error: ProviderError | None = None
        """The failure that the last automatic retry followed, if any."""

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def received(self) -> bool:
        """Anything arrived, answer or reasoning (and so is worth keeping)."""
        return bool(self.parts or self.reasoning_parts)

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    @property
    def held_chars(self) -> int:
        """Characters received but held back from the display."""
        return self._held_chars

    def pause(self) -> None:
        """Stop showing text; reading goes on and nothing is dropped."""
        self._resumed.clear()

    def resume(self) -> Shown:
        """Show again; returns what was held back meanwhile."""
        self._resumed.set()
        return self._take_held()

    @property
    def _holding(self) -> bool:
        return bool(self._held or self._held_reasoning or self._held_retract)

    def _take_held(self) -> Shown:
        shown = Shown("".join(self._held_reasoning), "".join(self._held), self._held_retract)
        self._held.clear()
        self._held_reasoning.clear()
        self._held_retract = False
        self._held_chars = 0
        return shown

    def _set_retry(self, pending: RetryPending | None) -> None:
        self.retry_pending = pending
        if self._on_retry is not None:
            self._on_retry(pending)

    async def display_text(self) -> AsyncGenerator[str, None]:
        """Yield the answer's text as it should appear, without the reasoning (pipe mode)."""
        async with aclosing(self.display()) as pieces:
            async for shown in pieces:
                if shown.answer:
                    yield shown.answer

    async def display(
        self, sink: Callable[[Shown], None] | None = None
    ) -> AsyncGenerator[Shown, None]:
        """Yield reasoning and text as they should appear; nothing while paused (reading
        goes on).

        With a `sink`, what arrives is handed to it as it arrives, by the reader itself, and
        only what was held back is yielded (what arrived while paused, once resumed, if it
        was not taken by `resume()`). The consumer then wakes when the answer ends, not once
        a chunk: at 50 chunks a second that wake, a task step through three async
        generators, was the largest cost per chunk outside drawing. The sink must be quick
        (store the text, draw later), since the read waits for it.

        Raises:
            ProviderError: when the request fails for good. Text received before the
                failure was already yielded (or is held, if paused) and is in `parts`.
        """
        self.metrics.started_at = self._clock()
        self._sink = sink
        while True:
            self.attempts += 1
            try:
                async for text in self._one_attempt():
                    yield text
            except ProviderError as error:
                if isinstance(error, BadRequest) and self._fallback is not None \
                        and not self.received:
                    self.messages, self._fallback = self._fallback, None
                    continue
                retries_done = self.attempts - 1
                if self.received or not error.retryable or retries_done >= self._retry.retries:
                    raise
                delay = self._retry.delay(self.attempts, error, self._rng)
                self.retried_error = error
                self.metrics.ended_at = None  # not over: a cancel during the wait ends it
                self._set_retry(RetryPending(self.attempts, self._retry.retries,
                                             self._clock() + delay, error))
                try:
                    await self._sleep(delay)
                finally:
                    self._set_retry(None)
                continue
            break
        await self._resumed.wait()  # finished while paused: the rest shows on resume
        if self._holding:
            yield self._take_held()

    async def _one_attempt(self) -> AsyncGenerator[Shown, None]:
        """One request: a task reads it to the end while this yields what arrived.

        The read never waits for the display, and the display takes everything that arrived
        since it last looked: when a fast server floods in, hundreds of chunks make one piece
        (the app's work is per piece), and the reader keeps the socket drained meanwhile.
        """
        arrived = asyncio.Event()
        reader = asyncio.create_task(self._read(arrived))
        reader.add_done_callback(lambda _: arrived.set())
        try:
            while not reader.done():
                await arrived.wait()
                arrived.clear()
                if self._holding and not self.paused:
                    yield self._take_held()
            error = None if reader.cancelled() else reader.exception()
            if error is not None:
                raise error  # the reader's error (a broken stream, a 429), raised here
        finally:
            if not reader.done():
                reader.cancel()  # closes the provider's stream, and with it the connection
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    READ_TURN = PACING.read_turn
    """Seconds the reader keeps the event loop while chunks are already there to read
    (tui_chat/pacing.py)."""

    async def _read(self, arrived: asyncio.Event) -> None:
        previous = turn_ends = time.perf_counter()
        try:
            async with aclosing(self._provider.stream(self.messages, self.params)) as events:
                async for event in events:
                    match event:
                        case Delta(text=raw, chunks=chunks):
                            if self._trimmer is not None:
                                raw = self._trimmer.feed(raw)
                            if not raw:
                                continue
                            self._answer_arrived(raw, chunks, arrived)
                        case ReasoningDelta(text=raw, chunks=chunks, retracts_answer=retract):
                            if retract:
                                self._retract_answer()
                            if not raw and not retract:
                                continue
                            if self.metrics.first_token_at is None:
                                self.metrics.first_token_at = self._clock()
                            if raw:
                                self.reasoning_parts.append(raw)
                                self._held_reasoning.append(raw)
                                self.metrics.reasoning_tokens += chunks
                            self._arrived(raw, chunks, arrived)
                    if self._arrivals:
                        self._arrivals = False
                        now = time.perf_counter()
                        if now - previous > self.READ_TURN:
                            turn_ends = now + self.READ_TURN  # it waited: a new turn
                        elif now > turn_ends:
                            # A flood arrives without a pause: let keys and frames in.
                            await asyncio.sleep(0)
                            now = time.perf_counter()
                            turn_ends = now + self.READ_TURN
                        previous = now
                    match event:
                        case Usage(prompt_tokens=prompt, completion_tokens=completion):
                            self.metrics.prompt_tokens = prompt
                            self.metrics.completion_tokens = completion
                        case Finished(reason=reason):
                            self.finish_reason = reason
        finally:
            if self._trimmer is not None and (rest := self._trimmer.finish()):
                self._answer_arrived(rest, 1, arrived)
            self.metrics.ended_at = self._clock()
            if not self.params.stream:  # one chunk holds the whole answer
                reasoning = round(sum(map(len, self.reasoning_parts)) / 4)
                self.metrics.reasoning_tokens = reasoning
                self.metrics.estimated_tokens = max(
                    1, reasoning + round(sum(map(len, self.parts)) / 4))

    def _answer_arrived(self, raw: str, chunks: int, arrived: asyncio.Event) -> None:
        # Kept as the model sent it (stored and relayed verbatim); it is made terminal-safe
        # where it becomes cells (render/document.py).
        now_clock = self._clock()
        if self.metrics.first_token_at is None:
            self.metrics.first_token_at = now_clock
        if self.metrics.first_answer_at is None:
            self.metrics.first_answer_at = now_clock
        self.parts.append(raw)
        self._held.append(raw)
        self._arrived(raw, chunks, arrived)

    def _arrived(self, text: str, chunks: int, arrived: asyncio.Event) -> None:
        self.chunks += chunks
        self.metrics.estimated_tokens += chunks  # about a token per chunk
        self._held_chars += len(text)
        self._arrivals = True
        if self._sink is not None and not self.paused:
            self._sink(self._take_held())
        else:
            arrived.set()

    def _retract_answer(self) -> None:
        """The answer so far was reasoning (a `</think>` with no opening tag): move it."""
        moved = "".join(self.parts)
        self.parts.clear()
        self.metrics.first_answer_at = None
        if moved:
            self.reasoning_parts.append(moved)
        # What was shown moves in the display; what is still held moves here.
        self._held_reasoning[:0] = self._held
        self._held.clear()
        self._held_retract = True
        self.metrics.reasoning_tokens = self.metrics.estimated_tokens

    def live_tokens_per_second(self) -> float | None:
        """Speed so far, for the status bar while the answer streams."""
        first = self.metrics.first_token_at
        if first is None:
            return None
        span = self._clock() - first
        return self.metrics.tokens / span if span > 0.2 else None
