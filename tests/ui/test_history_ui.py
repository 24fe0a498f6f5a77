"""The chat screen with a real SQLite store: saving, continuing, windowing, retry versions."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.models import Delta, Finished
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.screens.chat import ChatScreen
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView

SETTINGS = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m", system="")


async def settle(app, pilot) -> None:
    async with asyncio.timeout(5):
        await app.workers.wait_for_complete()
    await pilot.pause()


def fill(store: ConversationStore, turns: int) -> int:
    conversation = store.create_conversation(title="long one", model="m")
    for i in range(turns):
        store.add_message(conversation, "user", f"question {i}")
        answer = store.start_answer(conversation, model="m")
        store.finish_answer(answer, f"answer {i}\n\n```python\nx = {i}\n```", "done")
    return conversation


async def test_an_exchange_is_stored_with_its_status_and_retry_keeps_the_old_version(
        tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    provider = ScriptedProvider([Delta("first"), Finished("stop")])
    app = make_app(SETTINGS, provider, store=store)
    async with app.run_test() as pilot:
        await pilot.press(*"hello", "enter")
        await settle(app, pilot)
        provider.events = [Delta("second"), Finished("stop")]
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        conversation = app.screen.conversation_id
    rows = store.messages(conversation)
    assert [(r.role, r.content, r.status) for r in rows] == [
        ("user", "hello", "done"), ("assistant", "second", "done")]
    versions = store.answer_versions(rows[-1].id)
    assert [v.content for v in versions] == ["first", "second"]
    assert store.get_conversation(conversation).title == "hello"


async def test_a_cancelled_answer_is_stored_as_cancelled_with_its_text(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    provider = ScriptedProvider([Delta("partial"), Delta("never"), Finished("stop")],
                                stall_after=1)
    app = make_app(SETTINGS, provider, store=store)
    async with app.run_test() as pilot:
        await pilot.press(*"q", "enter")
        async with asyncio.timeout(5):
            while not app.screen.query(MessageView).last().text:
                await pilot.pause(0.02)
        await pilot.press("escape")
        await settle(app, pilot)
        conversation = app.screen.conversation_id
    answer = store.messages(conversation)[-1]
    assert (answer.content, answer.status) == ("partial", "cancelled")


async def test_a_long_conversation_opens_virtual_and_continues_with_all_of_it_as_context(
        tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    conversation = fill(store, 300)
    provider = ScriptedProvider([Delta("next"), Finished("stop")])
    app = make_app(SETTINGS, provider, store=store, conversation_id=conversation)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        async with asyncio.timeout(5):
            while screen.transcript.stored != 600:
                await pilot.pause(0.05)
        assert len(screen.query(MessageView)) < 60  # only what is near the end is mounted
        assert len(screen.history) == 600  # the context still knows the whole conversation
        await pilot.press(*"more", "enter")
        await settle(app, pilot)
        messages = provider.requests[-1][0]
        assert messages[-1].content == "more" and messages[-2].content.startswith("answer 299")
        assert [v.text for v in screen.query(MessageView)][-2:] == ["more", "next"]


async def test_opening_at_a_search_hit_mounts_and_shows_that_message(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    conversation = fill(store, 200)
    target = store.messages(conversation)[10]
    app = make_app(SETTINGS, ScriptedProvider(), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await screen.load_conversation(conversation, target.id)
        await pilot.pause()
        view = next(v for v in screen.query(MessageView) if v.message_id == target.id)
        assert view.text == "question 5"
        assert screen.transcript.scroll_y > 0  # not at the top of everything, at the message
