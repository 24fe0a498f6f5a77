"""Model-made titles through the real app, the loopback server and a real SQLite file: asked
once after a new conversation's first answer, stored (not as a message), listed; never in the
way of an answer, never an error on screen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.screens.conversations import ConversationList, ConversationsScreen
from tui_chat.store import ConversationStore
from tui_chat.titles import TITLE_TOKENS
from tui_chat.titles import TURN_INSTRUCTION as TITLE_TURN
from tui_chat.widgets.message_view import MessageView

QUESTION = "how do I sort a list by the length of its items in python?"


def settings_for(fake: FakeOpenAI, **flags: object):  # type: ignore[no-untyped-def]
    return load_settings(None, {"OPENAI_API_KEY": "sk-test-not-real"}, base_url=fake.url,
                         model="fake-model", **flags)


async def until(pilot: Any, condition: Callable[[], bool], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.02)


def title_of(path: Path, conversation_id: int | None) -> str:
    assert conversation_id is not None
    with ConversationStore(path) as store:
        summary = store.get_conversation(conversation_id)
        assert summary is not None
        return summary.title


async def ask(app: Any, pilot: Any, text: str) -> None:
    app.screen.prompt_input.text = text
    await pilot.press("enter")
    await until(pilot, lambda: [v for v in app.screen.query(MessageView)
                                if v.role == "assistant"][-1].status == "done")


async def test_the_first_answer_brings_a_model_title_stored_and_listed(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply(chunks=["Use ", "sorted(items, key=len)."]),
                       Reply(chunks=["Yes."]))
    fake_openai.script_titles(Reply(text='**"Sorting by Length."**'))
    path = tmp_path / "chat.db"
    app = make_app(settings_for(fake_openai), store=ConversationStore(path))
    async with app.run_test(notifications=True) as pilot:
        await ask(app, pilot, QUESTION)
        conversation = app.screen.conversation_id
        await until(pilot, lambda: title_of(path, conversation) == "Sorting by Length")
        await ask(app, pilot, "and in reverse?")  # a later answer asks for no other title
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ConversationsScreen))
        await pilot.pause()
        listing = app.screen.query_one(ConversationList)
        drawn = [listing.render_line(y).text for y in range(listing.size.height)]
        assert any(line.startswith("● Sorting by Length ") for line in drawn), drawn
    [request] = fake_openai.title_requests
    assert request.model == "fake-model" and request.body["max_tokens"] == TITLE_TOKENS
    assert request.body["stream"] is True  # so closing it stops the server at once
    # A server on this machine is asked with the conversation as the next question sends it,
    # and the instruction as one more turn: its prompt cache still holds the conversation when
    # the next question comes.
    asked, following = request.messages, fake_openai.chat_requests[1].messages
    assert asked[:-1] == following[:-1]
    assert [(m["role"], m["content"]) for m in asked[-3:-1]] == [
        ("user", QUESTION), ("assistant", "Use sorted(items, key=len).")]
    assert asked[-1] == {"role": "user", "content": TITLE_TURN}
    with ConversationStore(path) as store:  # the title is not a message
        assert [m.role for m in store.messages(conversation)] == ["user", "assistant"] * 2


async def test_until_the_model_answers_and_with_auto_title_never_the_first_line_stays(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply(chunks=["Sure."]))
    path = tmp_path / "chat.db"
    app = make_app(settings_for(fake_openai, auto_title="never"), store=ConversationStore(path))
    async with app.run_test() as pilot:
        await ask(app, pilot, QUESTION)
        conversation = app.screen.conversation_id
        async with asyncio.timeout(10):
            await app.workers.wait_for_complete()
    assert fake_openai.title_requests == []
    assert title_of(path, conversation).startswith("how do I sort a list")


@pytest.mark.parametrize("reply", [Reply.error(500), Reply.error(401), Reply(text="\n")])
async def test_a_failed_title_request_shows_nothing_and_keeps_the_first_line(
        fake_openai: FakeOpenAI, tmp_path: Path, reply: Reply) -> None:
    fake_openai.script(Reply(chunks=["Sure."]))
    fake_openai.script_titles(reply)
    path = tmp_path / "chat.db"
    app = make_app(settings_for(fake_openai, retries=0), store=ConversationStore(path))
    async with app.run_test(notifications=True) as pilot:
        await ask(app, pilot, QUESTION)
        conversation = app.screen.conversation_id
        await until(pilot, lambda: len(fake_openai.title_requests) == 1
                    and fake_openai.title_requests[0].done)
        async with asyncio.timeout(10):
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert list(app._notifications) == []
    assert title_of(path, conversation).startswith("how do I sort a list")


async def test_an_answer_started_meanwhile_cancels_the_title_which_is_asked_again_after(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    slow_title = asyncio.Event()  # never set: this title request would hang
    fake_openai.script(Reply(chunks=["One."]), Reply(chunks=["Two."]))
    fake_openai.script_titles(Reply(text="Never", stall_after=0, release=slow_title),
                              Reply(text="Second Try"))
    path = tmp_path / "chat.db"
    app = make_app(settings_for(fake_openai), store=ConversationStore(path))
    async with app.run_test() as pilot:
        await ask(app, pilot, QUESTION)
        conversation = app.screen.conversation_id
        await until(pilot, lambda: len(fake_openai.title_requests) == 1)
        await ask(app, pilot, "more?")  # not held up by the title request ...
        first_title = fake_openai.title_requests[0]
        async with asyncio.timeout(10):
            await first_title.wait_disconnected()  # ... which was closed when it started
        await until(pilot, lambda: title_of(path, conversation) == "Second Try")
    assert len(fake_openai.title_requests) == 2


async def test_a_rename_made_while_the_title_is_asked_for_is_kept(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    release = asyncio.Event()
    fake_openai.script(Reply(chunks=["Sure."]))
    fake_openai.script_titles(Reply(text="Model Title", stall_after=0, release=release))
    path = tmp_path / "chat.db"
    app = make_app(settings_for(fake_openai), store=ConversationStore(path))
    async with app.run_test() as pilot:
        await ask(app, pilot, QUESTION)
        conversation = app.screen.conversation_id
        await until(pilot, lambda: len(fake_openai.title_requests) == 1)
        with ConversationStore(path) as other:  # as the conversations screen's rename does
            assert conversation is not None
            other.rename(conversation, "Mine")
        release.set()
        await until(pilot, lambda: fake_openai.title_requests[0].done)
        async with asyncio.timeout(10):
            await app.workers.wait_for_complete()
    assert title_of(path, conversation) == "Mine"
