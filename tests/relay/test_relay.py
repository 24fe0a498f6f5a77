"""The relay server over the loopback OpenAI server, and the TUI's relay provider against it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.config import load_settings
from tui_chat.models import Delta, Finished, Message, RequestParams, StreamBroken, Usage
from tui_chat.providers import make_provider
from tui_chat.providers.relay import RelayProvider
from tui_chat.relay.server import make_relay_app

KEY = "sk-test-RELAYKEY0123456789"


@asynccontextmanager
async def relay_for(fake: FakeOpenAI, **options) -> AsyncIterator[str]:
    settings = load_settings(None, {"OPENAI_API_KEY": KEY}, base_url=fake.url,
                             model="fake-model", system="Be kind.", retries=0)
    app = make_relay_app(settings, make_provider(settings), **options)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def sse_events(body: str) -> list[dict]:
    return [json.loads(line[5:]) for line in body.split("\n") if line.startswith("data:")]


def joined(events: list[dict]) -> list[dict]:
    """Neighbouring `content` events as one: the relay sends one event per upstream read, and
    how many chunks a read holds is the transport's business."""
    out: list[dict] = []
    for event in events:
        if list(event) == ["content"] and out and list(out[-1]) == ["content"]:
            out[-1] = {"content": out[-1]["content"] + event["content"]}
        else:
            out.append(event)
    return out


async def post(url: str, payload, **headers) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session:
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        headers = {"Content-Type": "application/json", **headers}
        async with session.post(url, data=data, headers=headers) as response:
            return response.status, dict(response.headers), await response.text()


async def test_stream_events_headers_utf8_and_usage(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["你好", " world"], usage=(5, 2)))
    async with relay_for(fake_openai) as url:
        status, headers, body = await post(
            f"{url}/api/chat/stream",
            {"message": "hi", "conversationHistory": [{"role": "user", "content": "a"},
                                                      {"role": "assistant", "content": "b"}]})
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert "你好" in body and "\\u" not in body
    assert joined(sse_events(body)) == [{"content": "你好 world"},
                                {"done": True, "usage": {"prompt_tokens": 5,
                                                         "completion_tokens": 2,
                                                         "total_tokens": 7},
                                 "model": "fake-model"}]
    sent = fake_openai.chat_requests[0].messages
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "Be kind."), ("user", "a"), ("assistant", "b"), ("user", "hi")]


async def test_non_streaming_twin_and_health(fake_openai) -> None:
    fake_openai.script(Reply(text="whole"))
    async with relay_for(fake_openai) as url:
        status, _, body = await post(f"{url}/api/chat", {"message": "hi"})
        async with aiohttp.ClientSession() as session, session.get(f"{url}/api/health") as r:
            assert r.status == 200
    assert status == 200
    data = json.loads(body)
    assert data["success"] is True and data["data"]["content"] == "whole"


@pytest.mark.parametrize(("payload", "words"), [
    (b"{not json", "not valid JSON"),
    ({"conversationHistory": []}, "'message' must be a string"),
    ({"message": "   "}, "must not be empty"),
    ({"message": 3}, "'message' must be a string"),
    ({"message": "hi", "conversationHistory": {"role": "user"}}, "must be a list"),
    ({"message": "hi", "conversationHistory": [{"role": "tool", "content": "x"}]}, "item 0"),
])
async def test_bad_requests_get_400_and_never_reach_upstream(fake_openai, payload,
                                                             words) -> None:
    async with relay_for(fake_openai) as url:
        status, _, body = await post(f"{url}/api/chat/stream", payload)
    assert status == 400
    data = json.loads(body)
    assert data["success"] is False and words in data["error"]
    assert fake_openai.chat_requests == []


async def test_heartbeat_comments_on_an_idle_stream(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["a", "b"], stall_after=1, stall_seconds=0.5))
    async with relay_for(fake_openai, heartbeat=0.1) as url:
        _, _, body = await post(f"{url}/api/chat/stream", {"message": "hi"})
    assert body.count(": heartbeat") >= 2
    assert [e.get("content") for e in sse_events(body)][:2] == ["a", "b"]


async def test_the_token_is_checked_on_every_request(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["ok"]))
    async with relay_for(fake_openai, token="s3cret") as url:
        missing, _, _ = await post(f"{url}/api/chat/stream", {"message": "hi"})
        wrong, _, _ = await post(f"{url}/api/chat/stream", {"message": "hi"},
                                 Authorization="Bearer nope")
        right, _, body = await post(f"{url}/api/chat/stream", {"message": "hi"},
                                    Authorization="Bearer s3cret")
    assert (missing, wrong, right) == (401, 401, 200)
    assert sse_events(body)[-1]["done"] is True


