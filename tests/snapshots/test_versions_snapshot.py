"""SVG snapshot of an answer with versions: "‹ 2/3 ›" under it, focused, at 80x24."""

from __future__ import annotations

from pathlib import Path

from tests.waiting import until
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput

SETTINGS = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="snapshot-model",
                         system="")


def test_an_answer_with_versions_shows_the_switcher(snap_compare, tmp_path: Path) -> None:
    """A stored answer asked for three times, the second chosen: "‹ 2/3 ›" under it."""
    store = ConversationStore(tmp_path / "c.db", clock=lambda: 1_700_000_000.0)
    conversation = store.create_conversation(model="snapshot-model")
    store.add_message(conversation, "user", "Name a colour.")
    first = store.start_answer(conversation, model="snapshot-model")
    store.finish_answer(first, "Blue.", "done")
    second = store.start_answer(conversation, model="snapshot-model", replaces=first)
    store.finish_answer(second, "Green, the colour of **leaves**.", "done")
    third = store.start_answer(conversation, model="snapshot-model", replaces=second)
    store.finish_answer(third, "Red", "cancelled")
    store.set_current_version(second)
    app = make_app(SETTINGS, ScriptedProvider(), store=store, conversation_id=conversation,
                   clock=lambda: 1000.0)

    async def run_before(pilot) -> None:
        pilot.app.screen.query_one(PromptInput).cursor_blink = False
        await until(pilot, lambda: len(pilot.app.screen.query(MessageView)) >= 2,
                    what="the stored conversation shown")
        pilot.app.screen.query(MessageView).last().focus()
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    finally:
        store.close()
