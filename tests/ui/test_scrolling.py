"""Scrolling the transcript from the keyboard, whatever has focus; Tab walks the messages."""

from __future__ import annotations

import asyncio

from tests.ui.test_chat_screen import SETTINGS, settle, views
from tui_chat.app import make_app
from tui_chat.models import Delta, Finished
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.widgets.prompt_input import PromptInput
from tui_chat.widgets.transcript import Transcript

LONG = "\n\n".join(f"paragraph {n}" for n in range(120))


def long_answer_app(answer: str = LONG):
    return make_app(SETTINGS, ScriptedProvider([Delta(answer), Finished("stop")]))


async def until(pilot, condition) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await pilot.pause(0.02)


async def test_page_and_line_keys_scroll_the_transcript_while_the_input_has_focus() -> None:
    app = long_answer_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"long please", "enter")
        await settle(app, pilot)
        transcript = app.screen.query_one(Transcript)
        prompt = app.screen.query_one(PromptInput)
        await until(pilot, lambda: transcript.max_scroll_y > 50
                    and transcript.scroll_y == transcript.max_scroll_y)
        bottom = transcript.scroll_y
        await pilot.press(*"draft")
        await pilot.press("pageup")
        await until(pilot, lambda: transcript.scroll_y < bottom - 5)
        assert app.focused is prompt and prompt.text == "draft"
        assert prompt.cursor_location == (0, 5)  # the input's cursor did not move
        assert transcript.detached
        paged = transcript.scroll_y
        await pilot.press("shift+up")
        await until(pilot, lambda: transcript.scroll_y == paged - 3)
        await pilot.press("ctrl+down")
        await until(pilot, lambda: transcript.scroll_y == paged)
        await pilot.press("pagedown", "pagedown")
        await until(pilot, lambda: transcript.scroll_y == bottom)
        assert app.focused is prompt


async def test_end_follows_the_answer_from_an_empty_input_and_moves_the_cursor_otherwise() -> None:
    app = long_answer_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"long please", "enter")
        await settle(app, pilot)
        transcript = app.screen.query_one(Transcript)
        prompt = app.screen.query_one(PromptInput)
        await pilot.press("pageup", "pageup")
        await until(pilot, lambda: transcript.detached)
        await pilot.press(*"abc", "home", "end")  # text in the input: End is the input's
        await pilot.pause()
        assert prompt.cursor_location == (0, 3)
        assert transcript.detached
        prompt.clear()
        await pilot.press("end")  # empty input: End re-attaches
        await until(pilot, lambda: not transcript.detached)
        assert transcript.scroll_y == transcript.max_scroll_y


async def test_end_follows_when_the_transcript_has_focus() -> None:
    app = long_answer_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"long please", "enter")
        await settle(app, pilot)
        transcript = app.screen.query_one(Transcript)
        await pilot.press("pageup")
        await until(pilot, lambda: transcript.detached)
        transcript.focus()
        await pilot.press("end")
        await until(pilot, lambda: not transcript.detached)


async def test_tab_starts_at_the_newest_message_and_walks_back() -> None:
    app = long_answer_app("an answer")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"one", "enter")
        await settle(app, pilot)
        await pilot.press(*"two", "enter")
        await settle(app, pilot)
        messages = views(app)
        assert [v.text for v in messages] == ["one", "an answer", "two", "an answer"]
        await pilot.press("tab")
        assert app.focused is messages[3]
        await pilot.press("tab")
        assert app.focused is messages[2]
        await pilot.press("shift+tab", "shift+tab")
        assert isinstance(app.focused, PromptInput)
        await pilot.press("shift+tab")
        assert app.focused is messages[0]  # the other way round, from the oldest


async def test_f1_says_how_to_scroll_and_which_keys_start_a_new_line() -> None:
    app = long_answer_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        tips = str(app.screen.query_one("#help-tips").render())
        keys = str(app.screen.query_one("#help-keys").render())
        assert "PgUp/PgDn" in tips and "Shift+Up/Down" in tips and "End" in tips
        assert "Ctrl+J everywhere" in tips and "Alt+Enter" in tips
        assert "chat.page_up" in keys and "chat.scroll_up" in keys
