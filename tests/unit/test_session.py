"""Exchange: reading to the end, display pause, retry policy, figures."""

from __future__ import annotations

import asyncio
import random
from contextlib import aclosing

import pytest

from tui_chat.models import (
    AuthFailed,
    ConnectionRefused,
    Delta,
    Finished,
    Message,
    RateLimited,
    RequestParams,
    ServerError,
    StreamBroken,
    Unreachable,
    Usage,
)
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.session import Exchange, RetryPending, RetryPolicy

MESSAGES = [Message("user", "hi")]
PARAMS = RequestParams("m")


class FlakyProvider(ScriptedProvider):
    """Fails the first `failures` requests with the given errors, then answers."""

    def __init__(self, errors, events):
        super().__init__(events)
        self.errors = list(errors)

    async def stream(self, messages, params):
        if self.errors:
            self.requests.append((list(messages), params))
            raise self.errors.pop(0)
            yield  # pragma: no cover - makes this an async generator
        async for event in super().stream(messages, params):
            yield event


async def collect(exchange: Exchange) -> list[str]:
    async with asyncio.timeout(5), aclosing(exchange.display_text()) as pieces:
        return [piece async for piece in pieces]


async def test_text_usage_and_finish_are_recorded() -> None:
    provider = ScriptedProvider([Delta("Hel"), Delta("lo"), Usage(5, 2), Finished("stop")])
    exchange = Exchange(provider, MESSAGES, PARAMS)

    assert "".join(await collect(exchange)) == "Hello"
    assert exchange.text == "Hello"
    assert exchange.finish_reason == "stop"
    assert exchange.metrics.completion_tokens == 2
    assert not exchange.metrics.tokens_estimated
    assert exchange.metrics.ttft is not None
    assert provider.closed == 1


async def test_what_arrives_while_the_display_is_busy_is_shown_as_one_piece() -> None:
    class Bursty(ScriptedProvider):
        async def stream(self, messages, params):
            yield Delta("slow ")
            await asyncio.sleep(0.05)  # the display has looked by now
            for i in range(200):  # a burst: no pause between these
                yield Delta(f"w{i} ")
            await asyncio.sleep(0.05)
            yield Delta("end")
            yield Finished("stop")

    exchange = Exchange(Bursty(), MESSAGES, PARAMS)
    pieces = await collect(exchange)
    assert pieces == ["slow ", "".join(f"w{i} " for i in range(200)), "end"]
    assert exchange.chunks == 202  # every chunk counted, for the token estimate


async def test_without_usage_the_token_count_is_an_estimate() -> None:
    exchange = Exchange(ScriptedProvider.from_text("a b c d e f", chunk=2), MESSAGES, PARAMS)
    await collect(exchange)
    assert exchange.metrics.tokens_estimated
    assert exchange.metrics.tokens == 6


async def test_pause_holds_text_but_keeps_reading() -> None:
    gate = asyncio.Event()

    class Gated(ScriptedProvider):
        async def stream(self, messages, params):
            yield Delta("one ")
            await gate.wait()
            yield Delta("two ")
            yield Delta("three")
            yield Finished("stop")

    exchange = Exchange(Gated(), MESSAGES, PARAMS)
    shown: list[str] = []

    async def consume() -> None:
        async with aclosing(exchange.display_text()) as pieces:
            async for piece in pieces:
                shown.append(piece)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        while not shown:
            await asyncio.sleep(0.01)
        exchange.pause()
        gate.set()
        while exchange.finish_reason is None:  # the network side finishes while paused
            await asyncio.sleep(0.01)
        assert shown == ["one "]
        assert exchange.held_chars == len("two three")
        assert exchange.resume().answer == "two three"
        await task
    assert exchange.text == "one two three"


async def test_retry_after_is_honoured_before_the_first_token() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    pendings: list[RetryPending | None] = []
    provider = FlakyProvider([RateLimited(7), ServerError("503", status=503)],
                             [Delta("ok"), Finished("stop")])
    exchange = Exchange(provider, MESSAGES, PARAMS, retry=RetryPolicy(retries=3),
                        sleep=sleep, on_retry=pendings.append, rng=random.Random(1))

    assert await collect(exchange) == ["ok"]
    assert waits[0] == 7
    assert 0.5 <= waits[1] <= 3.0  # backoff with jitter for the second retry
    assert exchange.attempts == 3
    assert [p.attempt for p in pendings if p is not None] == [1, 2]
    assert pendings[-1] is None


