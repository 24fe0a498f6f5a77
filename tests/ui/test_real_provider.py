"""The app with the real OpenAI-compatible provider, against the loopback streaming server."""

from __future__ import annotations

import asyncio

from tests.fake_openai import Reply
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.widgets.message_view import MessageView


def settings_for(fake, **flags):
    return load_settings(None, {"OPENAI_API_KEY": "sk-test-not-real"}, base_url=fake.url,
                         model="fake-model", **flags)


async def settle(app, pilot) -> None:
    async with asyncio.timeout(10):
        await app.workers.wait_for_complete()
    await pilot.pause()


async def test_streams_through_the_openai_sdk_with_usage(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["Hel", "lo ", "wor", "ld"], usage=(7, 4)))
    app = make_app(settings_for(fake_openai))
    async with app.run_test() as pilot:
        await pilot.press(*"hi", "enter")
        await settle(app, pilot)
        answer = app.screen.query(MessageView).last()
        assert answer.text == "Hello world"
        assert "4 tokens" in answer._footer_text()
    request = fake_openai.chat_requests[0]
    assert request.body["stream"] is True
    assert request.authorization == "Bearer sk-test-not-real"
    assert [m["role"] for m in request.messages] == ["system", "user"]


async def test_no_stream_mode_sends_one_plain_request(fake_openai) -> None:
    fake_openai.script(Reply(text="All at once."))
    app = make_app(settings_for(fake_openai, stream=False))
    async with app.run_test() as pilot:
        await pilot.press(*"hi", "enter")
        await settle(app, pilot)
        assert app.screen.query(MessageView).last().text == "All at once."
    assert fake_openai.chat_requests[0].body.get("stream") in (False, None)


async def test_escape_closes_the_connection_at_once_and_keeps_the_text(fake_openai) -> None:
    fake_openai.script(Reply(chunks=[f"w{i} " for i in range(400)], chunks_per_second=40))
    app = make_app(settings_for(fake_openai))
    async with app.run_test() as pilot:
        await pilot.press(*"hi", "enter")
        request = await asyncio.wait_for(fake_openai.wait_for_requests(1), 5)
        async with asyncio.timeout(5):
            while len(request.chunks) < 5:
                await asyncio.sleep(0.02)
        await pilot.press("escape")
        async with asyncio.timeout(2):  # the server sees the connection end promptly
            await request.wait_disconnected()
        await settle(app, pilot)
        answer = app.screen.query(MessageView).last()
        assert answer.status == "cancelled"
        assert answer.text.startswith("w0 w1 w2 ")
        assert len(request.chunks) < 400
