"""The relay as a browser, the blog's own client and its server see it (issue 14, items 19-24).

A page on another site can send "simple" requests (no preflight) that CORS headers do not stop;
the relay must refuse them before any upstream call. Web clients get the model's text as it was
sent and short error categories; a client reading `usage.total_tokens` always finds a number.
The relay client understands errors as other relays write them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fake_openai import FakeOpenAI, Reply
from tests.relay.serving import serving
from tui_chat.config import load_settings
from tui_chat.models import (
    AuthFailed,
    Delta,
    Finished,
    Message,
    RequestParams,
    StreamEvent,
    Usage,
)
from tui_chat.providers import make_provider
from tui_chat.providers.relay import RelayProvider
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.relay.server import make_relay_app
from tui_chat.session import Exchange, RetryPolicy

KEY = "sk-test-BROWSERKEY-0a1b2c3d4e"
EVIL = "http://evil.example.test"
OURS = "http://localhost:5173"  # a Vite dev server, as in the README



def relay_settings(base_url: str) -> Any:
    return load_settings(None, {"OPENAI_API_KEY": KEY}, base_url=base_url, model="relay-model",
                         system="", retries=0)


@asynccontextmanager
async def relay_over(fake: FakeOpenAI, **options: Any) -> AsyncIterator[str]:
    settings = relay_settings(fake.url)
    async with serving(make_relay_app(settings, make_provider(settings), **options)) as url:
        yield url


async def send(url: str, data: bytes | str, headers: dict[str, str]) -> tuple[int, Any]:
    async with asyncio.timeout(10), aiohttp.ClientSession() as session, \
            session.post(url, data=data, headers=headers) as response:
        body = await response.read()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, body


def data_events(body: bytes) -> list[dict[str, Any]]:
    lines = body.decode("utf-8").split("\n")
    return [json.loads(line.removeprefix("data:")) for line in lines if line.startswith("data:")]


# -- item 19: cross-site requests are refused before the upstream is called ---------------------

BROWSER_SHAPES = {
    # navigator.sendBeacon("/api/chat", JSON.stringify({...})): a string body is text/plain.
    "sendBeacon": ("/api/chat", "text/plain;charset=UTF-8", json.dumps({"message": "spend"})),
    # fetch("/api/chat/stream", {mode: "no-cors", body: JSON.stringify({...})})
    "no-cors-fetch": ("/api/chat/stream", "text/plain;charset=UTF-8",
                      json.dumps({"message": "spend"})),
    # <form method=post enctype="text/plain"><input name='{"message":"spend","x":"' value='"}'>
    # sends name=value, which is valid JSON.
    "text-plain-form": ("/api/chat", "text/plain",
                        '{"message":"spend","x":"=' + '"}\r\n'),
}


@pytest.mark.parametrize("shape", list(BROWSER_SHAPES))
@pytest.mark.parametrize("origin", [EVIL, "null"], ids=["other-site", "file-page"])
@pytest.mark.parametrize("cors_origins", [(), (OURS,)], ids=["no-cors-flag", "cors-flag"])
async def test_a_page_elsewhere_cannot_make_the_relay_call_the_upstream(
        fake_openai, shape: str, origin: str, cors_origins: tuple[str, ...]) -> None:
    path, content_type, body = BROWSER_SHAPES[shape]
    async with relay_over(fake_openai, cors_origins=cors_origins) as url:
        status, answer = await send(f"{url}{path}", body,
                                    {"Content-Type": content_type, "Origin": origin})
    assert status == 403
    assert answer["success"] is False and "origin" in answer["error"]
    assert fake_openai.requests == []


@pytest.mark.parametrize("shape", list(BROWSER_SHAPES))
async def test_only_json_is_accepted_even_from_an_allowed_origin_or_no_browser(
        fake_openai, shape: str) -> None:
    path, content_type, body = BROWSER_SHAPES[shape]
    async with relay_over(fake_openai, cors_origins=[OURS]) as url:
        listed = await send(f"{url}{path}", body, {"Content-Type": content_type, "Origin": OURS})
        no_origin = await send(f"{url}{path}", body, {"Content-Type": content_type})
    for status, answer in (listed, no_origin):
        assert status == 415
        assert answer["success"] is False and "application/json" in answer["error"]
    assert fake_openai.requests == []


async def test_json_from_an_allowed_origin_or_from_no_browser_is_served(fake_openai) -> None:
    fake_openai.script(Reply(text="one"), Reply(text="two"))
    body = json.dumps({"message": "hi"})
    async with relay_over(fake_openai, cors_origins=[OURS]) as url:
        listed = await send(f"{url}/api/chat", body,
                            {"Content-Type": "application/json", "Origin": OURS})
        plain = await send(f"{url}/api/chat", body,
                           {"Content-Type": "application/json; charset=utf-8"})
    assert [listed[0], plain[0]] == [200, 200]
    assert len(fake_openai.chat_requests) == 2


# -- item 20: the model's text reaches web clients as the model sent it -------------------------

HOSTILE = "a\x1b[31mred\x1b[0m\x07 b\r\nc \u202egnp.exe\u202c \x9b2J"


async def test_control_characters_are_relayed_verbatim_and_json_escaped(fake_openai) -> None:
    fake_openai.script(Reply(chunks=[HOSTILE[:5], HOSTILE[5:]]), Reply(text=HOSTILE))
    async with relay_over(fake_openai) as url, aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/chat/stream", json={"message": "hi"}) as response:
            raw = await response.read()
        async with session.post(f"{url}/api/chat", json={"message": "hi"}) as response:
            twin = await response.json()
    streamed = "".join(event.get("content", "") for event in data_events(raw))
    assert streamed == HOSTILE
    assert twin["data"]["content"] == HOSTILE
    # JSON escapes the C0 controls, so the event stream itself carries no raw ESC, BEL or CR.
    assert b"\x1b" not in raw and b"\x07" not in raw and b"\r" not in raw
    assert b"\\u001b" in raw


async def test_the_relay_client_passes_the_text_on_verbatim(fake_openai) -> None:
    fake_openai.script(Reply(chunks=[HOSTILE]))
    async with relay_over(fake_openai) as url:
        events = await collect(RelayProvider(url))
    assert "".join(e.text for e in events if isinstance(e, Delta)) == HOSTILE


# -- item 21: remote clients get a category; the operator's log gets the details -----------------

@pytest.mark.parametrize(("reply", "category", "detail"), [
    (Reply.error(401), "upstream rejected the API key (401)", "{host}"),
    (Reply.error(500), "upstream error (500)", "{host}"),
    (Reply.error(429), "upstream rate limit reached (429)", "Rate limit reached for requests"),
    (Reply.error(404), "upstream does not know the model (404)", "relay-model"),
])
async def test_error_events_say_a_category_and_the_log_says_the_rest(
        fake_openai, caplog: pytest.LogCaptureFixture, reply: Reply, category: str,
        detail: str) -> None:
    caplog.set_level(logging.INFO, logger="tui_chat.relay.server")
    fake_openai.script(reply, reply)
    host = fake_openai.url.split("//")[1].split("/")[0]
    async with relay_over(fake_openai) as url, aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/chat/stream", json={"message": "hi"}) as response:
            [event] = data_events(await response.read())
        async with session.post(f"{url}/api/chat", json={"message": "hi"}) as response:
            twin_status, twin = response.status, await response.json()
    assert event["error"] == category and event["status"] == int(category[-4:-1])
    assert twin_status == 502 and twin["error"] == category
    assert detail.format(host=host) in caplog.text  # the operator learns what failed
    for secret in (host, "OPENAI_API_KEY", "api_key_env", KEY):
        assert secret not in json.dumps(event) + json.dumps(twin)
    assert KEY not in caplog.text


async def test_an_unreachable_upstream_is_upstream_unavailable(caplog) -> None:
    caplog.set_level(logging.INFO, logger="tui_chat.relay.server")
    settings = relay_settings("http://127.0.0.1:9/v1")
    app = make_relay_app(settings, make_provider(settings))
    async with serving(app) as url, aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/chat/stream", json={"message": "hi"}) as response:
            [event] = data_events(await response.read())
    assert event == {"error": "upstream unavailable"}
    assert "127.0.0.1:9" in caplog.text


# -- item 22: a body over the limit is 413 -------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream"])
async def test_a_body_over_the_limit_is_413(fake_openai, path: str) -> None:
    big = json.dumps({"message": "x" * 5000})

    async def chunked() -> AsyncIterator[bytes]:
        yield big.encode()  # no Content-Length: the limit is found while reading

    async with relay_over(fake_openai, max_body=4000) as url:
        declared = await send(f"{url}{path}", big, {"Content-Type": "application/json"})
        streamed = await send(f"{url}{path}", chunked(), {"Content-Type": "application/json"})
    for status, answer in (declared, streamed):
        assert status == 413
        assert answer == {"success": False,
                          "error": "The request body is larger than 4,000 bytes."}
    assert fake_openai.requests == []


# -- item 23: `done` always carries a usage object ----------------------------------------------

async def test_done_carries_estimated_usage_when_the_upstream_gives_none() -> None:
    upstream = ScriptedProvider([Delta("four words of answer"), Finished("stop")])
    app = make_relay_app(relay_settings("http://127.0.0.1:9/v1"), upstream)
    async with serving(app) as url, aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/chat/stream", json={"message": "hi"}) as response:
            done = data_events(await response.read())[-1]
        async with session.post(f"{url}/api/chat", json={"message": "hi"}) as response:
            twin = (await response.json())["data"]
    for usage in (done["usage"], twin["usage"]):
        assert usage["estimated"] is True
        assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_all_zero_upstream_usage_is_estimated_too(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["some ", "answer"], usage=(0, 0)))
    async with relay_over(fake_openai) as url, aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/chat/stream", json={"message": "hi"}) as response:
            done = data_events(await response.read())[-1]
    assert done["done"] is True and done["usage"]["estimated"] is True
    assert done["usage"]["total_tokens"] > 0


# -- item 24: the relay client against the blog's Express server ---------------------------------

class BlogServer:
    """What the blog's Express server on the Node SDK sends: the SDK's error message as it is
    (no colon after the status) and zero usage always."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.requests = 0

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in self.events:
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
        await response.write_eof()
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/chat/stream", self.stream)
        return app


