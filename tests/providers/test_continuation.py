"""Continuing an answer, against the loopback server: its length cut (finish_reason "length"
at the request's max_tokens), its continuation mode (the rest of the answer after the partial
one it is sent, optionally repeating its end), and an Exchange that drops the repeat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.continuation import INSTRUCTION, continuation_messages
from tui_chat.models import Message, RequestParams
from tui_chat.providers.openai_compat import OpenAICompatible
from tui_chat.session import Exchange, RetryPolicy

WHOLE = "One two three four five six seven eight nine ten. Eleven twelve thirteen."


@pytest.fixture
async def provider(fake_openai: FakeOpenAI) -> AsyncIterator[OpenAICompatible]:
    provider = OpenAICompatible(fake_openai.url, "sk-test", connect_timeout=2.0,
                                stall_timeout=5.0)
    yield provider
    await provider.aclose()


async def run(exchange: Exchange) -> str:
    async with asyncio.timeout(10):
        async for _ in exchange.display():
            pass
    return exchange.text


@pytest.mark.parametrize("stream", [True, False])
async def test_the_server_cuts_at_max_tokens_with_finish_reason_length(
        fake_openai: FakeOpenAI, provider: OpenAICompatible, stream: bool) -> None:
    fake_openai.script(Reply(text=WHOLE, obey_max_tokens=True),
                       Reply(text="Short.", obey_max_tokens=True))
    cut = Exchange(provider, [Message("user", "count")],
                   RequestParams("m", max_tokens=4, stream=stream), retry=RetryPolicy(0))
    assert await run(cut) == "One two three four "
    assert cut.finish_reason == "length"
    whole = Exchange(provider, [Message("user", "count")],
                     RequestParams("m", max_tokens=4, stream=stream), retry=RetryPolicy(0))
    assert (await run(whole), whole.finish_reason) == ("Short.", "stop")


@pytest.mark.parametrize(("mode", "repeat"), [("prefill", 0), ("instruct", 0),
                                              ("instruct", 18), ("instruct", 19)])
async def test_a_continuation_adds_only_what_is_new(
        fake_openai: FakeOpenAI, provider: OpenAICompatible, mode: str, repeat: int) -> None:
    partial = "One two three four five six "
    fake_openai.script(Reply(continues=WHOLE, repeat_tail=repeat))
    messages = continuation_messages([Message("user", "count"),
                                      Message("assistant", partial)], mode)  # type: ignore[arg-type]
    exchange = Exchange(provider, messages, RequestParams("m"), retry=RetryPolicy(0),
                        continues=partial)

    text = await run(exchange)

    assert partial + text == WHOLE
    sent = fake_openai.chat_requests[-1]
    assert sent.messages[-1 if mode == "prefill" else -2] == {"role": "assistant",
                                                              "content": partial}
    if mode == "instruct":
        assert sent.messages[-1] == {"role": "user", "content": INSTRUCTION}
    written = sent.text_sent
    assert written.startswith(partial[len(partial) - repeat:] if repeat else "seven")


async def test_an_answer_restarted_from_the_top_is_not_doubled(
        fake_openai: FakeOpenAI, provider: OpenAICompatible) -> None:
    partial = "One two three four five six "
    fake_openai.script(Reply(continues=WHOLE, repeat_tail=len(partial)))
    exchange = Exchange(provider, continuation_messages(
        [Message("user", "count"), Message("assistant", partial)], "instruct"),
        RequestParams("m"), retry=RetryPolicy(0), continues=partial)
    assert partial + await run(exchange) == WHOLE


async def test_a_refused_prefill_falls_back_to_asking(
        fake_openai: FakeOpenAI, provider: OpenAICompatible) -> None:
    partial = "One two three four five six "
    fake_openai.script(Reply.error(400, "Assistant response prefill is incompatible with "
                                        "enable_thinking."),
                       Reply(continues=WHOLE))
    history = [Message("user", "count"), Message("assistant", partial)]
    exchange = Exchange(provider, continuation_messages(history, "prefill"), RequestParams("m"),
                        retry=RetryPolicy(0), continues=partial,
                        fallback=continuation_messages(history, "instruct"))
    assert partial + await run(exchange) == WHOLE
    first, second = fake_openai.chat_requests
    assert first.messages[-1]["role"] == "assistant"
    assert second.messages[-1] == {"role": "user", "content": INSTRUCTION}
