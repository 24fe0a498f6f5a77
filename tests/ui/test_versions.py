"""Versions of a retried answer: "‹ 2/3 ›" under it, keys and palette commands to flip, the
version shown is the one sent and exported, and an interrupted answer stays reachable.

The real app and provider against the loopback server, with a real SQLite file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.app import TuiChatApp, make_app
from tui_chat.config import load_settings
from tui_chat.providers import make_provider
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView

KEY = "sk-test-not-real"
WAIT = 10.0


def settings_for(url: str):
    return load_settings(None, {"OPENAI_API_KEY": KEY}, base_url=url, model="fake-model",
                         system="", retries=0)


async def until(pilot: Pilot[None], predicate) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():
            await pilot.pause(0.02)


async def settle(app: TuiChatApp, pilot: Pilot[None]) -> None:
    async with asyncio.timeout(WAIT):
        await app.workers.wait_for_complete()
    await until(pilot, lambda: app.screen.phase not in ("waiting", "streaming", "retrying"))


def last_answer(app: TuiChatApp) -> MessageView | None:
    answers = [v for v in app.screen.query(MessageView) if v.role == "assistant"]
    return answers[-1] if answers else None


async def press_on_answer(app: TuiChatApp, pilot: Pilot[None], key: str) -> None:
    """Focus the last answer (as Tab does) and press `key` there."""
    before = last_answer(app)
    before.focus()
    await pilot.pause()
    await pilot.press(key)
    await until(pilot, lambda: last_answer(app) is not before)
    await pilot.pause()


def assistant_turns(request: Any) -> list[str]:
    return [m["content"] for m in request.body["messages"] if m["role"] == "assistant"]


async def test_versions_flip_with_keys_and_palette_and_the_shown_one_is_sent_and_exported(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply(text="first answer"), Reply(text="second answer"),
                       Reply(text="third answer"), Reply(text="reply to next"),
                       Reply(text="reply after reopening"))
    settings = settings_for(fake_openai.url)
    store = ConversationStore(tmp_path / "c.db")
    app = make_app(settings, make_provider(settings), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"question", "enter")
        await settle(app, pilot)
        assert last_answer(app).versions is None
        assert not last_answer(app)._footer_text().startswith("‹")
        for _ in range(2):
            await pilot.press("ctrl+r")
            await settle(app, pilot)
        assert last_answer(app).text == "third answer"
        assert last_answer(app)._footer_text().startswith("‹ 3/3 › ✓")
        await press_on_answer(app, pilot, "left_square_bracket")
        assert (last_answer(app).text, last_answer(app).versions) == ("second answer", (2, 3))
        assert last_answer(app)._footer_text().startswith("‹ 2/3 ›")
        assert app.screen.focused is last_answer(app)  # focus stays, so [ [ walks on
        await pilot.press("left")
        await until(pilot, lambda: last_answer(app).text == "first answer")
        await pilot.press("left")  # already the oldest: stays
        await pilot.pause()
        assert last_answer(app).versions == (1, 3)
        await pilot.press("right_square_bracket", "right", "left")
        await until(pilot, lambda: last_answer(app).versions == (2, 3))
        assert last_answer(app).text == "second answer"
        await pilot.press("escape")  # back to the input (nothing is running)
        app.screen.prompt_input.focus()
        await pilot.press(*"next", "enter")
        await settle(app, pilot)
        conversation = app.screen.conversation_id
    assert assistant_turns(fake_openai.chat_requests[3]) == ["second answer"]
    markdown = store.export_markdown(conversation)
    assert "_Version 2 of 3 (the one shown in the app)" in markdown
    assert "second answer" in markdown and "third answer" not in markdown

    # Reopened: the version chosen is the one shown, and the palette flips too.
    app = make_app(settings, make_provider(settings), store=store, conversation_id=conversation)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.screen.query(MessageView)) == 4)  # q, a, next, a
        answer = app.screen.query(MessageView)[1]
        assert (answer.text, answer.versions) == ("second answer", (2, 3))
        assert answer._footer_text().startswith("‹ 2/3 ›")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"older version", "enter")
        await until(pilot, lambda: app.screen.query(MessageView)[1].text == "first answer")
        await pilot.press(*"again", "enter")
        await settle(app, pilot)
    store.close()
    assert assistant_turns(fake_openai.chat_requests[4]) == ["first answer", "reply to next"]


async def test_after_a_kill_the_longer_interrupted_answer_is_reachable_after_retry_and_esc(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    long_text = "The interrupted answer went on for a long while. " * 20
    path = tmp_path / "c.db"
    with ConversationStore(path) as killed:  # what an app killed mid-answer leaves behind
        conversation = killed.create_conversation(model="fake-model")
        killed.add_message(conversation, "user", "tell me a story")
        answer = killed.start_answer(conversation, model="fake-model")
        killed.save_partial(answer, long_text)
    store = ConversationStore(path)
    assert store.mark_interrupted() == 1  # as `tui-chat` does when it opens the file
    fake_openai.script(Reply(chunks=["Short ", "retry ", "never"], stall_after=2))
    settings = settings_for(fake_openai.url)
    app = make_app(settings, make_provider(settings), store=store, conversation_id=conversation)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: last_answer(app) and last_answer(app).text == long_text)
        assert last_answer(app).status == "interrupted"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: last_answer(app).text == "Short retry ")
        assert last_answer(app).versions == (2, 2)
        await pilot.press("escape")
        await settle(app, pilot)
        assert last_answer(app).status == "cancelled"
        assert last_answer(app)._footer_text().startswith("‹ 2/2 › ■ cancelled")
        await press_on_answer(app, pilot, "left_square_bracket")
        assert (last_answer(app).text, last_answer(app).status) == (long_text, "interrupted")
        assert last_answer(app)._footer_text().startswith("‹ 1/2 › ⚠ interrupted")
    rows = store.messages(conversation)
    store.close()
    assert rows[-1].content == long_text


async def test_a_version_chosen_far_up_a_long_conversation_stays_after_scrolling_away(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    """In a long reopened conversation only the messages near the viewport are mounted: the
    version chosen there is the one made again when it comes back, in its own place, once."""
    path = tmp_path / "c.db"
    with ConversationStore(path) as written:
        conversation = written.create_conversation(model="fake-model")
        written.add_message(conversation, "user", "question")
        first = written.start_answer(conversation, model="fake-model")
        written.finish_answer(first, "first answer", "done")
        second = written.start_answer(conversation, model="fake-model", replaces=first)
        written.finish_answer(second, "second answer", "done")
        for i in range(40):
            written.add_message(conversation, "user", f"q{i}")
            filler = written.start_answer(conversation, model="fake-model")
            written.finish_answer(filler, f"filler {i}\n\n" + "line\n\n" * 6, "done")
    store = ConversationStore(path)
    settings = settings_for(fake_openai.url)
    app = make_app(settings, make_provider(settings), store=store, conversation_id=conversation)
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.screen.transcript
        await until(pilot, lambda: transcript.stored == 82)
        assert transcript.mounted_range[0] > 1  # the top is not mounted at the end
        answer = await transcript.reveal(1)
        await pilot.pause()
        assert (answer.text, answer.versions) == ("second answer", (2, 2))
        answer.focus()
        await pilot.pause()
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: any(v.text == "first answer"
                                       for v in app.screen.query(MessageView)))
        await transcript.show_end()  # away: the top is unmounted
        await pilot.pause()
        shown = [v.text for v in app.screen.query(MessageView)]
        assert "first answer" not in shown and "second answer" not in shown, shown
        answer = await transcript.reveal(1)  # and back
        await pilot.pause()
        assert (answer.text, answer.versions) == ("first answer", (1, 2))
        shown = [v.text for v in app.screen.query(MessageView)]
        assert shown[:3] == ["question", "first answer", "q0"], shown[:3]
        assert "second answer" not in shown
    store.close()
