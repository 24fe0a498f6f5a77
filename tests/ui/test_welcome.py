"""The welcome of an empty conversation, in place of an empty screen and a toast."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Static

from tests.ui.test_chat_screen import SETTINGS, settle
from tui_chat.app import make_app
from tui_chat.models import Delta, Finished
from tui_chat.providers import missing_key_message
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.store import ConversationStore


def welcome_text(app) -> str | None:
    found = app.screen.query("#welcome")
    return str(found.first(Static).render()) if found else None


async def test_the_welcome_names_endpoint_and_model_and_replaces_the_key_toast() -> None:
    notice = missing_key_message(SETTINGS)
    app = make_app(SETTINGS, ScriptedProvider([Delta("ok"), Finished("stop")]),
                   startup_notices=[notice])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        text = welcome_text(app)
        assert text is not None
        for words in ("test-model", "http://127.0.0.1:9/v1", "--base-url", "--model",
                      "config.toml", "F1", "Ctrl+P", notice):
            assert words in " ".join(text.split()), words
        assert list(app._notifications) == []  # no toast covers the input's hint
        await pilot.press(*"hello", "enter")
        await settle(app, pilot)
        assert welcome_text(app) is None  # gone once the conversation starts
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert welcome_text(app) is not None  # a new, empty conversation


async def test_the_welcome_never_shows_a_password_written_into_the_url() -> None:
    settings = replace(SETTINGS, base_url="http://alice:s3cret-pw@127.0.0.1:9/v1?key=k3y")
    app = make_app(settings, ScriptedProvider([Delta("ok"), Finished("stop")]))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = " ".join((welcome_text(app) or "").split())
        assert "http://127.0.0.1:9/v1" in text
        screen = app.export_screenshot()  # everything on screen, as SVG text
        for secret in ("s3cret", "alice", "k3y"):
            assert secret not in text and secret not in screen, secret


async def test_a_reopened_conversation_has_no_welcome_and_the_notice_is_a_toast(
        tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c.db") as store:
        conversation = store.create_conversation("Old")
        store.add_message(conversation, "user", "earlier question")
        app = make_app(SETTINGS, ScriptedProvider(), store=store, conversation_id=conversation,
                       startup_notices=["no key here"])
        async with app.run_test(notifications=True) as pilot:
            await pilot.pause()
            assert welcome_text(app) is None
            assert [n.message for n in app._notifications] == ["no key here"]
