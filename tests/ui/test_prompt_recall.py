"""Up and Down in an empty input walk the prompts sent before, across runs of the app."""

from __future__ import annotations

from pathlib import Path

from tests.ui.test_chat_screen import SETTINGS, settle
from tui_chat.app import make_app
from tui_chat.models import Delta, Finished
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.store import ConversationStore
from tui_chat.widgets.prompt_input import PromptInput


def answering():
    return ScriptedProvider([Delta("ok"), Finished("stop")])


async def send(app, pilot, text: str) -> None:
    await pilot.press(*text, "enter")
    await settle(app, pilot)


async def test_up_recalls_this_conversations_prompts_then_earlier_runs(tmp_path: Path) -> None:
    db = tmp_path / "chats.db"
    with ConversationStore(db) as store:
        app = make_app(SETTINGS, answering(), store=store)
        async with app.run_test() as pilot:
            await send(app, pilot, "old one")
            await send(app, pilot, "old two")
    with ConversationStore(db) as store:  # a second run of the app, a new conversation
        app = make_app(SETTINGS, answering(), store=store)
        async with app.run_test() as pilot:
            prompt = app.screen.query_one(PromptInput)
            await send(app, pilot, "fresh")
            await pilot.press("up")
            assert prompt.text == "fresh"  # this conversation first
            assert prompt.cursor_location == prompt.document.end
            await pilot.press("up")
            assert prompt.text == "old two"  # then the earlier run's, newest first
            await pilot.press("up")
            assert prompt.text == "old one"
            await pilot.press("up")
            assert prompt.text == "old one"  # the oldest stays
            await pilot.press("down", "down")
            assert prompt.text == "fresh"
            await pilot.press("down")
            assert prompt.text == ""  # back to the empty input
            await pilot.press("up", "up", "enter")
            await settle(app, pilot)
            assert store.messages(store.latest_conversation_id())[-2].content == "old two"


async def test_up_moves_the_cursor_once_the_input_has_text_of_its_own() -> None:
    app = make_app(SETTINGS, answering())
    async with app.run_test() as pilot:
        prompt = app.screen.query_one(PromptInput)
        await send(app, pilot, "sent before")
        await pilot.press(*"a", "ctrl+j", *"b", "up")
        assert prompt.text == "a\nb" and prompt.cursor_location == (0, 1)
        prompt.clear()
        await pilot.press("up")
        assert prompt.text == "sent before"
        await pilot.press("x", "up")  # edited: no longer recall
        assert prompt.text == "sent beforex"
        assert prompt.cursor_location[0] == 0


async def test_recall_with_no_store_uses_this_conversation_and_nothing_is_sent() -> None:
    provider = answering()
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        prompt = app.screen.query_one(PromptInput)
        await pilot.press("up", "down")
        assert prompt.text == ""
        await send(app, pilot, "one")
        await send(app, pilot, "two")
        await pilot.press("up", "up")
        assert prompt.text == "one"
        assert len(provider.requests) == 2
