"""`tui-chat web` over plain HTTP and WebSocket (no browser): who gets in, what a tab can send,
and that no app process outlives its server."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.browser.harness import FAKE_KEY, WebServerProcess, all_gone, wait_until
from tests.fake_openai import FakeOpenAI, Reply, RunningFakeOpenAI
from tui_chat.web.server import SERVER_STOPPED, clean_input


@pytest.fixture
def fake() -> Iterator[RunningFakeOpenAI]:
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
        yield running


@pytest.fixture
def server(fake: RunningFakeOpenAI, tmp_path: Path) -> Iterator[WebServerProcess]:
    with WebServerProcess(fake.url, tmp_path) as running:
        yield running


def cookie(server: WebServerProcess, token: str | None = None) -> dict[str, str]:
    return {"Cookie": f"{server.cookie_name}={token or server.token}"}


async def get(url: str, **headers: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(
            url, headers=headers, allow_redirects=False) as response:
        return response.status, dict(response.headers), await response.text()


async def open_tab(session: aiohttp.ClientSession, server: WebServerProcess,
                   ) -> aiohttp.ClientWebSocketResponse:
    """What the page does: a WebSocket from its own origin with the cookie; wait for output."""
    ws = await session.ws_connect(f"ws://{server.host}/ws?width=80&height=24",
                                  origin=server.origin, headers=cookie(server))
    async with asyncio.timeout(20):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.BINARY, message
            if b"Ask anything" in message.data:
                await ws.send_str('["focus"]')  # as the page does once its terminal has focus
                return ws


async def send_keys(ws: aiohttp.ClientWebSocketResponse, text: str) -> None:
    await ws.send_str(json.dumps(["stdin", text]))


async def test_the_page_opens_only_with_the_token_then_from_its_cookie(
        server: WebServerProcess) -> None:
    for headers in ({}, cookie(server, "wrong-token")):
        status, _, body = await get(f"{server.origin}/", **headers)
        assert status == 403
        assert "printed" in body
    status, _, _ = await get(f"{server.origin}/?token=wrong-token")
    assert status == 403

    status, headers, _ = await get(server.url)
    assert status == 303
    assert headers["Location"] == "/"  # the token leaves the address bar
    set_cookie = headers["Set-Cookie"]
    assert f"{server.cookie_name}={server.token}" in set_cookie
    assert "HttpOnly" in set_cookie
    assert "SameSite=Strict" in set_cookie

    status, headers, page = await get(f"{server.origin}/", **cookie(server))
    assert status == 200
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    # Nothing on the page points anywhere but this server.
    for url in re.findall(r"(?:https?|wss?)://[^\s\"'<>)]+", page):
        assert url.split("/")[2] == server.host, url
    assert "googleapis" not in page
    assert server.app_pids() == set()  # a page load starts no app


async def test_a_foreign_host_or_origin_is_refused_even_with_the_cookie(
        server: WebServerProcess) -> None:
    # DNS rebinding: a foreign name that resolves to 127.0.0.1 arrives with its own Host.
    status, _, _ = await get(f"{server.origin}/", Host=f"attacker.example:{server.port}",
                             **cookie(server))
    assert status == 403
    status, _, _ = await get(f"{server.origin}/", Origin="http://127.0.0.2:5174",
                             **cookie(server))
    assert status == 403
    status, _, _ = await get(f"{server.origin}/static/js/textual.js")
    assert status == 403  # everything but the icon needs the token


async def test_a_websocket_from_another_origin_or_without_the_token_starts_nothing(
        server: WebServerProcess, fake: RunningFakeOpenAI) -> None:
    attempts = [
        {"origin": "http://127.0.0.2:5174", "headers": cookie(server)},
        {"origin": f"http://127.0.0.1:{server.port + 1}", "headers": cookie(server)},
        {"origin": None, "headers": cookie(server)},
        {"origin": server.origin, "headers": {}},
        {"origin": server.origin, "headers": {**cookie(server), "Host": f"evil:{server.port}"}},
    ]
    async with aiohttp.ClientSession() as session:
        for attempt in attempts:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"ws://{server.host}/ws", **attempt)
            assert refused.value.status == 403, attempt
    assert server.app_pids() == set()
    assert fake.fake.requests == []


async def test_the_favicon_is_served(server: WebServerProcess) -> None:
    async with aiohttp.ClientSession() as session, session.get(
            f"{server.origin}/favicon.ico") as response:
        assert response.status == 200
        assert response.content_type == "image/x-icon"
        assert (await response.read())[:4] == b"\x00\x00\x01\x00"


def test_lone_surrogates_become_replacement_characters() -> None:
    assert clean_input("a\ud800b\udfffc") == "a\ufffdb\ufffdc"
    assert clean_input("emoji 😀") == "emoji 😀"


async def test_a_lone_surrogate_or_garbage_from_the_browser_does_not_end_the_session(
        server: WebServerProcess, fake: RunningFakeOpenAI) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await open_tab(session, server)
        # The page's JSON.stringify writes a lone surrogate as an escape, as here.
        await ws.send_str('["stdin", "\\ud800"]')
        await ws.send_str('["stdin", "x\\udc00y"]')
        for garbage in ("not json", "{}", "[]", '["stdin", 5]', '["resize", {"width": "x"}]',
                        '["resize", {"width": 1e400, "height": -3}]', '["resize", null]',
                        '["nonsense"]', '["ping"]'):
            await ws.send_str(garbage)
        await send_keys(ws, "still here\r")
        request = await asyncio.to_thread(
            wait_until, lambda: fake.fake.chat_requests[-1:], 20, 0.05, "the prompt upstream")
        assert not ws.closed
        await ws.close()
    content = request[0].messages[-1]["content"]
    assert "still here" in str(content)
    assert request[0].api_key == FAKE_KEY


async def test_sigterm_tells_every_tab_and_ends_every_app(
        server: WebServerProcess, fake: RunningFakeOpenAI) -> None:
    fake.fake.script(Reply(text="word " * 2000, chunks_per_second=20))
    async with aiohttp.ClientSession() as session:
        tabs = [await open_tab(session, server) for _ in range(2)]
        apps = server.app_pids()
        assert len(apps) == 2
        await send_keys(tabs[0], "go\r")
        request = (await asyncio.to_thread(
            wait_until, lambda: fake.fake.chat_requests[-1:], 20, 0.05, "a request"))[0]
        server.signal(signal.SIGTERM)
        for ws in tabs:
            async with asyncio.timeout(15):
                while (message := await ws.receive()).type != aiohttp.WSMsgType.CLOSE:
                    pass
            assert message.data == SERVER_STOPPED
    assert await asyncio.to_thread(server.process.wait, 15) == 0
    await asyncio.to_thread(wait_until, lambda: all_gone(apps), 10, 0.05, "apps to end")
    assert await asyncio.to_thread(request.wait_disconnected_blocking, 10)


async def test_sigkill_of_the_server_ends_its_apps_and_their_requests(
        server: WebServerProcess, fake: RunningFakeOpenAI) -> None:
    fake.fake.script(Reply(text="word " * 2000, chunks_per_second=20))
    async with aiohttp.ClientSession() as session:
        ws = await open_tab(session, server)
        apps = server.app_pids()
        assert apps
        await send_keys(ws, "go\r")
        request = (await asyncio.to_thread(
            wait_until, lambda: fake.fake.chat_requests[-1:], 20, 0.05, "a request"))[0]
        server.signal(signal.SIGKILL)
        await asyncio.to_thread(wait_until, lambda: all_gone(apps), 10, 0.05, "orphans to end")
        assert await asyncio.to_thread(request.wait_disconnected_blocking, 10)
        await ws.close()
