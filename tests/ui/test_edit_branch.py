"""Editing a sent question: `e` on it, or Up in an empty input for the last one. The edited text
is sent and the conversation goes on from there; what followed the old text stays as an earlier
branch behind the "‹ 1/2 ›" switcher; the context sent is the branch shown, across reopening.

The real app and provider against the loopback server, with a real SQLite file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tests.fake_openai import FakeOpenAI, Reply
from tests.waiting import settle, until
from tui_chat.app import TuiChatApp, make_app
from tui_chat.config import load_settings
from tui_chat.providers import make_provider
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput

KEY = "sk-test-not-real"
WAIT = 10.0


def settings_for(url: str):  # type: ignore[no-untyped-def]
    return load_settings(None, {"OPENAI_API_KEY": KEY}, base_url=url, model="fake-model",
                         system="", retries=0)



def shown(app: TuiChatApp) -> list[str]:
    return [view.text for view in app.screen.query(MessageView)]


def view_of(app: TuiChatApp, text: str) -> MessageView:
    return next(view for view in app.screen.query(MessageView) if view.text == text)


def turns(request: Any) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request.body["messages"]]


async def send(app: TuiChatApp, pilot: Pilot[None], text: str) -> None:
    app.screen.prompt_input.focus()
    await pilot.press(*text, "enter")
    await settle(app, pilot)


async def test_e_on_a_question_branches_and_the_old_branch_comes_back(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply(text="first answer"), Reply(text="second answer"),
                       Reply(text="edited answer"), Reply(text="reply to next"),
                       Reply(text="reply after reopening"))
    settings = settings_for(fake_openai.url)
    store = ConversationStore(tmp_path / "c.db")
    app = make_app(settings, make_provider(settings), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await send(app, pilot, "q1")
        await send(app, pilot, "q2")
        view_of(app, "q2").focus()
        await pilot.pause()
        await pilot.press("e")
        prompt = app.screen.query_one(PromptInput)
        await until(pilot, lambda: prompt.text == "q2")
        assert (prompt.text, app.screen.focused) == ("q2", prompt)
        assert prompt.has_class("-editing")
        await pilot.press("backspace", *" edited", "enter")
        await settle(app, pilot)
        assert shown(app) == ["q1", "first answer", "q edited", "edited answer"]
        edited = view_of(app, "q edited")
        assert edited.versions == (2, 2)
        assert edited._footer_text().startswith("‹ 2/2 ›")
        assert turns(fake_openai.chat_requests[2]) == [
            ("user", "q1"), ("assistant", "first answer"), ("user", "q edited")]

        edited.focus()
        await pilot.pause()
        await pilot.press("left")  # the earlier branch, with what followed it
        await until(pilot, lambda: shown(app) == ["q1", "first answer", "q2", "second answer"])
        assert view_of(app, "q2").versions == (1, 2)
        assert app.screen.focused is view_of(app, "q2")
        await send(app, pilot, "next")
        assert turns(fake_openai.chat_requests[3]) == [
            ("user", "q1"), ("assistant", "first answer"), ("user", "q2"),
            ("assistant", "second answer"), ("user", "next")]
        conversation = app.screen.conversation_id

    app = make_app(settings, make_provider(settings), store=store, conversation_id=conversation)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: shown(app) == ["q1", "first answer", "q2", "second answer",
                                                  "next", "reply to next"])
        assert view_of(app, "q2")._footer_text().startswith("‹ 1/2 ›")
        view_of(app, "q2").focus()
        await pilot.pause()
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: shown(app) == ["q1", "first answer", "q edited",
                                                  "edited answer"])
        await send(app, pilot, "again")
    assert turns(fake_openai.chat_requests[4]) == [
        ("user", "q1"), ("assistant", "first answer"), ("user", "q edited"),
        ("assistant", "edited answer"), ("user", "again")]
    # Kept in the file, every branch: search finds the hidden one, the export holds it.
    assert [h.message_id for h in store.search("reply to next")] != []
    exported = store.export_json(conversation)
    assert {m["content"] for m in exported["messages"]} >= {"q2", "second answer", "next",
                                                            "q edited", "again"}
    store.close()


async def test_up_in_an_empty_input_edits_the_last_question_then_recalls(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply(text="a1"), Reply(text="a2"), Reply(text="a2 again"),
                       Reply(text="a3"))
    settings = settings_for(fake_openai.url)
    store = ConversationStore(tmp_path / "c.db")
    app = make_app(settings, make_provider(settings), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        prompt = app.screen.query_one(PromptInput)
        await send(app, pilot, "first")
        await send(app, pilot, "second")
        await pilot.press("up")
        assert (prompt.text, prompt.editing is not None) == ("second", True)
        await pilot.pause()
        assert app.screen.query_one("#edit-note").display
        await pilot.press("up")  # further back: recall, sent as a new message
        assert (prompt.text, prompt.editing) == ("first", None)
        await pilot.press("down")
        assert (prompt.text, prompt.editing is not None) == ("second", True)
        await pilot.press("escape")  # gives the input back, and nothing is running
        assert (prompt.text, prompt.editing) == ("", None)
        await pilot.pause()
        assert not app.screen.query_one("#edit-note").display
        assert shown(app) == ["first", "a1", "second", "a2"]

        await pilot.press("up", *" thoughts", "enter")
        await settle(app, pilot)
        assert shown(app) == ["first", "a1", "second thoughts", "a2 again"]
        assert view_of(app, "second thoughts").versions == (2, 2)

        await pilot.press("up", "up", "enter")  # the recalled "first", as a new message
        await settle(app, pilot)
        assert shown(app)[-2:] == ["first", "a3"]
    store.close()


async def test_opening_a_search_hit_in_a_branch_not_shown_shows_that_branch(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    conversation = store.create_conversation(model="fake-model")
    question = store.add_message(conversation, "user", "tell me about narwhals")
    answer = store.start_answer(conversation, model="fake-model")
    store.finish_answer(answer, "Narwhals have a tusk.", "done")
    store.edit_message(question, "tell me about walruses")
    other = store.start_answer(conversation, model="fake-model")
    store.finish_answer(other, "Walruses have two tusks.", "done")
    [hit] = store.search("narwhals have")
    assert hit.message_id == answer
    settings = settings_for(fake_openai.url)
    app = make_app(settings, make_provider(settings), store=store, conversation_id=conversation)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: shown(app) == ["tell me about walruses",
                                                  "Walruses have two tusks."])
        await app.screen.load_conversation(conversation, hit.message_id)  # as Ctrl+O does
        await until(pilot, lambda: shown(app) == ["tell me about narwhals",
                                                  "Narwhals have a tusk."])
        assert view_of(app, "tell me about narwhals").versions == (1, 2)
    store.close()