async def test_cors_only_for_configured_origins(fake_openai) -> None:
    async with relay_for(fake_openai, cors_origins=["http://app.test"]) as url, \
            aiohttp.ClientSession() as session:
        async with session.options(f"{url}/api/chat/stream",
                                   headers={"Origin": "http://app.test"}) as allowed:
            assert allowed.headers["Access-Control-Allow-Origin"] == "http://app.test"
        async with session.get(f"{url}/api/health",
                               headers={"Origin": "http://evil.test"}) as other:
            assert "Access-Control-Allow-Origin" not in other.headers


async def test_a_client_disconnect_closes_the_upstream_request(fake_openai) -> None:
    fake_openai.script(Reply(chunks=[f"w{i} " for i in range(500)], chunks_per_second=50))
    async with relay_for(fake_openai) as url:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/api/chat/stream",
                                    json={"message": "hi"}) as response:
                await response.content.readline()
        request = fake_openai.chat_requests[0]
        async with asyncio.timeout(3):
            await request.wait_disconnected()
    assert len(request.chunks) < 500


async def test_upstream_failures_become_error_events_without_the_key(fake_openai) -> None:
    fake_openai.script(Reply.error(401, "Incorrect API key provided: {api_key}"),
                       Reply.error(500))
    async with relay_for(fake_openai) as url:
        _, _, first = await post(f"{url}/api/chat/stream", {"message": "hi"})
        _, _, second = await post(f"{url}/api/chat/stream", {"message": "hi"})
    assert "401" in sse_events(first)[-1]["error"]
    assert "500" in sse_events(second)[-1]["error"]
    assert KEY not in first + second


async def collect(provider: RelayProvider, text: str = "hi"):
    messages = [Message("system", "s"), Message("user", text)]
    async with asyncio.timeout(10), aclosing(provider.stream(messages,
                                                             RequestParams("m"))) as events:
        return [event async for event in events]


async def test_relay_provider_streams_text_usage_and_split_utf8(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["你好", "🙂 done"], usage=(3, 2), split_utf8=True))
    async with relay_for(fake_openai) as url:
        provider = RelayProvider(url)
        events = await collect(provider)
        await provider.aclose()
    assert events == [Delta("你好"), Delta("🙂 done"), Usage(3, 2), Finished("stop")]


async def test_relay_provider_maps_errors(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["par", "tial", "x"], cut_after=2))
    async with relay_for(fake_openai, token="t") as url:
        unauthorised = RelayProvider(url)
        with pytest.raises(Exception, match="401"):
            await collect(unauthorised)
        await unauthorised.aclose()
        provider = RelayProvider(url, token="t")
        with pytest.raises(StreamBroken):
            await collect(provider)
        await provider.aclose()


async def test_relay_provider_cancel_closes_the_upstream(fake_openai) -> None:
    fake_openai.script(Reply(chunks=[f"w{i} " for i in range(500)], chunks_per_second=50))
    async with relay_for(fake_openai) as url:
        provider = RelayProvider(url)
        stream = provider.stream([Message("user", "hi")], RequestParams("m"))
        assert isinstance(await anext(stream), Delta)
        await stream.aclose()
        request = fake_openai.chat_requests[0]
        async with asyncio.timeout(3):
            await request.wait_disconnected()
        await provider.aclose()


async def test_the_tui_streams_through_the_relay_end_to_end(fake_openai) -> None:
    from tui_chat.app import make_app
    from tui_chat.widgets.message_view import MessageView

    fake_openai.script(Reply(chunks=["through ", "the ", "relay"]))
    async with relay_for(fake_openai) as url:
        settings = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m")
        app = make_app(settings, RelayProvider(url))
        async with app.run_test() as pilot:
            await pilot.press(*"hi", "enter")
            async with asyncio.timeout(10):
                await app.workers.wait_for_complete()
            await pilot.pause()
            answer = app.screen.query(MessageView).last()
            assert (answer.text, answer.status) == ("through the relay", "done")


def test_serve_refuses_a_public_address_without_a_token(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TUI_CHAT_RELAY_TOKEN"}
    env.update({f"XDG_{n}_HOME": str(tmp_path / n) for n in ("CONFIG", "DATA", "STATE")})
    result = subprocess.run([sys.executable, "-m", "tui_chat", "serve", "--host", "0.0.0.0",
                             "--base-url", "http://127.0.0.1:9/v1"], capture_output=True,
                            text=True, env=env, timeout=30)
    assert result.returncode == 2
    assert "needs a bearer token" in result.stderr
