"""OpenAICompatible against the loopback fake server: the wire, the stream and every failure."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.config import PLACEHOLDER_KEY, Settings
from tui_chat.models import (
    AuthFailed,
    BadRequest,
    BadResponse,
    ContextTooLong,
    Delta,
    Finished,
    Message,
    ModelNotFound,
    NoApiKey,
    ProviderError,
    RateLimited,
    RequestParams,
    ServerError,
    StreamBroken,
    StreamEvent,
    StreamStalled,
    Unreachable,
    Usage,
)
from tui_chat.providers import make_provider
from tui_chat.providers.openai_compat import OpenAICompatible

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-test-0123456789abcdef"
MESSAGES = [Message("user", "Say hello")]
PARAMS = RequestParams("fake-model")


@pytest.fixture
async def provider(fake_openai: FakeOpenAI) -> AsyncIterator[OpenAICompatible]:
    provider = OpenAICompatible(fake_openai.url, KEY, connect_timeout=2.0, stall_timeout=5.0)
    yield provider
    await provider.aclose()


async def collect(
    provider: OpenAICompatible,
    params: RequestParams = PARAMS,
    messages: Sequence[Message] = MESSAGES,
) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    async with asyncio.timeout(10):
        async with aclosing(provider.stream(messages, params)) as stream:
            async for event in stream:
                events.append(event)
    return events


async def collect_failure(
    provider: OpenAICompatible, params: RequestParams = PARAMS
) -> tuple[list[StreamEvent], ProviderError]:
    """Events that arrived before the failure, and the failure."""
    events: list[StreamEvent] = []
    with pytest.raises(ProviderError) as raised:
        async with asyncio.timeout(10):
            async with aclosing(provider.stream(MESSAGES, params)) as stream:
                async for event in stream:
                    events.append(event)
    return events, raised.value


def merged(events: Sequence[StreamEvent]) -> list[StreamEvent]:
    """The events with neighbouring Deltas joined: the provider passes on each network read's
    text as one Delta, and where reads begin and end is the transport's business (aiohttp
    hands over what has arrived; httpx over h11 one HTTP chunk at a time)."""
    out: list[StreamEvent] = []
    for event in events:
        if isinstance(event, Delta) and out and isinstance(out[-1], Delta):
            out[-1] = Delta(out[-1].text + event.text, out[-1].chunks + event.chunks)
        else:
            out.append(event)
    return out


def text_of(events: Sequence[StreamEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, Delta))


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestStreaming:
    async def test_text_then_usage_then_finish(self, fake_openai, provider):
        fake_openai.script(Reply(chunks=["Hel", "lo, ", "world"], usage=(12, 3),
                                 finish_reason="length"))
        events = await collect(provider)
        assert merged(events) == [Delta("Hello, world", 3), Usage(12, 3), Finished("length")]

    async def test_request_carries_messages_model_params_and_key(self, fake_openai, provider):
        messages = [Message("system", "Be brief."), Message("user", "hi"),
                    Message("assistant", "hello"), Message("user", "again")]
        await collect(provider, RequestParams("gpt-4o-mini", temperature=0.3, max_tokens=50),
                      messages)
        body = fake_openai.chat_requests[0].body
        assert body["messages"] == [{"role": m.role, "content": m.content} for m in messages]
        assert body["model"] == "gpt-4o-mini"
        assert body["temperature"] == 0.3
        assert body["max_tokens"] == 50
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        assert fake_openai.chat_requests[0].authorization == f"Bearer {KEY}"

    async def test_an_admin_key_in_the_environment_is_never_sent(self, fake_openai,
                                                                  monkeypatch):
        # The SDK reads OPENAI_ADMIN_KEY for its admin endpoints; a chat request carries the
        # API key alone, whichever way the provider sends it.
        monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-SECRET-0123456789")
        provider = OpenAICompatible(fake_openai.url, KEY)
        try:
            await collect(provider)
        finally:
            await provider.aclose()
        headers = fake_openai.chat_requests[0].headers
        assert headers["authorization"] == f"Bearer {KEY}"
        assert not any("sk-admin" in value for value in headers.values())

    async def test_unset_params_are_not_sent(self, fake_openai, provider):
        await collect(provider)
        body = fake_openai.chat_requests[0].body
        assert "temperature" not in body
        assert "max_tokens" not in body

    async def test_server_that_rejects_stream_options_is_asked_again_without(self):
        async with FakeOpenAI(reject_stream_options=True, text="plain answer") as fake:
            provider = OpenAICompatible(fake.url, KEY)
            try:
                first = await collect(provider)
                second = await collect(provider)
            finally:
                await provider.aclose()
        assert text_of(first) == text_of(second) == "plain answer"
        assert first[-1] == second[-1] == Finished("stop")
        statuses = [(r.status, "stream_options" in r.body) for r in fake.chat_requests]
        # Rejected once, then remembered: the second answer needs one request.
        assert statuses == [(400, True), (200, False), (200, False)]

    async def test_non_streaming_request_yields_the_whole_text_once(self, fake_openai, provider):
        fake_openai.script(Reply(chunks=["one ", "two ", "three"], usage=(4, 3)))
        events = await collect(provider, replace(PARAMS, stream=False))
        assert events == [Delta("one two three"), Usage(4, 3), Finished("stop")]
        assert fake_openai.chat_requests[0].body["stream"] is False

    async def test_multibyte_characters_split_across_writes_arrive_intact(self, fake_openai,
                                                                          provider):
        fake_openai.script(Reply(chunks=["你好", "世界🙂", " ok"], split_utf8=True))
        assert text_of(await collect(provider)) == "你好世界🙂 ok"

    async def test_huge_single_chunk(self, fake_openai, provider):
        big = "x" * 1_000_000
        fake_openai.script(Reply(chunks=["start ", big, " end"]))
        assert text_of(await collect(provider)) == f"start {big} end"

    async def test_control_characters_in_chunks_arrive_as_the_model_sent_them(self, fake_openai,
                                                                              provider):
        # Made terminal-safe where text becomes cells (the renderer), not here: the store and
        # the relay keep the model's text verbatim (issue 14, item 20).
        chunks = ["\x1b[31mred\x1b[0m", " \x1b]0;pwned\x07", "\x9b2J\r\n\u202eevil"]
        fake_openai.script(Reply(chunks=chunks))
        assert text_of(await collect(provider)) == "".join(chunks)

    async def test_finish_without_done_is_a_normal_finish(self, fake_openai, provider):
        fake_openai.script(Reply(chunks=["a", "b"], no_done=True, usage=(1, 2)))
        events = await collect(provider)
        assert merged(events) == [Delta("ab", 2), Usage(1, 2), Finished("stop")]
        assert fake_openai.chat_requests[0].outcome == "no_done"

    async def test_keep_alive_comments_keep_a_slow_answer_alive(self, fake_openai):
        provider = OpenAICompatible(fake_openai.url, KEY, stall_timeout=0.6)
        fake_openai.script(Reply(chunks=["before ", "after"], stall_after=1, stall_seconds=1.5,
                                 keepalive_every=0.2))
        try:
            events = await collect(provider)
        finally:
            await provider.aclose()
        assert text_of(events) == "before after"
        assert events[-1] == Finished("stop")


    @pytest.mark.parametrize(("line_ending", "prefix"), [("\r\n", "data: "), ("\r", "data: "),
                                                         ("\n", "data:"), ("\r\n", "data:")])
    async def test_every_valid_event_stream_layout_is_read(self, fake_openai, provider,
                                                          line_ending, prefix):
        fake_openai.script(Reply(chunks=["line one\n", "two ", "三"], usage=(3, 3),
                                 line_ending=line_ending, data_prefix=prefix,
                                 stall_after=1, stall_seconds=0.1, keepalive_every=0.03))
        events = await collect(provider)
        assert text_of(events) == "line one\ntwo 三"
        assert events[-2:] == [Usage(3, 3), Finished("stop")]

    async def test_a_flood_of_chunks_arrives_whole_and_counts_every_chunk(self):
        chunks = [f"w{i} " for i in range(3000)]
        # The server on its own thread writes ahead of the reader, as a fast local model does.
        with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
            running.fake.script(Reply(chunks=chunks, chunks_per_second=0, delay=0.2))
            provider = OpenAICompatible(running.url, KEY)
            try:
                events = await collect(provider)
            finally:
                await provider.aclose()
        deltas = [event for event in events if isinstance(event, Delta)]
        assert text_of(events) == "".join(chunks)
        assert sum(delta.chunks for delta in deltas) == 3000  # the token estimate stays right

    async def test_the_connection_is_reused_for_the_next_answer(self, fake_openai, provider):
        fake_openai.script(Reply(chunks=["a", "b"]), Reply(chunks=["c"]))
        assert text_of(await collect(provider)) == "ab"
        assert text_of(await collect(provider)) == "c"
        assert fake_openai.connections_opened == 1


class TestClosing:
    """Closing or cancelling the stream hangs up at once; the server sees it."""

    async def test_cancelling_the_reader_closes_the_connection(self, fake_openai, provider):
        fake_openai.script(Reply(chunks=[f"w{i} " for i in range(200)], chunks_per_second=50))
        received: list[StreamEvent] = []
        two = asyncio.Event()

        async def read() -> None:
            async with aclosing(provider.stream(MESSAGES, PARAMS)) as stream:
                async for event in stream:
                    received.append(event)
                    if len(received) == 2:
                        two.set()

        reader = asyncio.create_task(read())
        async with asyncio.timeout(5):
            await two.wait()
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            request = fake_openai.chat_requests[0]
            await request.wait_disconnected()
        assert request.outcome == "disconnected"
        assert len(request.chunks) < 200

    async def test_closing_the_generator_closes_the_connection(self, fake_openai, provider):
        fake_openai.script(Reply(chunks=[f"w{i} " for i in range(200)], chunks_per_second=50))
        stream = provider.stream(MESSAGES, PARAMS)
        async with asyncio.timeout(5):
            first = await anext(stream)
            await stream.aclose()
            request = fake_openai.chat_requests[0]
            await request.wait_disconnected()
        assert first == Delta("w0 ")
        assert len(request.chunks) < 200

    async def test_a_finished_stream_is_not_a_disconnect(self, fake_openai, provider):
        await collect(provider)
        await collect(provider)
        assert [r.outcome for r in fake_openai.chat_requests] == ["complete", "complete"]
        assert not any(r.disconnected for r in fake_openai.chat_requests)


class TestBrokenStreams:
    """Text that arrived is delivered before the error."""

    async def test_connection_cut_mid_answer(self, fake_openai, provider):
        fake_openai.script(Reply(chunks=["a", "b", "c", "d"], cut_after=2))
        events, error = await collect_failure(provider)
        assert merged(events) == [Delta("ab", 2)]
        assert type(error) is StreamBroken
        assert "mid-answer" in str(error)

    async def test_body_ending_without_finish_reason(self, fake_openai, provider):
        fake_openai.script(Reply(chunks=["a", "b", "c"], end_after=2))
        events, error = await collect_failure(provider)
        assert merged(events) == [Delta("ab", 2)]
        assert type(error) is StreamBroken

    async def test_malformed_event(self, fake_openai, provider):
        fake_openai.script(Reply(chunks=["a", "b", "c"], malformed_after=2))
        events, error = await collect_failure(provider)
        assert merged(events) == [Delta("ab", 2)]
        assert isinstance(error, BadResponse)
        assert "malformed event" in str(error)

    async def test_malformed_non_streaming_body(self, fake_openai, provider):
        fake_openai.script(Reply(malformed_after=0))
        _, error = await collect_failure(provider, replace(PARAMS, stream=False))
        assert isinstance(error, BadResponse)

    async def test_stall_after_text(self, fake_openai):
        provider = OpenAICompatible(fake_openai.url, KEY, stall_timeout=0.5)
        fake_openai.script(Reply(chunks=["a", "b", "c"], stall_after=2))
        try:
            events, error = await collect_failure(provider)
        finally:
            await provider.aclose()
        assert merged(events) == [Delta("ab", 2)]
        assert isinstance(error, StreamStalled)
        assert "0.5 s" in str(error)

    async def test_silence_before_any_text_is_unreachable(self, fake_openai):
        provider = OpenAICompatible(fake_openai.url, KEY, stall_timeout=0.5)
        fake_openai.script(Reply(stall_after=0))
        try:
            events, error = await collect_failure(provider)
        finally:
            await provider.aclose()
        assert events == []
        assert isinstance(error, Unreachable)
        assert error.retryable
        assert "0.5 s" in str(error)


class TestHttpErrors:
    async def test_401_names_the_host_and_how_to_set_a_key(self, fake_openai, provider):
        fake_openai.script(Reply.error(401))  # the fake echoes the key back in its message
        _, error = await collect_failure(provider)
        assert isinstance(error, AuthFailed)
        assert str(error) == (f"401: API key rejected by 127.0.0.1:{fake_openai.port}; "
                              "set OPENAI_API_KEY or api_key_env in the config")

    async def test_403_is_an_auth_failure(self, fake_openai, provider):
        fake_openai.script(Reply.error(403, "Project lacks access"))
        _, error = await collect_failure(provider)
        assert isinstance(error, AuthFailed)
        assert str(error).startswith("403:")
        assert "Project lacks access" in str(error)

    async def test_unknown_model_lists_the_available_ones(self):
        models = [f"model-{i:02d}" for i in range(13)]
        async with FakeOpenAI(models=models, check_model=True) as fake:
            provider = OpenAICompatible(fake.url, KEY)
            try:
                _, error = await collect_failure(provider, RequestParams("no-such-model"))
            finally:
                await provider.aclose()
        assert isinstance(error, ModelNotFound)
        message = str(error)
        assert message.startswith("404: model 'no-such-model' not found")
        assert "model-00, model-01" in message and "model-09" in message
        assert "model-10" not in message
        assert "and 3 more" in message

    async def test_unknown_model_when_the_list_is_unavailable(self):
        async with FakeOpenAI(models_status=500, check_model=True, models=["x"]) as fake:
            provider = OpenAICompatible(fake.url, KEY)
            try:
                _, error = await collect_failure(provider, RequestParams("gone"))
            finally:
                await provider.aclose()
        assert isinstance(error, ModelNotFound)
        assert "'gone'" in str(error)
        assert "does not exist" in str(error)  # the server's own words instead of a list

    async def test_wrong_path_suggests_checking_base_url(self, fake_openai):
        url = f"http://127.0.0.1:{fake_openai.port}/api"
        provider = OpenAICompatible(url, KEY)
        try:
            _, error = await collect_failure(provider)
        finally:
            await provider.aclose()
        assert isinstance(error, ModelNotFound)
        assert str(error) == (f"404: no chat endpoint at {url}/chat/completions; "
                              "check base_url (it usually ends in /v1)")

    async def test_context_too_long(self, fake_openai, provider):
        fake_openai.script(Reply.context_too_long())
        _, error = await collect_failure(provider)
        assert isinstance(error, ContextTooLong)
        assert str(error).startswith("400:")
        assert "8192" in str(error)

    async def test_other_400_is_a_bad_request_with_the_servers_words(self, fake_openai,
                                                                      provider):
        fake_openai.script(Reply.error(400, "temperature must be at most 2"))
        _, error = await collect_failure(provider)
        assert type(error) is BadRequest
        assert str(error).startswith("400:")
        assert "temperature must be at most 2" in str(error)

    async def test_429_with_retry_after_seconds(self, fake_openai, provider):
        fake_openai.script(Reply.error(429, retry_after=7))
        _, error = await collect_failure(provider)
        assert isinstance(error, RateLimited)
        assert error.retry_after == 7
        assert error.retryable

    async def test_429_with_retry_after_as_a_date(self, fake_openai, provider):
        when = email.utils.formatdate(time.time() + 120, usegmt=True)
        fake_openai.script(Reply.error(429, retry_after=when))
        _, error = await collect_failure(provider)
        assert isinstance(error, RateLimited)
        assert error.retry_after is not None and 60 < error.retry_after <= 121

    @pytest.mark.parametrize(("status", "retry_after"), [(500, None), (502, None), (503, 2)])
    async def test_5xx_is_a_server_error(self, fake_openai, provider, status, retry_after):
        fake_openai.script(Reply.error(status, retry_after=retry_after))
        _, error = await collect_failure(provider)
        assert isinstance(error, ServerError)
        assert error.status == status
        assert error.retry_after == retry_after
        assert str(error).startswith(f"{status}:")

    async def test_html_error_page_becomes_one_plain_line(self, fake_openai, provider):
        fake_openai.script(Reply.error(502, body="<html><body><h1>502 Bad\nGateway</h1>"
                                                 "</body></html>"))
        _, error = await collect_failure(provider)
        assert isinstance(error, ServerError)
        assert "<" not in str(error) and "\n" not in str(error)
        assert "502 Bad Gateway" in str(error)

    async def test_dead_port_is_unreachable(self):
        url = f"http://127.0.0.1:{dead_port()}/v1"
        provider = OpenAICompatible(url, KEY, connect_timeout=2.0)
        try:
            _, error = await collect_failure(provider)
        finally:
            await provider.aclose()
        assert isinstance(error, Unreachable)
        assert str(error).startswith(f"cannot reach {url}: connection refused; ")
        assert not error.retryable  # nothing listens on this machine; waiting will not help

    @pytest.mark.parametrize("reply", [
        Reply.error(401), Reply.error(403, "denied for {api_key}"),
        Reply.error(404, "no model for {api_key}"), Reply.error(400, "bad key {api_key}"),
        Reply.error(429, "slow down {api_key}"), Reply.error(500, "oops {api_key}"),
        Reply.error(400, "This model's maximum context length is 10 tokens ({api_key})"),
    ], ids=["401", "403", "404", "400", "429", "500", "400-context"])
    async def test_the_key_never_appears_in_an_error(self, fake_openai, provider, reply):
        fake_openai.script(reply)
        _, error = await collect_failure(provider)
        assert KEY not in str(error)
        assert "0123456789abcdef" not in str(error)
        assert "[key hidden]" in str(error) or isinstance(error, AuthFailed | ModelNotFound)


class TestModels:
    async def test_list_models_is_sorted(self):
        async with FakeOpenAI(models=["zeta", "alpha", "mid"]) as fake:
            provider = OpenAICompatible(fake.url, KEY)
            try:
                assert await provider.list_models() == ["alpha", "mid", "zeta"]
            finally:
                await provider.aclose()

    async def test_list_models_is_empty_on_failure(self):
        async with FakeOpenAI(models_status=500) as fake:
            provider = OpenAICompatible(fake.url, KEY)
            dead = OpenAICompatible(f"http://127.0.0.1:{dead_port()}/v1", KEY)
            try:
                assert await provider.list_models() == []
                assert await dead.list_models() == []
            finally:
                await provider.aclose()
                await dead.aclose()


class TestMakeProvider:
    async def test_hosted_endpoint_without_key_explains_how_to_set_one(self):
        provider = make_provider(Settings(base_url="https://api.openai.com/v1"))
        with pytest.raises(NoApiKey) as raised:
            async with aclosing(provider.stream(MESSAGES, PARAMS)) as stream:
                async for _ in stream:
                    pass
        message = str(raised.value)
        assert "export OPENAI_API_KEY=" in message
        assert 'api_key_env = "VAR"' in message
        assert "--api-key-env VAR" in message
        assert await provider.list_models() == []

    async def test_local_endpoint_gets_the_settings_and_a_placeholder_key(self, fake_openai):
        settings = Settings(base_url=fake_openai.url, stall_timeout=3.0, connect_timeout=1.0)
        provider = make_provider(settings)
        try:
            assert isinstance(provider, OpenAICompatible)
            events = await collect(provider)  # type: ignore[arg-type]
        finally:
            await provider.aclose()
        assert events[-1] == Finished("stop")
        assert fake_openai.chat_requests[0].api_key == PLACEHOLDER_KEY

    async def test_configured_key_is_sent(self, fake_openai):
        settings = replace(Settings(base_url=fake_openai.url), api_key="sk-from-env")
        provider = make_provider(settings)
        try:
            await collect(provider)  # type: ignore[arg-type]
        finally:
            await provider.aclose()
        assert fake_openai.chat_requests[0].api_key == "sk-from-env"

    def test_importing_the_package_does_not_import_the_sdk(self):
        code = ("import sys, tui_chat.providers, tui_chat.providers.scripted; "
                "print('openai' in sys.modules, 'httpx2' in sys.modules)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=30, check=True)
        assert result.stdout.split() == ["False", "False"]


class TestFakeServer:
    """The fake's own ways of running, which UI tests and benchmarks rely on."""

    async def test_stopping_ends_a_stalled_answer(self):
        fake = FakeOpenAI(default=Reply(stall_after=1))
        async with fake:
            provider = OpenAICompatible(fake.url, KEY)
            stream = provider.stream(MESSAGES, PARAMS)
            async with asyncio.timeout(5):
                await anext(stream)
        # Leaving `async with` ended the stalled handler; the client now sees the cut.
        with pytest.raises(StreamBroken):
            async with asyncio.timeout(5):
                await anext(stream)
        await stream.aclose()
        await provider.aclose()
        assert fake.chat_requests[0].done

    def test_runs_in_a_thread_for_sync_code(self):
        with FakeOpenAI.start_in_thread(text="from a thread") as server:
            events = asyncio.run(self._ask(server.url))
            request = server.fake.chat_requests[0]
        assert text_of(events) == "from a thread"
        assert request.outcome == "complete"
        assert [c.text for c in request.chunks] == ["from ", "a ", "thread"]

    def test_runs_as_a_script_printing_its_url(self, tmp_path):
        answer = "Line one\nline two 🙂"
        (tmp_path / "answer.txt").write_text(answer, encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_openai", "--port", "0", "--text-file",
             str(tmp_path / "answer.txt"), "--chunks-per-second", "0", "--chunk-size", "4"],
            stdout=subprocess.PIPE, text=True, cwd=REPO)
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
            events = asyncio.run(self._ask(url))
        finally:
            process.terminate()
            process.wait(timeout=10)
        deltas = [event for event in events if isinstance(event, Delta)]
        assert "".join(delta.text for delta in deltas) == answer
        assert sum(delta.chunks for delta in deltas) == 5  # --chunk-size 4: 19 characters
        assert process.returncode == 0

    @staticmethod
    async def _ask(url: str) -> list[StreamEvent]:
        provider = OpenAICompatible(url, KEY)
        try:
            return await collect(provider)
        finally:
            await provider.aclose()


