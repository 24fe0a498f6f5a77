"""New-line keys keep their place among keys that arrive in the same moment."""

from __future__ import annotations

import pytest
from textual import events

from tests.ui.test_chat_screen import SETTINGS
from tui_chat.app import make_app
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.widgets.prompt_input import PromptInput


def _key(key: str) -> events.Key:
    return events.Key(key, key if len(key) == 1 else None)


@pytest.mark.parametrize("newline", ["ctrl+j", "alt+enter", "shift+enter"])
async def test_a_new_line_lands_where_it_was_typed_among_keys_read_together(newline) -> None:
    # A driver hands the app every key of one read at once (a fast typist, a busy UI, the
    # browser sending a frame of keys): the new line must land between "ab" and "cd".
    app = make_app(SETTINGS, ScriptedProvider([]))
    async with app.run_test() as pilot:
        prompt = app.screen.query_one(PromptInput)
        prompt.focus()
        await pilot.pause()
        for key in ("a", "b", newline, "c", "d"):
            app.post_message(_key(key))
        await pilot.pause()
        await pilot.pause()
        assert prompt.text == "ab\ncd"
