"""Continue: an answer cut at max tokens is marked so and offers Continue (F6, `c` on it, the
palette); so does one interrupted (a broken stream, or an app killed mid-answer and reopened)
or cancelled. Continue sends the partial answer and asks to go on; what comes back is appended
to the same answer (same view, same stored row) without repeating its end.

The real app and provider against the loopback server, with a real SQLite file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.fake_openai import FakeOpenAI, Reply
from tests.waiting import settle, until
from tui_chat.app import TuiChatApp, make_app
from tui_chat.config import load_settings
from tui_chat.continuation import INSTRUCTION
from tui_chat.providers import make_provider
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView

KEY = "sk-test-not-real"
WAIT = 10.0
WHOLE = ("One two three four five six seven eight nine ten eleven twelve. "
         "Thirteen fourteen fifteen.")


def settings_for(url: str, **flags: Any):  # type: ignore[no-untyped-def]
    return load_settings(None, {"OPENAI_API_KEY": KEY}, base_url=url, model="fake-model",
                         system="", retries=0, **flags)



def answers(app: TuiChatApp) -> list[MessageView]:
    return [v for v in app.screen.query(MessageView) if v.role == "assistant"]


def turns(request: Any) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request.body["messages"]]


async def test_an_answer_cut_at_max_tokens_is_marked_and_continued_in_place(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply(text=WHOLE, obey_max_tokens=True),
                       Reply(continues=WHOLE, repeat_tail=len("four five ")))
    settings = settings_for(fake_openai.url, max_tokens=5)
    store = ConversationStore(tmp_path / "c.db")
    app = make_app(settings, make_provider(settings), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"count", "enter")
        await settle(app, pilot)
        [answer] = answers(app)
        assert answer.text == "One two three four five "
        assert answer.cut and "✂ cut at max tokens" in answer._footer_text()
        assert answer._footer_text().endswith("f6 continues")
        conversation = app.screen.conversation_id
        assert store.messages(conversation)[-1].finish_reason == "length"

        await pilot.press("f6")
        await until(pilot, lambda: len(fake_openai.chat_requests) == 2)
        await settle(app, pilot)

        [answer] = answers(app)  # the same answer grew; no new message
        assert (answer.text, answer.status, answer.cut) == (WHOLE, "done", False)
        assert "cut at max tokens" not in answer._footer_text()
        assert "continues" not in answer._footer_text()
        sent = fake_openai.chat_requests[1]
        assert turns(sent) == [("user", "count"), ("assistant", "One two three four five "),
                               ("user", INSTRUCTION)]
        assert sent.text_sent.startswith("four five six")  # the repeat the app dropped
        await pilot.press("f6")  # nothing to continue now: no request
        await pilot.pause()
        assert len(fake_openai.chat_requests) == 2
    [_question, row] = store.messages(conversation, current_only=False)
    assert (row.content, row.status, row.finish_reason) == (WHOLE, "done", "stop")

    app = make_app(settings, make_provider(settings), store=store, conversation_id=conversation)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(answers(app)) == 1)
        assert answers(app)[0].text == WHOLE and not answers(app)[0].offers_continue
    store.close()


async def test_an_answer_left_by_a_killed_app_is_continued_after_reopening(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    partial = "One two three four five six seven"
    path = tmp_path / "c.db"
    with ConversationStore(path) as killed:  # what an app killed mid-answer leaves behind
        conversation = killed.create_conversation(model="fake-model")
        killed.add_message(conversation, "user", "count")
        answer = killed.start_answer(conversation, model="fake-model")
        killed.save_partial(answer, partial)
    store = ConversationStore(path)
    assert store.mark_interrupted() == 1  # as `tui-chat` does when it opens the file
    fake_openai.script(Reply(continues=WHOLE))
    settings = settings_for(fake_openai.url)
    app = make_app(settings, make_provider(settings), store=store, conversation_id=conversation)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: bool(answers(app)) and answers(app)[-1].offers_continue)
        assert answers(app)[-1].status == "interrupted"
        assert "f6 continues" in answers(app)[-1]._footer_text()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"continue the answer", "enter")
        await until(pilot, lambda: len(fake_openai.chat_requests) == 1)
        await settle(app, pilot)
        assert [a.text for a in answers(app)] == [WHOLE]
        assert answers(app)[-1].status == "done"
    rows = store.messages(conversation)
    assert [(r.role, r.content, r.status) for r in rows] == [
        ("user", "count", "done"), ("assistant", WHOLE, "done")]
    assert turns(fake_openai.chat_requests[0])[-2] == ("assistant", partial)
    store.close()


async def test_a_cancelled_answer_continues_with_c_and_a_broken_one_with_f6(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    words = WHOLE.split(" ")
    pieces = [word + " " for word in words[:-1]] + [words[-1]]
    fake_openai.script(Reply(chunks=pieces, stall_after=3),
                       Reply(continues=WHOLE, cut_after=3),
                       Reply(continues=WHOLE, repeat_tail=14))
    settings = settings_for(fake_openai.url)
    store = ConversationStore(tmp_path / "c.db")
    app = make_app(settings, make_provider(settings), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"count", "enter")
        await until(pilot, lambda: bool(answers(app)) and answers(app)[-1].text == "One two three ")
        await pilot.press("escape")
        await settle(app, pilot)
        answer = answers(app)[-1]
        assert answer.status == "cancelled" and answer.offers_continue
        answer.focus()
        await pilot.pause()
        await pilot.press("c")
        await until(pilot, lambda: len(fake_openai.chat_requests) == 2)
        await settle(app, pilot)
        answer = answers(app)[-1]  # the connection dropped after three more words
        assert (answer.text, answer.status) == ("One two three four five six ", "interrupted")
        assert answer.offers_continue
        app.screen.prompt_input.focus()
        await pilot.press("f6")
        await until(pilot, lambda: len(fake_openai.chat_requests) == 3)
        await settle(app, pilot)
        assert [(a.text, a.status) for a in answers(app)] == [(WHOLE, "done")]
        conversation = app.screen.conversation_id
    assert [m.content for m in store.messages(conversation, current_only=False)] == [
        "count", WHOLE]
    store.close()


async def test_a_stored_answer_continued_stays_one_view_while_the_reader_scrolls_away(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    """In a long reopened conversation the stored messages are mounted only near the viewport;
    the answer being continued stays mounted while it streams, whatever the reader scrolls
    to, and is shown once, whole, at the end."""
    path = tmp_path / "c.db"
    with ConversationStore(path) as written:
        conversation = written.create_conversation(model="fake-model")
        for i in range(40):
            written.add_message(conversation, "user", f"q{i}")
            filler = written.start_answer(conversation, model="fake-model")
            written.finish_answer(filler, f"filler {i}\n\n" + "line\n\n" * 6, "done")
        written.add_message(conversation, "user", "count")
        cut = written.start_answer(conversation, model="fake-model")
        written.finish_answer(cut, "One two three ", "cancelled")
    go_on = asyncio.Event()
    fake_openai.script(Reply(chunks=["four ", "five ", "six."], stall_after=1, release=go_on))
    store = ConversationStore(path)
    settings = settings_for(fake_openai.url)
    app = make_app(settings, make_provider(settings), store=store, conversation_id=conversation)
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.screen.transcript
        await until(pilot, lambda: answers(app) and answers(app)[-1].text == "One two three ")
        await pilot.press("f6")
        await until(pilot, lambda: answers(app)[-1].text == "One two three four ")
        growing = answers(app)[-1]
        await transcript.reveal(0)  # the reader goes to the top while it streams
        await pilot.pause()
        assert growing.is_mounted
        go_on.set()
        await settle(app, pilot)
        await transcript.show_end()
        await pilot.pause()
        counted = [v for v in answers(app) if v.text.startswith("One two")]
        assert [v.text for v in counted] == ["One two three four five six."]
        assert counted[0] is growing and list(app.screen.query(MessageView))[-1] is growing
    rows = store.messages(conversation)
    store.close()
    assert rows[-1].content == "One two three four five six."