async def test_retry_after_is_capped() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    provider = FlakyProvider([RateLimited(3600)], [Delta("ok"), Finished("stop")])
    exchange = Exchange(provider, MESSAGES, PARAMS, retry=RetryPolicy(max_delay=30),
                        sleep=sleep)
    await collect(exchange)
    assert waits == [30]


async def test_retries_give_up_after_the_limit() -> None:
    async def sleep(seconds: float) -> None:
        return None

    provider = FlakyProvider([Unreachable("down")] * 5, [Delta("never")])
    exchange = Exchange(provider, MESSAGES, PARAMS, retry=RetryPolicy(retries=2), sleep=sleep)
    with pytest.raises(Unreachable):
        await collect(exchange)
    assert exchange.attempts == 3


async def test_zero_retries_turns_retrying_off() -> None:
    provider = FlakyProvider([ServerError("500", status=500)], [Delta("never")])
    exchange = Exchange(provider, MESSAGES, PARAMS, retry=RetryPolicy(retries=0))
    with pytest.raises(ServerError):
        await collect(exchange)
    assert exchange.attempts == 1


async def test_errors_that_retrying_cannot_fix_are_not_retried() -> None:
    provider = FlakyProvider([AuthFailed("401")], [Delta("never")])
    exchange = Exchange(provider, MESSAGES, PARAMS)
    with pytest.raises(AuthFailed):
        await collect(exchange)
    assert exchange.attempts == 1


async def test_a_break_after_text_is_not_retried_and_keeps_the_text() -> None:
    provider = ScriptedProvider([Delta("partial ")], error=StreamBroken("cut"))
    exchange = Exchange(provider, MESSAGES, PARAMS)
    shown: list[str] = []
    with pytest.raises(StreamBroken):
        async with asyncio.timeout(5), aclosing(exchange.display_text()) as pieces:
            async for piece in pieces:
                shown.append(piece)
    assert shown == ["partial "]
    assert exchange.text == "partial "
    assert exchange.attempts == 1


async def test_cancel_during_the_retry_wait_stops_at_once() -> None:
    provider = FlakyProvider([RateLimited(30)], [Delta("never")])
    exchange = Exchange(provider, MESSAGES, PARAMS)
    task = asyncio.create_task(collect(exchange))
    async with asyncio.timeout(5):
        while exchange.retry_pending is None:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert exchange.retry_pending is None
    assert len(provider.requests) == 1


async def test_a_refused_connection_is_retried_only_when_the_host_is_not_this_machine() -> None:
    async def sleep(seconds: float) -> None:
        return None

    remote = FlakyProvider([ConnectionRefused("refused", local=False)], [Delta("back")])
    exchange = Exchange(remote, MESSAGES, PARAMS, sleep=sleep)
    assert await collect(exchange) == ["back"]
    assert exchange.attempts == 2

    local = FlakyProvider([ConnectionRefused("refused", local=True)], [Delta("never")])
    exchange = Exchange(local, MESSAGES, PARAMS, sleep=sleep)
    with pytest.raises(ConnectionRefused):
        await collect(exchange)
    assert exchange.attempts == 1


async def test_a_sink_takes_text_as_it_arrives_and_the_display_yields_nothing() -> None:
    gates = [asyncio.Event(), asyncio.Event()]

    class Gated(ScriptedProvider):
        async def stream(self, messages, params):
            yield Delta("one ")
            yield Delta("two ")
            await gates[0].wait()
            yield Delta("three ")
            await gates[1].wait()
            yield Delta("four")
            yield Finished("stop")

    exchange = Exchange(Gated(), MESSAGES, PARAMS)
    sunk: list[str] = []
    yielded: list[str] = []

    async def consume() -> None:
        async with aclosing(exchange.display(sink=lambda s: sunk.append(s.answer))) as pieces:
            async for piece in pieces:
                yielded.append(piece.answer)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        while len(sunk) < 2:
            await asyncio.sleep(0.01)
        assert sunk == ["one ", "two "]  # each as it came, by the reader itself
        exchange.pause()  # held while paused, as without a sink
        gates[0].set()
        while exchange.held_chars < len("three "):
            await asyncio.sleep(0.01)
        assert sunk == ["one ", "two "]
        assert exchange.resume().answer == "three "
        gates[1].set()
        await task
    assert sunk == ["one ", "two ", "four"]
    assert yielded == []  # the consumer woke for the end alone
    assert exchange.text == "one two three four"
