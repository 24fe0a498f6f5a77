"""Exchange with reasoning: kept apart from the answer, held while paused, kept when cut, and
the figures (first token of any kind, first answer token, thinking time, speed over both)."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from tui_chat.models import (
    Delta,
    Finished,
    Message,
    ReasoningDelta,
    RequestParams,
    ServerError,
    StreamEvent,
)
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.session import Exchange, RetryPolicy, Shown

MESSAGES = [Message("user", "hi")]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Stepped(ScriptedProvider):
    """Advances the clock by one second before each event."""

    def __init__(self, events: list[StreamEvent], clock: Clock, error: Exception | None = None):
        super().__init__(events)
        self.clock = clock
        self.failure = error

    async def stream(self, messages, params):
        for event in self.events:
            self.clock.now += 1.0
            yield event
        if self.failure is not None:
            raise self.failure


async def collect(exchange: Exchange) -> list[Shown]:
    async with asyncio.timeout(5), aclosing(exchange.display()) as pieces:
        return [piece async for piece in pieces]


def replay(shown: list[Shown]) -> tuple[str, str]:
    """(reasoning, answer) as a display applying the pieces in order ends up with them."""
    reasoning = answer = ""
    for piece in shown:
        if piece.retracted:
            reasoning, answer = reasoning + answer, ""
        reasoning += piece.reasoning
        answer += piece.answer
    return reasoning, answer


async def test_reasoning_is_kept_apart_and_timed() -> None:
    clock = Clock()
    events: list[StreamEvent] = [ReasoningDelta("Let me ", 2), ReasoningDelta("think.", 1),
                                 Delta("Four", 1), Delta(".", 1), Finished("stop")]
    exchange = Exchange(Stepped(events, clock), MESSAGES, RequestParams("m"), clock=clock)
    shown = await collect(exchange)
    assert replay(shown) == ("Let me think.", "Four.")
    assert exchange.text == "Four."
    assert exchange.reasoning == "Let me think."
    metrics = exchange.metrics
    assert metrics.ttft == 1.0  # the first reasoning token counts as the first token
    assert metrics.ttfat == 3.0  # the answer's own first token came two seconds later
    assert metrics.thinking_time == 2.0
    assert metrics.reasoning_tokens == 3
    assert metrics.tokens == 5  # both kinds
    assert metrics.tokens_per_second == pytest.approx(5 / 4)  # over both, first token to end


async def test_retracted_answer_moves_to_the_reasoning() -> None:
    clock = Clock()
    events: list[StreamEvent] = [Delta("Hmm, "), Delta("two and two"),
                                 ReasoningDelta(".", retracts_answer=True), Delta("Four."),
                                 Finished("stop")]
    exchange = Exchange(Stepped(events, clock), MESSAGES, RequestParams("m"), clock=clock)
    shown = await collect(exchange)
    assert replay(shown) == ("Hmm, two and two.", "Four.")
    assert (exchange.reasoning, exchange.text) == ("Hmm, two and two.", "Four.")
    assert exchange.metrics.ttfat == 4.0
    assert exchange.metrics.thinking_time == 3.0


async def test_pause_holds_reasoning_and_answer_in_order() -> None:
    gate = asyncio.Event()

    class Gated(ScriptedProvider):
        async def stream(self, messages, params):
            yield ReasoningDelta("one ")
            await gate.wait()
            yield ReasoningDelta("two")
            yield Delta("Answer")
            yield Finished("stop")

    exchange = Exchange(Gated(), MESSAGES, RequestParams("m"))
    shown: list[Shown] = []

    async def consume() -> None:
        async with aclosing(exchange.display()) as pieces:
            async for piece in pieces:
                shown.append(piece)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        while not shown:
            await asyncio.sleep(0.01)
        exchange.pause()
        gate.set()
        while exchange.finish_reason is None:
            await asyncio.sleep(0.01)
        assert replay(shown) == ("one ", "")
        assert exchange.held_chars == len("twoAnswer")
        assert exchange.resume() == Shown("two", "Answer")
        await task


async def test_a_broken_stream_keeps_partial_reasoning_and_is_not_retried() -> None:
    clock = Clock()
    # A retryable failure: once reasoning was shown, starting over would lose it.
    provider = Stepped([ReasoningDelta("half a thou")], clock, ServerError("500", status=500))
    exchange = Exchange(provider, MESSAGES, RequestParams("m"), clock=clock,
                        retry=RetryPolicy(base_delay=0.0))
    shown: list[Shown] = []
    with pytest.raises(ServerError):
        async with aclosing(exchange.display()) as pieces:
            async for piece in pieces:
                shown.append(piece)
    assert exchange.received and not exchange.parts
    assert exchange.reasoning == "half a thou"
    assert exchange.attempts == 1


async def test_display_text_gives_only_the_answer() -> None:
    provider = ScriptedProvider([ReasoningDelta("hidden"), Delta("shown"), Finished("stop")])
    exchange = Exchange(provider, MESSAGES, RequestParams("m"))
    async with asyncio.timeout(5), aclosing(exchange.display_text()) as pieces:
        assert [piece async for piece in pieces] == ["shown"]