def on_path(url: str, transport: str, **kwargs: Any) -> OpenAICompatible:
    """A provider sending its streams one of three ways: "httpx" (the SDK over httpx),
    "aiohttp-sdk" (the SDK over its aiohttp client: with a proxy configured) and "aiohttp"
    (aiohttp straight, the default)."""
    if transport == "aiohttp-sdk":
        return OpenAICompatible(url, KEY, http_transport="aiohttp", direct=False, **kwargs)
    return OpenAICompatible(url, KEY, http_transport=transport, **kwargs)


@pytest.mark.parametrize("transport", ["httpx", "aiohttp-sdk", "aiohttp"])
class TestBothTransports:
    """Either HTTP transport (`http_transport`), and either way of sending on aiohttp, gives
    the same events and the same one-line errors: the aiohttp one files some system errors
    under other SDK exceptions."""

    @pytest.mark.parametrize(("reply", "kind", "message"), [
        (Reply(chunks=["a", "b", "c"], cut_after=2), StreamBroken,
         "the connection to {host} dropped mid-answer: the server closed the connection"),
        (Reply(chunks=["a", "b"], cut_after=0), Unreachable,
         "no answer from {url}: the server closed the connection"),
        (Reply(chunks=["a", "b", "c"], stall_after=2), StreamStalled,
         "stalled: no data from {host} for 0.5 s; the answer is incomplete"),
        (Reply(stall_after=0), Unreachable, "no answer from {url}: no answer within 0.5 s"),
        (Reply.error(500), ServerError, "500: server error at {host}: The server had an error "
                                        "while processing your request."),
    ])
    async def test_faults_read_the_same(self, fake_openai, transport, reply, kind, message):
        provider = on_path(fake_openai.url, transport, stall_timeout=0.5)
        fake_openai.script(reply)
        try:
            _, error = await collect_failure(provider)
        finally:
            await provider.aclose()
        host = fake_openai.url.split("//")[1].split("/")[0]
        assert type(error) is kind
        assert str(error) == message.format(host=host, url=fake_openai.url)

    async def test_refused_connection_reads_the_same(self, transport):
        url = f"http://127.0.0.1:{dead_port()}/v1"
        provider = on_path(url, transport)
        try:
            _, error = await collect_failure(provider)
        finally:
            await provider.aclose()
        assert str(error).startswith(f"cannot reach {url}: connection refused; ")

    async def test_credentials_in_the_url_are_sent_as_basic_auth(self, fake_openai, transport):
        """A `user:password@` in the base URL (basic auth at a proxy) reaches the server as
        httpx sends it, on every path: aiohttp refuses such a URL next to a header, and every
        request failed with its bare ValueError."""
        url = fake_openai.url.replace("http://", "http://al%40ice:s3cr%3Aet@")
        provider = on_path(url, transport)
        fake_openai.script(Reply(chunks=["ok"]))
        try:
            events = await collect(provider)
            models = await provider.list_models()
        finally:
            await provider.aclose()
        assert text_of(events) == "ok"
        assert models
        basic = "Basic " + base64.b64encode(b"al@ice:s3cr:et").decode()
        assert [r.headers["authorization"] for r in fake_openai.chat_requests] == [basic]
        assert fake_openai.chat_requests[0].path == "/v1/chat/completions"

    async def test_a_password_in_the_url_is_never_shown(self, transport):
        url = f"http://alice:s3cret-pw@127.0.0.1:{dead_port()}/v1"
        provider = on_path(url, transport)
        try:
            _, error = await collect_failure(provider)
        finally:
            await provider.aclose()
        shown = url.replace("alice:s3cret-pw@", "")
        assert str(error).startswith(f"cannot reach {shown}: connection refused; ")
        assert "s3cret" not in str(error) and "alice" not in str(error)

    async def test_cancel_closes_the_connection_at_once(self, fake_openai, transport):
        provider = on_path(fake_openai.url, transport)
        fake_openai.script(Reply(chunks=[f"w{i} " for i in range(1000)], chunks_per_second=50))
        try:
            async with asyncio.timeout(10):
                async with aclosing(provider.stream(MESSAGES, PARAMS)) as stream:
                    async for _ in stream:
                        break
                await fake_openai.chat_requests[0].wait_disconnected()
        finally:
            await provider.aclose()
        assert len(fake_openai.chat_requests[0].chunks) < 100

    async def test_a_flood_arrives_whole(self, fake_openai, transport):
        provider = on_path(fake_openai.url, transport)
        fake_openai.script(Reply(chunks=[f"w{i} " for i in range(2000)], chunks_per_second=0))
        try:
            events = await collect(provider)
        finally:
            await provider.aclose()
        assert text_of(events) == "".join(f"w{i} " for i in range(2000))
        assert sum(e.chunks for e in events if isinstance(e, Delta)) == 2000


