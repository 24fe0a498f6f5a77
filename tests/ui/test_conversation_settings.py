"""Each conversation carries its own model, system prompt, temperature and max tokens.

Driven through the real app (keys, the model picker, the prompt editor, the conversation list)
with the real provider, a real SQLite file and the loopback server, asserting on what the
server received.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.fake_openai import FakeOpenAI
from tui_chat import cli
from tui_chat.app import TuiChatApp, make_app
from tui_chat.config import load_settings
from tui_chat.providers import make_provider
from tui_chat.screens.chat import ChatScreen
from tui_chat.screens.conversations import ConversationsScreen
from tui_chat.screens.model_picker import ModelPicker
from tui_chat.screens.prompt_editor import PromptEditor
from tui_chat.store import ConversationStore
from tui_chat.widgets.status_bar import StatusBar

KEY = "sk-test-not-real"
WAIT = 10.0
DEFAULT_PROMPT = "Default prompt."


def settings_for(url: str):
    return load_settings(None, {"OPENAI_API_KEY": KEY}, base_url=url, model="fake-model",
                         system=DEFAULT_PROMPT, retries=0)


def sent(request: Any) -> tuple[Any, ...]:
    """What a request asked for: model, system message, temperature, max tokens."""
    body = request.body
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), None)
    return body["model"], system, body.get("temperature"), body.get("max_tokens")


async def until(pilot: Pilot[None], predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():
            await pilot.pause(0.02)


async def ask(app: TuiChatApp, pilot: Pilot[None], text: str) -> None:
    await pilot.press(*text, "enter")
    async with asyncio.timeout(WAIT):
        await app.workers.wait_for_complete()
    await until(pilot, lambda: chat(app).phase in ("done", "failed"))


def chat(app: TuiChatApp) -> ChatScreen:
    screen = app.screen_stack[0]
    assert isinstance(screen, ChatScreen)
    return screen


async def pick_model(app: TuiChatApp, pilot: Pilot[None], name: str) -> None:
    await pilot.press("f2")
    await until(pilot, lambda: isinstance(app.screen, ModelPicker))
    async with asyncio.timeout(WAIT):
        await app.screen.workers.wait_for_complete()
    await pilot.press(*name, "enter")
    await until(pilot, lambda: isinstance(app.screen, ChatScreen))


async def edit_setup(app: TuiChatApp, pilot: Pilot[None], system: str, temperature: str,
                     max_tokens: str) -> None:
    await pilot.press("f3")
    await until(pilot, lambda: isinstance(app.screen, PromptEditor))
    app.screen.query_one("#editor-text").text = system
    app.screen.query_one("#editor-temperature").value = temperature
    app.screen.query_one("#editor-max-tokens").value = max_tokens
    await pilot.press("ctrl+s")
    await until(pilot, lambda: isinstance(app.screen, ChatScreen))


async def shown_in_editor(app: TuiChatApp, pilot: Pilot[None]) -> tuple[str, str, str]:
    """What F3 shows for the open conversation (then closed unchanged)."""
    await pilot.press("f3")
    await until(pilot, lambda: isinstance(app.screen, PromptEditor))
    screen = app.screen
    shown = (screen.query_one("#editor-text").text, screen.query_one("#editor-temperature").value,
             screen.query_one("#editor-max-tokens").value)
    await pilot.press("escape")
    await until(pilot, lambda: isinstance(app.screen, ChatScreen))
    return shown


async def open_conversation(app: TuiChatApp, pilot: Pilot[None], words: str,
                            conversation_id: int) -> None:
    """Ctrl+O, search for `words`, Enter: the way a person opens an older conversation."""
    await pilot.press("ctrl+o")
    await until(pilot, lambda: isinstance(app.screen, ConversationsScreen))
    await pilot.press("slash", *words)
    await until(pilot, lambda: app.screen.shown_query == words)
    await pilot.press("enter")
    await until(pilot, lambda: chat(app).conversation_id == conversation_id
                and isinstance(app.screen, ChatScreen))
    await pilot.pause()


def older_conversation(store: ConversationStore) -> int:
    """Conversation B, stored with its own model, prompt and parameters."""
    conversation = store.create_conversation(title="Bravo chat", model="model-b",
                                             system="Prompt B.", temperature=0.3, max_tokens=77)
    store.add_message(conversation, "user", "first in bravo")
    answer = store.start_answer(conversation, model="model-b")
    store.finish_answer(answer, "bravo answer", "done")
    return conversation


async def test_each_conversation_sends_its_own_settings_both_ways_and_ctrl_n_starts_fresh(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    bravo = older_conversation(store)
    settings = settings_for(fake_openai.url)
    app = make_app(settings, make_provider(settings), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        # Conversation A: its own model, prompt and parameters.
        await pick_model(app, pilot, "gpt-4o-mini")
        await edit_setup(app, pilot, "Prompt A.", "1.5", "42")
        await ask(app, pilot, "alpha question")
        alpha = chat(app).conversation_id
        assert alpha is not None and alpha != bravo
        # A -> B: B's settings, in the request, in F3 and in the status bar.
        await open_conversation(app, pilot, "Bravo", bravo)
        bar = chat(app).query_one(StatusBar)
        assert bar.model == "model-b"
        assert "T 0.3" in bar.render().plain and "max 77" in bar.render().plain
        assert await shown_in_editor(app, pilot) == ("Prompt B.", "0.3", "77")
        await ask(app, pilot, "bravo question")
        # B -> A: A's settings come back (from the store), and a change after A's first
        # message is kept too.
        await open_conversation(app, pilot, "alpha", alpha)
        assert chat(app).query_one(StatusBar).model == "gpt-4o-mini"
        assert await shown_in_editor(app, pilot) == ("Prompt A.", "1.5", "42")
        await edit_setup(app, pilot, "Prompt A, edited.", "1.5", "43")
        await ask(app, pilot, "alpha again")
        await open_conversation(app, pilot, "Bravo", bravo)
        await open_conversation(app, pilot, "alpha", alpha)
        await ask(app, pilot, "alpha third")
        # Ctrl+N: the settings from config and flags, not A's.
        await pilot.press("ctrl+n")
        await until(pilot, lambda: chat(app).conversation_id is None)
        assert chat(app).query_one(StatusBar).model == "fake-model"
        assert await shown_in_editor(app, pilot) == (DEFAULT_PROMPT, "", "")
        await ask(app, pilot, "fresh question")
    store.close()
    assert [sent(r) for r in fake_openai.chat_requests] == [
        ("gpt-4o-mini", "Prompt A.", 1.5, 42),
        ("model-b", "Prompt B.", 0.3, 77),
        ("gpt-4o-mini", "Prompt A, edited.", 1.5, 43),
        ("gpt-4o-mini", "Prompt A, edited.", 1.5, 43),
        ("fake-model", DEFAULT_PROMPT, None, None),
    ]


def run_cli_and_send(monkeypatch: pytest.MonkeyPatch, argv: list[str], prompt: str,
                     seen: dict[str, Any]) -> None:
    """`tui-chat ARGV` as the command line builds it; the app is driven by Pilot instead of a
    terminal, and sends `prompt`."""

    async def drive(app: TuiChatApp) -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: chat(app).conversation_id is not None)
            await pilot.pause()
            screen = chat(app)
            seen["model"] = screen.query_one(StatusBar).model
            seen["editor"] = await shown_in_editor(app, pilot)
            await ask(app, pilot, prompt)

    monkeypatch.setattr(TuiChatApp, "run", lambda self: asyncio.run(drive(self)))


@pytest.mark.parametrize("how", ["-c", "--continue", "--conversation"])
def test_reopening_from_the_command_line_restores_the_conversations_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    database = tmp_path / "c.db"
    with ConversationStore(database) as store:
        bravo = older_conversation(store)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI.start_in_thread() as fake:
        argv = ["--base-url", fake.url, "--model", "fake-model", "--system", DEFAULT_PROMPT,
                "--db", str(database)]
        argv += [how, str(bravo)] if how == "--conversation" else [how]
        seen: dict[str, Any] = {}
        run_cli_and_send(monkeypatch, argv, "bravo again", seen)
        assert cli.main(argv) == 0
        requests = fake.fake.chat_requests
    assert seen == {"model": "model-b", "editor": ("Prompt B.", "0.3", "77")}
    assert [sent(r) for r in requests] == [("model-b", "Prompt B.", 0.3, 77)]
    assert [m["content"] for m in requests[0].body["messages"]] == [
        "Prompt B.", "first in bravo", "bravo answer", "bravo again"]



def test_ask_stores_the_parameters_it_was_given_with_its_conversation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """So `tui-chat -c` after `tui-chat ask --temperature 0.4` goes on with 0.4."""
    database = tmp_path / "c.db"
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as fake:
        assert cli.main(["ask", "--base-url", fake.url, "--model", "fake-model",
                         "--system", "Terse.", "--temperature", "0.4", "--max-tokens", "9",
                         "--db", str(database), "a question"]) == 0
    with ConversationStore(database) as store:
        conversation = store.get_conversation(store.latest_conversation_id())
    assert conversation is not None
    defaults = settings_for("http://127.0.0.1:9/v1")
    assert (conversation.model, conversation.system, conversation.temperature,
            conversation.max_tokens, conversation.params_saved) == (
        "fake-model", "Terse.", 0.4, 9, True)
    assert defaults.temperature is None  # so 0.4 above did not come from the defaults
