"""`tui-chat serve`'s app on 127.0.0.1 over the loopback OpenAI server, seen by a real client."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.config import load_settings
from tui_chat.models import Delta, Finished
from tui_chat.providers import make_provider
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.relay.server import make_relay_app

KEY = "sk-test-SERVERKEY-9f8e7d6c5b4a"


@asynccontextmanager
async def running_relay(fake: FakeOpenAI, **options: Any) -> AsyncIterator[str]:
    settings = load_settings(None, {"OPENAI_API_KEY": KEY}, base_url=fake.url,
                             model="relay-model", system="Answer briefly.", temperature=0.3,
                             max_tokens=77, retries=0)
    runner = web.AppRunner(make_relay_app(settings, make_provider(settings), **options))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def post(url: str, payload: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **headers}
    async with asyncio.timeout(10), aiohttp.ClientSession() as session, \
            session.post(url, data=data, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


def data_events(body: bytes) -> list[dict[str, Any]]:
    lines = body.decode("utf-8").split("\n")
    return [json.loads(line.removeprefix("data:")) for line in lines if line.startswith("data:")]


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


async def test_stream_sends_the_text_as_it_comes_then_done_with_usage(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["東京は", "晴れ", " ☀"], usage=(11, 4)))
    async with running_relay(fake_openai) as url:
        status, headers, body = await post(f"{url}/api/chat/stream", {"message": "天気は？"})
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    # UTF-8 on the wire, not \u escapes, and every event is one `data:` line and a blank line.
    assert "東京は".encode() in body and b"\\u" not in body
    assert body.endswith(b"\n\n")
    assert all(block.startswith(b"data: ") for block in body.split(b"\n\n") if block)
    assert joined(data_events(body)) == [
        {"content": "東京は晴れ ☀"},
        {"done": True, "usage": {"prompt_tokens": 11, "completion_tokens": 4,
                                 "total_tokens": 15}, "model": "relay-model"},
    ]


async def test_content_events_are_json_as_json_dumps_writes_it(fake_openai) -> None:
    # The relay writes content events with a faster encoder than the rest: the bytes stay
    # those of `json.dumps(..., ensure_ascii=False)` (spaces after separators, UTF-8, escapes
    # for quotes, backslashes and control characters), which clients may have matched on.
    chunks = ['say "hi"', "back\\slash", "tab\tnew\nline", "bell\x07", "\u2028 ünï", "🙂"]
    fake_openai.script(Reply(chunks=chunks, chunks_per_second=0))
    async with running_relay(fake_openai) as url:
        status, _, body = await post(f"{url}/api/chat/stream", {"message": "go"})
    assert status == 200
    lines = [line for line in body.decode("utf-8").split("\n\n") if '"content"' in line]
    texts = [json.loads(line.removeprefix("data: "))["content"] for line in lines]
    assert "".join(texts) == "".join(chunks)
    assert lines == [f"data: {json.dumps({'content': text}, ensure_ascii=False)}"
                     for text in texts]


async def test_upstream_gets_the_settings_the_history_and_the_message(fake_openai) -> None:
    fake_openai.script(Reply(text="ok"), Reply(text="ok"))
    history = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}]
    async with running_relay(fake_openai) as url:
        await post(f"{url}/api/chat/stream", {"message": "three", "conversationHistory": history})
        await post(f"{url}/api/chat/stream", {
            "message": "again", "conversationHistory": [{"role": "system", "content": "Mine."}]})
    first, second = fake_openai.chat_requests
    assert (first.model, first.body["temperature"], first.body["max_tokens"]) == (
        "relay-model", 0.3, 77)
    assert first.body["stream"] is True
    assert [(m["role"], m["content"]) for m in first.messages] == [
        ("system", "Answer briefly."), ("user", "one"), ("assistant", "two"), ("user", "three")]
    # A client's own system prompt replaces the default instead of adding a second one.
    assert [(m["role"], m["content"]) for m in second.messages] == [
        ("system", "Mine."), ("user", "again")]
    assert first.api_key == KEY  # the key goes upstream, and only there


async def test_non_streaming_twin_and_health(fake_openai) -> None:
    fake_openai.script(Reply(text="整个答案", usage=(6, 3)))
    async with running_relay(fake_openai) as url:
        status, headers, body = await post(f"{url}/api/chat", {"message": "hi"})
        async with asyncio.timeout(10), aiohttp.ClientSession() as session, \
                session.get(f"{url}/api/health") as health:
            health_status = health.status
    assert (status, health_status) == (200, 200)
    assert headers["Content-Type"].startswith("application/json")
    assert "整个答案".encode() in body
    assert json.loads(body) == {"success": True, "data": {
        "content": "整个答案", "model": "relay-model",
        "usage": {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9}}}


@pytest.mark.parametrize(("path", "payload", "words"), [
    ("/api/chat/stream", b"{not json", "not valid JSON"),
    ("/api/chat/stream", b"\xff\xfe{}", "not valid JSON"),
    ("/api/chat/stream", ["message"], "must be a JSON object"),
    ("/api/chat/stream", {"conversationHistory": []}, "'message' must be a string"),
    ("/api/chat/stream", {"message": ""}, "must not be empty"),
    ("/api/chat/stream", {"message": " \n "}, "must not be empty"),
    ("/api/chat/stream", {"message": ["hi"]}, "'message' must be a string"),
    ("/api/chat/stream", {"message": "hi", "conversationHistory": "earlier"}, "must be a list"),
    ("/api/chat/stream", {"message": "hi", "conversationHistory": [
        {"role": "user", "content": "a"}, {"role": "user", "content": 5}]}, "item 1"),
    ("/api/chat/stream", {"message": "hi", "conversationHistory": [
        {"role": "tool", "content": "a"}]}, "item 0"),
    ("/api/chat/stream", {"message": "hi", "conversationHistory": ["a"]}, "item 0"),
    ("/api/chat", {"message": None}, "'message' must be a string"),
])
async def test_bad_requests_get_400_and_nothing_reaches_upstream(fake_openai, path, payload,
                                                                 words) -> None:
    async with running_relay(fake_openai, max_body=4000) as url:
        status, headers, body = await post(f"{url}{path}", payload)
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["success"] is False and words in answer["error"]
    assert answer["error"].endswith(".") and "\n" not in answer["error"]
    assert fake_openai.requests == []


async def test_the_default_limit_is_one_megabyte_and_big_or_chunked_bodies_are_read_whole(
        fake_openai) -> None:
    fake_openai.script(Reply(text="ok"), Reply(text="ok"))
    # ~600 KB arrives in many reads: the whole body must be parsed, not the first read.
    history = [{"role": "user", "content": "z" * 1000} for _ in range(600)]

    async def chunked() -> AsyncIterator[bytes]:
        yield b'{"message": "in '
        await asyncio.sleep(0.05)
        yield b'two parts"}'

    async with running_relay(fake_openai) as url:
        big, _, big_body = await post(f"{url}/api/chat/stream",
                                      {"message": "hi", "conversationHistory": history})
        async with asyncio.timeout(10), aiohttp.ClientSession() as session, \
                session.post(f"{url}/api/chat/stream", data=chunked(),
                             headers={"Content-Type": "application/json"}) as response:
            split = response.status
            await response.read()
        too_big, _, _ = await post(f"{url}/api/chat/stream", {"message": "m" * 1_000_001})
    assert (big, split, too_big) == (200, 200, 413)
    assert data_events(big_body)[-1]["done"] is True
    assert len(fake_openai.chat_requests[0].messages) == 602
    assert fake_openai.chat_requests[1].messages[-1]["content"] == "in two parts"
    assert len(fake_openai.chat_requests) == 2


async def test_heartbeat_comments_while_the_upstream_is_silent(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["before", " after"], stall_after=1, stall_seconds=0.6))
    async with running_relay(fake_openai, heartbeat=0.1) as url:
        _, _, body = await post(f"{url}/api/chat/stream", {"message": "hi"})
    blocks = [block for block in body.decode().split("\n\n") if block]
    first, second = blocks.index('data: {"content": "before"}'), blocks.index(
        'data: {"content": " after"}')
    # Comment lines come during the pause, between the two chunks, and nowhere else.
    assert blocks[first + 1:second] and set(blocks[first + 1:second]) == {": heartbeat"}
    assert ": heartbeat" not in blocks[:first]
    assert data_events(body)[-1]["done"] is True


async def test_the_bearer_token_is_checked_on_every_request(fake_openai) -> None:
    fake_openai.script(Reply(text="a"), Reply(text="b"))
    good = {"Authorization": "Bearer s3cret-token"}
    async with running_relay(fake_openai, token="s3cret-token") as url, \
            aiohttp.ClientSession() as session:
        async def status_of(method: str, path: str, headers: dict[str, str]) -> int:
            async with asyncio.timeout(10), session.request(
                    method, f"{url}{path}", json={"message": "hi"}, headers=headers) as r:
                if r.status == 401:
                    assert await r.json() == {"success": False,
                                              "error": "A valid bearer token is required."}
                return r.status

        refused = [await status_of(method, path, headers)
                   for method, path in (("POST", "/api/chat/stream"), ("POST", "/api/chat"),
                                        ("GET", "/api/health"))
                   for headers in ({}, {"Authorization": "Bearer s3cret-toke"},
                                   {"Authorization": "Bearer s3cret-token2"},
                                   {"Authorization": "s3cret-token"})]
        allowed = [await status_of("POST", "/api/chat/stream", good),
                   await status_of("POST", "/api/chat", good),
                   await status_of("GET", "/api/health", good)]
    assert refused == [401] * 12
    assert allowed == [200, 200, 200]
    assert len(fake_openai.chat_requests) == 2


async def test_cors_is_off_by_default_and_on_only_for_listed_origins(fake_openai) -> None:
    fake_openai.script(Reply(text="a"), Reply(text="b"))
    origin = {"Origin": "http://chat.example.test"}
    async with running_relay(fake_openai) as url:
        _, default_headers, _ = await post(f"{url}/api/chat/stream", {"message": "hi"}, **origin)
    async with running_relay(fake_openai, cors_origins=["http://chat.example.test"],
                             token="t") as url, aiohttp.ClientSession() as session:
        # A browser's preflight carries no token; it must still learn what is allowed.
        async with session.options(f"{url}/api/chat/stream", headers={
                **origin, "Access-Control-Request-Method": "POST"}) as preflight:
            preflight_status, preflight_headers = preflight.status, preflight.headers
        _, allowed_headers, _ = await post(f"{url}/api/chat/stream", {"message": "hi"},
                                           Authorization="Bearer t", **origin)
        _, other_headers, _ = await post(f"{url}/api/chat/stream", {"message": "hi"},
                                         Authorization="Bearer t",
                                         Origin="http://evil.example.test")
    assert "Access-Control-Allow-Origin" not in default_headers
    assert preflight_status == 204
    assert preflight_headers["Access-Control-Allow-Origin"] == "http://chat.example.test"
    assert "Authorization" in preflight_headers["Access-Control-Allow-Headers"]
    assert allowed_headers["Access-Control-Allow-Origin"] == "http://chat.example.test"
    assert "Access-Control-Allow-Origin" not in other_headers


@pytest.mark.parametrize("reply", [
    Reply(chunks=[f"w{i} " for i in range(400)], chunks_per_second=40),
    Reply(chunks=["first", "never"], stall_after=1, stall_seconds=30),
], ids=["while-streaming", "while-upstream-is-silent"])
async def test_a_client_disconnect_closes_the_upstream_request(fake_openai, reply) -> None:
    fake_openai.script(reply)
    async with running_relay(fake_openai) as url:
        async with asyncio.timeout(10), aiohttp.ClientSession() as session, \
                session.post(f"{url}/api/chat/stream", json={"message": "hi"}) as response:
            assert (await response.content.readline()).startswith(b"data: {\"content\"")
        upstream = fake_openai.chat_requests[0]
        async with asyncio.timeout(5):
            await upstream.wait_disconnected()
    assert upstream.outcome == "disconnected"
    assert len(upstream.chunks) < len(reply.chunks or ())


@pytest.mark.parametrize(("reply", "words"), [
    (Reply.error(401), "401"),
    (Reply.error(500), "500"),
    (Reply.error(429), "429"),
])
async def test_upstream_failures_become_one_error_event_and_never_show_the_key(
        fake_openai, caplog, reply, words) -> None:
    caplog.set_level(logging.DEBUG)
    fake_openai.script(reply, reply)
    async with running_relay(fake_openai) as url:
        status, _, body = await post(f"{url}/api/chat/stream", {"message": "hi"})
        twin_status, _, twin_body = await post(f"{url}/api/chat", {"message": "hi"})
    events = data_events(body)
    assert status == 200 and len(events) == 1 and set(events[0]) == {"error", "status"}
    assert events[0]["status"] == int(words)
    assert words in events[0]["error"] and "\n" not in events[0]["error"]
    assert twin_status == 502
    assert json.loads(twin_body)["success"] is False and words in json.loads(twin_body)["error"]
    assert KEY not in (body + twin_body).decode()
    assert KEY not in caplog.text


async def test_an_upstream_cut_mid_answer_ends_with_an_error_event(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["part", "ial", "lost"], cut_after=2))
    async with running_relay(fake_openai) as url:
        _, _, body = await post(f"{url}/api/chat/stream", {"message": "hi"})
    events = data_events(body)
    assert joined(events)[:1] == [{"content": "partial"}]
    assert list(events[-1]) == ["error"] and len(joined(events)) == 2


async def test_reasoning_is_its_own_event_and_content_alone_is_still_the_answer(
        fake_openai) -> None:
    fake_openai.script(Reply(reasoning=["Kurz ", "nachdenken."], chunks=["Ja", "."],
                             usage=(4, 6), chunks_per_second=200))
    async with running_relay(fake_openai) as url:
        status, _, body = await post(f"{url}/api/chat/stream", {"message": "Geht das?"})
    events = data_events(body)
    assert status == 200
    # Thinking first, in `reasoning` events that carry no `content` key ...
    reasoning = [e for e in events if "reasoning" in e]
    assert "".join(e["reasoning"] for e in reasoning) == "Kurz nachdenken."
    assert all(set(e) == {"reasoning"} for e in reasoning)
    assert events.index(reasoning[-1]) < min(i for i, e in enumerate(events) if "content" in e)
    # ... so a client that reads only `content` gets exactly the answer, as before.
    assert "".join(e["content"] for e in events if "content" in e) == "Ja."
    assert events[-1]["done"] is True


async def test_the_non_streaming_twin_returns_reasoning_beside_the_content(fake_openai) -> None:
    fake_openai.script(Reply(reasoning="Kurz nachdenken.", text="Ja.", usage=(4, 6)))
    async with running_relay(fake_openai) as url:
        status, _, body = await post(f"{url}/api/chat", {"message": "Geht das?"})
    assert status == 200
    data = json.loads(body)["data"]
    assert (data["content"], data["reasoning"]) == ("Ja.", "Kurz nachdenken.")


class CountingProvider(ScriptedProvider):
    """Scripted events, counting how many the relay has taken."""

    taken = 0

    async def stream(self, messages: Any, params: Any) -> AsyncIterator[Any]:
        async for event in super().stream(messages, params):
            self.taken += 1
            yield event


async def test_a_client_that_stops_reading_stops_the_upstream_read() -> None:
    # 400 events of 64 KiB: 25 MiB, more than the sockets between the relay and a client that
    # reads nothing can hold. The relay must not take the whole answer off the upstream and
    # keep it in memory for a client that may never read it.
    piece = "x" * 65536
    provider = CountingProvider([*(Delta(piece) for _ in range(400)), Finished("stop")])
    settings = load_settings(None, {"OPENAI_API_KEY": KEY}, model="relay-model", retries=0)
    runner = web.AppRunner(make_relay_app(settings, provider))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
        body = b'{"message": "hi"}'
        writer.write(b"POST /api/chat/stream HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        async with asyncio.timeout(10):
            while b'data: {"content"' not in await reader.readline():
                pass
        # Now the client reads nothing: wait until the relay stops taking events.
        seen, steady_since = -1, 0.0
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(10):
            while loop.time() - steady_since < 0.5:
                if provider.taken != seen:
                    seen, steady_since = provider.taken, loop.time()
                await asyncio.sleep(0.02)
        assert provider.taken < 200, f"the relay took {provider.taken} of 400 events"
        # The client reads again and gets every byte of the answer, then the end.
        rest = bytearray()
        async with asyncio.timeout(20):
            while not rest.endswith(b"\r\n0\r\n\r\n"):
                piece = await reader.read(2**20)
                assert piece, "the relay closed the connection before the end"
                rest += piece
        assert rest.count(b"x") >= 399 * 65536
        assert b'"done": true' in rest
        assert provider.taken == 401
        writer.close()
    finally:
        sock.close()
        await runner.cleanup()