class TestDirectRequests:
    """On the aiohttp transport streams are sent with aiohttp itself, not through the SDK's
    request path (its options model, httpx request and adapter layers: most of the CPU a
    relay spends setting up a stream); the server sees the same request and the user the
    same errors as through the SDK."""

    async def test_a_stream_does_not_go_through_the_sdks_request(self, fake_openai,
                                                                  monkeypatch):
        import openai

        async def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("sent through the SDK's request path")

        monkeypatch.setattr(openai.AsyncOpenAI, "post", refuse)
        provider = OpenAICompatible(fake_openai.url, KEY)
        fake_openai.script(Reply(chunks=["Hel", "lo"], usage=(3, 2)))
        try:
            events = await collect(provider)
        finally:
            await provider.aclose()
        assert merged(events) == [Delta("Hello", 2), Usage(3, 2), Finished("stop")]

    async def test_the_server_sees_the_request_the_sdk_sends(self, fake_openai):
        params = RequestParams("gpt-4o-mini", temperature=0.3, max_tokens=50)
        messages = [Message("system", "Be brief."), Message("user", "héllo 🙂 \"quoted\"")]
        for direct in (False, True):
            provider = OpenAICompatible(fake_openai.url, KEY, http_transport="aiohttp",
                                        direct=direct)
            try:
                await collect(provider, params, messages)
            finally:
                await provider.aclose()
        through_sdk, direct_one = fake_openai.chat_requests
        assert direct_one.path == through_sdk.path == "/v1/chat/completions"
        assert direct_one.body == through_sdk.body
        # The SDK's client names HTTP/1.1's default (keep-alive); aiohttp leaves it implied.
        assert through_sdk.headers.pop("connection") == "keep-alive"
        assert "connection" not in direct_one.headers
        assert direct_one.headers == through_sdk.headers
        assert direct_one.headers["authorization"] == f"Bearer {KEY}"
        assert direct_one.headers["user-agent"].startswith("AsyncOpenAI/Python")

    @pytest.mark.parametrize("reply", [
        Reply.error(401), Reply.error(403, "Project lacks access"),
        Reply.error(404, "The model `fake-model` does not exist", code="model_not_found"),
        Reply.error(400, "temperature must be at most 2"),
        Reply.error(400, "This model's maximum context length is 10 tokens"),
        Reply.error(429, retry_after=7), Reply.error(503, retry_after=2),
        Reply.error(502, body="<html><h1>Bad gateway</h1></html>"),
        Reply.error(422, body={"detail": "messages: field required"}),
    ], ids=lambda reply: str(reply.status))
    async def test_a_refusal_reads_the_same_either_way(self, fake_openai, reply):
        errors: list[ProviderError] = []
        for direct in (False, True):
            fake_openai.script(reply)
            provider = OpenAICompatible(fake_openai.url, KEY, http_transport="aiohttp",
                                        direct=direct)
            try:
                errors.append((await collect_failure(provider))[1])
            finally:
                await provider.aclose()
        through_sdk, direct_one = errors
        assert type(direct_one) is type(through_sdk)
        assert str(direct_one) == str(through_sdk) and str(direct_one)
        assert getattr(direct_one, "retry_after", None) == getattr(through_sdk, "retry_after",
                                                                   None)

    async def test_a_proxy_in_the_environment_is_honoured(self, fake_openai, monkeypatch):
        # The SDK's transport sends through the proxy the environment names; so must a
        # stream. Here the proxy is a port nobody listens on: the stream cannot go through.
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        provider = OpenAICompatible(fake_openai.url, KEY, connect_timeout=2.0)
        try:
            _, error = await collect_failure(provider)
        finally:
            await provider.aclose()
        assert isinstance(error, Unreachable)
        assert fake_openai.chat_requests == []
        # And with the endpoint exempted, it streams.
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        provider = OpenAICompatible(fake_openai.url, KEY)
        try:
            assert text_of(await collect(provider))
        finally:
            await provider.aclose()


