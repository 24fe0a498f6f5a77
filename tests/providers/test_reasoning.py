"""Reasoning in every shape servers send it, through the provider, against the loopback server:
on each path the body can take (aiohttp read directly, the SDK's event loop with our decoder,
the SDK's public typed stream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.compat import sdk_hooks
from tui_chat.models import (
    Delta,
    Finished,
    Message,
    ReasoningDelta,
    RequestParams,
    StreamBroken,
    StreamEvent,
)
from tui_chat.providers.openai_compat import OpenAICompatible

FORMS = ["reasoning_content", "reasoning", "think", "think_no_open"]
THINKING = ["The user ", "wants a ", "greeting. ", "<b>Easy</b>."]
ANSWER = ["Hello ", "there", "!"]


@pytest.fixture(params=["fast", "sse", "public"])
async def provider(request: pytest.FixtureRequest, fake_openai: FakeOpenAI,
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OpenAICompatible]:
    if request.param != "fast":  # as when the aiohttp hook does not fit this SDK version
        monkeypatch.setattr(sdk_hooks, "body_reads", lambda response: None)
    if request.param == "public":  # and the SDK's decoder hook neither
        monkeypatch.setattr(sdk_hooks, "event_batches", lambda stream, decoder: None)
    provider = OpenAICompatible(fake_openai.url, "sk-test", connect_timeout=2.0,
                                stall_timeout=5.0)
    yield provider
    await provider.aclose()


async def collect(provider: OpenAICompatible, stream: bool = True) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    async with asyncio.timeout(10):
        async with aclosing(provider.stream([Message("user", "hi")],
                                            RequestParams("m", stream=stream))) as events_in:
            async for event in events_in:
                events.append(event)
    return events


def read(events: list[StreamEvent]) -> tuple[str, str]:
    """(reasoning, answer), as the session will take them; reasoning must come first."""
    reasoning = answer = ""
    for event in events:
        if isinstance(event, ReasoningDelta):
            assert not answer or event.retracts_answer, "reasoning after the answer started"
            if event.retracts_answer:
                reasoning, answer = reasoning + answer, ""
            reasoning += event.text
        elif isinstance(event, Delta):
            answer += event.text
    return reasoning, answer


@pytest.mark.parametrize("together", [False, True], ids=["apart", "together"])
@pytest.mark.parametrize("form", FORMS)
async def test_every_form_gives_reasoning_then_answer(
        provider: OpenAICompatible, fake_openai: FakeOpenAI, form: str, together: bool) -> None:
    fake_openai.script(Reply(chunks=ANSWER, reasoning=THINKING, reasoning_form=form,
                             reasoning_with_answer=together, chunks_per_second=0))
    events = await collect(provider)
    assert read(events) == ("".join(THINKING), "".join(ANSWER))
    assert isinstance(events[-1], Finished)
    if form not in ("think_no_open",):
        # Reasoning comes as reasoning from the first event, not retracted answer text.
        assert not any(isinstance(e, ReasoningDelta) and e.retracts_answer for e in events)


async def test_one_delta_with_both_fields_keeps_both_in_order(
        provider: OpenAICompatible, fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply(chunks=["Four."], reasoning=["2+2"], reasoning_with_answer=True,
                             chunks_per_second=0))
    events = await collect(provider)
    kinds = [type(e) for e in events if isinstance(e, Delta | ReasoningDelta)]
    assert kinds == [ReasoningDelta, Delta]
    assert read(events) == ("2+2", "Four.")


async def test_reasoning_streams_chunk_by_chunk_when_the_server_paces_it(
        provider: OpenAICompatible, fake_openai: FakeOpenAI) -> None:
    """Reasoning is passed on as it arrives, not gathered until the answer starts."""
    fake_openai.script(Reply(chunks=["ok"], reasoning=["a ", "b ", "c "], reasoning_form="think",
                             chunks_per_second=20))
    events = await collect(provider)
    reasoning = [e for e in events if isinstance(e, ReasoningDelta)]
    assert len(reasoning) >= 3


async def test_a_cut_during_reasoning_is_a_broken_stream_not_unreachable(
        provider: OpenAICompatible, fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply(chunks=ANSWER, reasoning=THINKING, cut_after=2,
                             chunks_per_second=0))
    events: list[StreamEvent] = []
    with pytest.raises(StreamBroken):
        async with asyncio.timeout(10):
            async with aclosing(provider.stream([Message("user", "hi")],
                                                RequestParams("m"))) as stream:
                async for event in stream:
                    events.append(event)
    assert read(events)[0] == "".join(THINKING[:2])


@pytest.mark.parametrize("form", ["reasoning_content", "think"])
async def test_without_streaming_the_reasoning_is_split_off_too(
        provider: OpenAICompatible, fake_openai: FakeOpenAI, form: str) -> None:
    fake_openai.script(Reply(chunks=ANSWER, reasoning=THINKING, reasoning_form=form))
    events = await collect(provider, stream=False)
    assert read(events) == ("".join(THINKING), "".join(ANSWER))


@pytest.mark.parametrize("form", ["think", "reasoning_content"])
async def test_a_flood_keeps_the_text_and_the_chunk_counts_of_each_side(
        provider: OpenAICompatible, fake_openai: FakeOpenAI, form: str) -> None:
    """Unthrottled, a read brings many chunks and their content goes through the `<think>`
    splitter together: the text on each side of the tag, and how many chunks each side
    counts (the tokens/s shown), are those of the chunks one by one."""
    thinking = [f"r{n} " for n in range(1500)]
    answer = [f"a{n} " for n in range(1500)]
    fake_openai.script(Reply(chunks=answer, reasoning=thinking, reasoning_form=form,
                             chunks_per_second=0))
    events = await collect(provider)
    assert read(events) == ("".join(thinking), "".join(answer))
    assert sum(e.chunks for e in events if isinstance(e, ReasoningDelta)) == len(thinking)
    assert sum(e.chunks for e in events if isinstance(e, Delta)) == len(answer)
