"""SVG snapshots at 80x24: the "‹ 2/2 ›" switcher under an edited question (focused), and an
answer cut at max tokens offering Continue."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput

SETTINGS = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="snapshot-model",
                         system="")


def app_for(store: ConversationStore, conversation: int):  # type: ignore[no-untyped-def]
    return make_app(SETTINGS, ScriptedProvider(), store=store, conversation_id=conversation,
                    clock=lambda: 1000.0)


async def shown(pilot, views: int) -> None:  # type: ignore[no-untyped-def]
    pilot.app.screen.query_one(PromptInput).cursor_blink = False
    async with asyncio.timeout(10):
        while len(pilot.app.screen.query(MessageView)) < views:
            await pilot.pause(0.02)


def test_an_edited_question_shows_the_switcher(snap_compare, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db", clock=lambda: 1_700_000_000.0)
    conversation = store.create_conversation(model="snapshot-model")
    question = store.add_message(conversation, "user", "Name a colour.")
    first = store.start_answer(conversation, model="snapshot-model")
    store.finish_answer(first, "Blue.", "done")
    store.edit_message(question, "Name a warm colour.")
    second = store.start_answer(conversation, model="snapshot-model")
    store.finish_answer(second, "Orange, like **embers**.", "done")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await shown(pilot, 2)
        pilot.app.screen.query(MessageView).first().focus()
        await pilot.pause()

    try:
        assert snap_compare(app_for(store, conversation), terminal_size=(80, 24),
                            run_before=run_before)
    finally:
        store.close()


def test_an_answer_cut_at_max_tokens_offers_continue(snap_compare, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db", clock=lambda: 1_700_000_000.0)
    conversation = store.create_conversation(model="snapshot-model")
    store.add_message(conversation, "user", "List the planets.")
    answer = store.start_answer(conversation, model="snapshot-model")
    store.finish_answer(answer, "1. Mercury\n2. Venus\n3. Ea", "done", finish_reason="length")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await shown(pilot, 2)

    try:
        assert snap_compare(app_for(store, conversation), terminal_size=(80, 24),
                            run_before=run_before)
    finally:
        store.close()