class TestFlood:
    """An unthrottled answer on the aiohttp transport (the default): read straight from
    aiohttp in as few pieces as the flood allows (`compat.sdk_hooks.aiohttp_reads`), without
    holding the connection paused afterwards or delaying a hang-up."""

    async def test_a_flood_is_read_in_few_pieces(self, fake_openai, provider):
        from tui_chat.compat import ran, sdk_hooks

        words = [f"w{i} " for i in range(5000)]
        fake_openai.script(Reply(chunks=words, chunks_per_second=0))
        reads = ran["aiohttp_direct"]
        started = time.monotonic()
        events = await collect(provider)
        elapsed = time.monotonic() - started
        reads = ran["aiohttp_direct"] - reads
        assert text_of(events) == "".join(words)
        assert sum(e.chunks for e in events if isinstance(e, Delta)) == len(words)
        # At most one read per FLOOD_GAP while it floods (give or take the first reads), where
        # a quiet machine otherwise reads one or two events at a time.
        assert 0 < reads <= elapsed / sdk_hooks.FLOOD_GAP + 5, (reads, elapsed)

    async def test_the_connection_serves_the_next_answer_after_a_flood(self, fake_openai,
                                                                       provider):
        words = [f"w{i} " for i in range(3000)]
        for _ in range(2):
            fake_openai.script(Reply(chunks=words, chunks_per_second=0))
        fake_openai.script(Reply(chunks=["paced ", "answer"], chunks_per_second=50))
        async with asyncio.timeout(20):
            assert text_of(await collect(provider)) == "".join(words)
            assert text_of(await collect(provider)) == "".join(words)
            assert text_of(await collect(provider)) == "paced answer"
        assert fake_openai.connections_opened == 1
        assert [r.outcome for r in fake_openai.chat_requests] == ["complete"] * 3

    async def test_cancelling_a_flood_hangs_up_at_once(self, fake_openai, provider):
        # The server stalls after the flood, so it cannot finish (into the socket buffers)
        # before the hang-up: it sees it, during the flood or the stall.
        fake_openai.script(Reply(chunks=[f"w{i} " for i in range(20_000)],
                                 chunks_per_second=0, stall_after=20_000))
        received: list[StreamEvent] = []
        some = asyncio.Event()

        async def read() -> None:
            async with aclosing(provider.stream(MESSAGES, PARAMS)) as stream:
                async for event in stream:
                    received.append(event)
                    if len(received) == 20:  # reads are paced by now
                        some.set()

        reader = asyncio.create_task(read())
        async with asyncio.timeout(10):
            await some.wait()
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            request = fake_openai.chat_requests[0]
            await request.wait_disconnected()
        assert request.outcome == "disconnected"