ZERO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


async def collect(provider: RelayProvider) -> list[StreamEvent]:
    try:
        async with asyncio.timeout(10), aclosing(provider.stream(
                [Message("user", "hi")], RequestParams("m"))) as stream:
            return [event async for event in stream]
    finally:
        await provider.aclose()


@pytest.mark.parametrize("message", [
    "401 Incorrect API key provided: sk-...abcd. You can find your API key at ...",
    "Error code: 401 - {'error': {'message': 'Incorrect API key provided'}}",
    "Request failed with status code 401",
    "upstream rejected the API key (401)",
])
async def test_a_rejected_key_in_any_form_is_auth_failed_and_not_retried(message: str) -> None:
    blog = BlogServer([{"error": message}])
    async with serving(blog.app()) as url:
        provider = RelayProvider(url)
        exchange = Exchange(provider, [Message("user", "hi")], RequestParams("m"),
                            retry=RetryPolicy(retries=3, max_delay=0.01))
        with pytest.raises(AuthFailed):
            async with asyncio.timeout(10), aclosing(exchange.display_text()) as texts:
                async for _ in texts:
                    pass
        await provider.aclose()
    assert blog.requests == 1


async def test_zero_usage_is_unknown_so_the_answer_is_estimated() -> None:
    blog = BlogServer([{"content": "a few words here"}, {"done": True, "usage": ZERO_USAGE}])
    async with serving(blog.app()) as url:
        events = await collect(RelayProvider(url))
    assert not any(isinstance(event, Usage) for event in events)
    assert events[-1] == Finished("stop")


async def test_real_usage_from_the_relay_is_kept() -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    blog = BlogServer([{"content": "x"}, {"done": True, "usage": usage}])
    async with serving(blog.app()) as url:
        events = await collect(RelayProvider(url))
    assert Usage(9, 4) in events
