"""Messages sent while an answer streams are queued, through the real app against the loopback
server: sent one after another when each answer is done, with the context of what came before;
held (and said so) after a cancel or a failure; taken back with Up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput
from tui_chat.widgets.queued_prompts import QueuedPrompts

FIRST = ["First ", "answer."]


def held(release: asyncio.Event, **kwargs: Any) -> Reply:
    """An answer that stops after its first chunk until the test sets `release`: it streams
    while the test types (Pilot waits for a quiet screen after each key, so typing into a
    screen that is drawing an answer takes seconds)."""
    return Reply(chunks=FIRST, stall_after=1, release=release, **kwargs)


def settings_for(fake: FakeOpenAI, **flags: object):  # type: ignore[no-untyped-def]
    return load_settings(None, {"OPENAI_API_KEY": "sk-test-not-real"}, base_url=fake.url,
                         model="fake-model", system="Be brief.", auto_title="never", **flags)


async def until(pilot: Any, condition: Callable[[], bool], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.02)


def queue_of(app: Any) -> QueuedPrompts:
    return app.screen.query_one(QueuedPrompts)


def answers(app: Any) -> list[MessageView]:
    return [v for v in app.screen.query(MessageView) if v.role == "assistant"]


def turns(request: Any) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request.messages]


async def type_and_send(pilot: Any, text: str) -> None:
    await pilot.press(*text, "enter")


async def test_queued_messages_go_out_in_order_each_with_the_answers_before_it(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    release = asyncio.Event()
    fake_openai.script(held(release), Reply(chunks=["Two done."]), Reply(chunks=["Three done."]))
    store = ConversationStore(tmp_path / "chat.db")
    app = make_app(settings_for(fake_openai), store=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_send(pilot, "one")
        await until(pilot, lambda: app.screen.phase == "streaming")
        await type_and_send(pilot, "two")
        await type_and_send(pilot, "three")
        queue = queue_of(app)
        assert queue.texts == ["two", "three"]
        assert app.screen.query_one(PromptInput).text == ""  # ready for the next one
        await pilot.pause()
        # Shown above the input, inside the 80x24 screen, while the first answer streams.
        assert queue.display and queue.region.height >= 3
        assert queue.region.bottom <= app.screen.query_one(PromptInput).region.y
        assert "queued 1 · two" in str(queue.render()) and "queued 2 · three" in str(
            queue.render())
        assert len(fake_openai.chat_requests) == 1  # nothing sent before the answer ends
        release.set()
        await until(pilot, lambda: len(answers(app)) == 3 and answers(app)[-1].status == "done")
        assert not queue.display
        conversation = app.screen.conversation_id
    first, second, third = fake_openai.chat_requests
    assert turns(first) == [("system", "Be brief."), ("user", "one")]
    assert turns(second) == [("system", "Be brief."), ("user", "one"),
                             ("assistant", "".join(FIRST)), ("user", "two")]
    assert turns(third) == [*turns(second), ("assistant", "Two done."), ("user", "three")]
    rows = store.messages(conversation)
    assert [(r.role, r.content) for r in rows] == [
        ("user", "one"), ("assistant", "".join(FIRST)), ("user", "two"),
        ("assistant", "Two done."), ("user", "three"), ("assistant", "Three done.")]
    store.close()


async def test_after_a_cancel_the_queue_waits_says_so_and_enter_sends_it(
        fake_openai: FakeOpenAI) -> None:
    fake_openai.script(held(asyncio.Event()), Reply(chunks=["Two."]))
    app = make_app(settings_for(fake_openai))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_send(pilot, "one")
        await until(pilot, lambda: app.screen.phase == "streaming")
        await type_and_send(pilot, "two")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.phase == "cancelled")
        async with asyncio.timeout(10):
            await app.workers.wait_for_complete()
        await pilot.pause()
        queue = queue_of(app)
        assert queue.texts == ["two"] and queue.display
        assert "not sent: the answer was cancelled" in str(queue.render())
        assert len(fake_openai.chat_requests) == 1
        await pilot.press("enter")  # in the empty input: send what waits
        await until(pilot, lambda: answers(app)[-1].status == "done" and len(answers(app)) == 2)
        assert not queue.display
    second = fake_openai.chat_requests[1]
    assert turns(second)[-1] == ("user", "two")
    assert turns(second)[-2] == ("assistant", "First ")  # the cancelled answer is context


async def test_after_a_broken_answer_the_queue_waits_and_a_done_retry_sends_it(
        fake_openai: FakeOpenAI) -> None:
    release = asyncio.Event()
    fake_openai.script(held(release, cut_after=2), Reply(chunks=["Whole answer."]),
                       Reply(chunks=["Two."]))
    app = make_app(settings_for(fake_openai, retries=0))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_send(pilot, "one")
        await until(pilot, lambda: app.screen.phase == "streaming")
        await type_and_send(pilot, "two")
        release.set()  # and the connection drops
        await until(pilot, lambda: app.screen.phase == "interrupted")
        await pilot.pause()
        queue = queue_of(app)
        assert queue.texts == ["two"]
        assert "not sent: the answer broke off" in str(queue.render())
        assert len(fake_openai.chat_requests) == 1
        await pilot.press("ctrl+r")  # the retry ends done: the queue goes out behind it
        await until(pilot, lambda: len(fake_openai.chat_requests) == 3
                    and answers(app)[-1].status == "done")
    retry, second = fake_openai.chat_requests[1:]
    assert turns(retry)[-1] == ("user", "one")
    assert turns(second)[-3:] == [("user", "one"), ("assistant", "Whole answer."),
                                  ("user", "two")]


async def test_up_in_the_empty_input_takes_the_newest_queued_message_back(
        fake_openai: FakeOpenAI) -> None:
    release = asyncio.Event()
    fake_openai.script(held(release), Reply(chunks=["Two."]))
    app = make_app(settings_for(fake_openai))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_send(pilot, "one")
        await until(pilot, lambda: app.screen.phase == "streaming")
        await type_and_send(pilot, "two")
        await type_and_send(pilot, "three")
        await pilot.press("up")
        prompt = app.screen.query_one(PromptInput)
        assert prompt.text == "three" and queue_of(app).texts == ["two"]
        await pilot.press("ctrl+u")  # deleted: it will not be sent
        assert prompt.text == ""
        release.set()
        await until(pilot, lambda: len(answers(app)) == 2 and answers(app)[-1].status == "done")
        await pilot.pause()
    assert [turns(r)[-1] for r in fake_openai.chat_requests] == [("user", "one"),
                                                                 ("user", "two")]


async def test_a_new_conversation_gives_the_queued_messages_back_to_the_input(
        fake_openai: FakeOpenAI) -> None:
    fake_openai.script(held(asyncio.Event()))
    app = make_app(settings_for(fake_openai))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_send(pilot, "one")
        await until(pilot, lambda: app.screen.phase == "streaming")
        await type_and_send(pilot, "two")
        await type_and_send(pilot, "three")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: app.screen.phase == "ready")
        await pilot.pause()
        assert app.screen.query_one(PromptInput).text == "two\n\nthree"
        assert not queue_of(app).display
    assert len(fake_openai.chat_requests) == 1


async def test_a_file_given_with_a_queued_message_goes_with_that_message(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes for the queued one\n", encoding="utf-8")
    release = asyncio.Event()
    fake_openai.script(held(release), Reply(chunks=["Read."]), Reply(chunks=["Three."]))
    app = make_app(settings_for(fake_openai))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_and_send(pilot, "one")
        await until(pilot, lambda: app.screen.phase == "streaming")
        app.screen.query_one(PromptInput).text = f"read @{notes}"
        await pilot.press("enter")
        await type_and_send(pilot, "three")
        queue = queue_of(app)
        assert [len(entry.files) for entry in queue.entries] == [1, 0]
        assert "+ 1 file" in str(queue.render())
        release.set()
        await until(pilot, lambda: len(answers(app)) == 3 and answers(app)[-1].status == "done")
    second, third = fake_openai.chat_requests[1:]
    assert "# Notes for the queued one" in str(second.messages[-1]["content"])
    assert "# Notes" not in str(third.messages[-1]["content"])
