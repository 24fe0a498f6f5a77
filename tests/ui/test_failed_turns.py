"""After a failed answer (500, 429, 401), the next request carries the latest question once,
not the unanswered ones before it; the failed exchanges stay on screen and in the store.

The real app and provider against the loopback server, with a real SQLite file; the
assertions are on what the server received.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat import cli
from tui_chat.app import TuiChatApp, make_app
from tui_chat.config import load_settings
from tui_chat.providers import make_provider
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView

KEY = "sk-test-not-real"
WAIT = 10.0


def turns(request: Any) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request.body["messages"]]


async def ask(app: TuiChatApp, pilot: Any, text: str) -> None:
    await pilot.press(*text, "enter")
    async with asyncio.timeout(WAIT):
        await app.workers.wait_for_complete()
        while app.screen.phase not in ("done", "failed"):
            await pilot.pause(0.02)


async def test_failed_questions_are_not_sent_again_with_the_next_one(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply(text="zero answer"), Reply.error(500), Reply.error(429),
                       Reply.error(401), Reply(text="four answer"), Reply.error(503),
                       Reply(text="five answer"), Reply(text="six answer"))
    settings = load_settings(None, {"OPENAI_API_KEY": KEY}, base_url=fake_openai.url,
                             model="fake-model", system="Sys.", retries=0)
    store = ConversationStore(tmp_path / "c.db")
    app = make_app(settings, make_provider(settings), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await ask(app, pilot, "q0")
        for question in ("q1", "q2", "q3"):
            await ask(app, pilot, question)
            assert app.screen.query(MessageView).last().status == "failed"
        await ask(app, pilot, "q4")
        await ask(app, pilot, "q5")  # fails; Ctrl+R asks it again, once
        await pilot.press("ctrl+r")
        async with asyncio.timeout(WAIT):
            await app.workers.wait_for_complete()
        # Every failed exchange stays on screen, marked.
        views = [(v.role, v.text, v.status) for v in app.screen.query(MessageView)]
        assert views[2:8] == [("user", "q1", "done"), ("assistant", "", "failed"),
                              ("user", "q2", "done"), ("assistant", "", "failed"),
                              ("user", "q3", "done"), ("assistant", "", "failed")]
        conversation = app.screen.conversation_id
    requests = fake_openai.chat_requests
    assert turns(requests[4]) == [("system", "Sys."), ("user", "q0"),
                                  ("assistant", "zero answer"), ("user", "q4")]
    assert turns(requests[6]) == [("system", "Sys."), ("user", "q0"),
                                  ("assistant", "zero answer"), ("user", "q4"),
                                  ("assistant", "four answer"), ("user", "q5")]

    # Reopened from the store, the same rule holds.
    app = make_app(settings, make_provider(settings), store=store, conversation_id=conversation)
    async with app.run_test(size=(100, 30)) as pilot:
        async with asyncio.timeout(WAIT):
            while not app.screen.query(MessageView):
                await pilot.pause(0.02)
        await ask(app, pilot, "q6")
    store.close()
    assert turns(fake_openai.chat_requests[7])[-3:] == [
        ("user", "q5"), ("assistant", "five answer"), ("user", "q6")]
    assert ("user", "q3") not in turns(fake_openai.chat_requests[7])


def test_a_failed_ask_stays_stored_and_continuing_it_sends_only_the_new_question(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "c.db"
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
        fake = running.fake
        fake.script(Reply.error(401), Reply(text="fine now"))  # 401: not retried
        flags = ["--base-url", running.url, "--model", "fake-model", "--system", "Sys.",
                 "--db", str(database)]
        assert cli.main(["ask", *flags, "the failed question"]) == 1
        with ConversationStore(database) as store:
            rows = store.messages(store.latest_conversation_id())
            assert [(r.role, r.content, r.status) for r in rows] == [
                ("user", "the failed question", "done"), ("assistant", "", "failed")]
            assert rows[-1].error and "401" in rows[-1].error

        async def drive(app: TuiChatApp) -> None:
            async with app.run_test(size=(100, 30)) as pilot:
                async with asyncio.timeout(WAIT):
                    while len(app.screen.query(MessageView)) < 2:
                        await pilot.pause(0.02)
                await ask(app, pilot, "a new question")

        monkeypatch.setattr(TuiChatApp, "run", lambda self: asyncio.run(drive(self)))
        assert cli.main([*flags, "-c"]) == 0
        assert turns(fake.chat_requests[-1]) == [("system", "Sys."),
                                                 ("user", "a new question")]
