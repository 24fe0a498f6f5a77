"""Attaching files through the real app, against the loopback server in its vision modes:
Ctrl+T's path prompt, `@path` in the message, chips, refusals, retry with another model,
and the files back after reopening."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests import images
from tests.fake_openai import FakeOpenAI
from tui_chat.app import TuiChatApp, make_app
from tui_chat.config import load_settings
from tui_chat.screens.attach_file import AttachFileScreen
from tui_chat.screens.chat import ChatScreen
from tui_chat.store import ConversationStore
from tui_chat.widgets.attachment_tray import AttachmentChip, AttachmentTray
from tui_chat.widgets.message_view import MessageView

WAIT = 10.0
PNG = images.png(4, 3)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a text file, an image and a directory."""
    (tmp_path / "notes.md").write_text("# Notes\nThe project is BLUEHERON.\n")
    (tmp_path / "shot.png").write_bytes(PNG)
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def app_for(fake: FakeOpenAI, store: ConversationStore | None = None,
            conversation_id: int | None = None, model: str = "fake-model") -> TuiChatApp:
    settings = load_settings(None, {"OPENAI_API_KEY": "sk-test"}, base_url=fake.url,
                             model=model, system="", retries=0)
    return make_app(settings, store=store, conversation_id=conversation_id)


async def until(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await pilot.pause(0.02)


async def settle(app: TuiChatApp, pilot: Pilot[None]) -> None:
    async with asyncio.timeout(WAIT):
        await app.workers.wait_for_complete()
    await pilot.pause()


def chat(app: TuiChatApp) -> ChatScreen:
    screen = app.screen_stack[0]
    assert isinstance(screen, ChatScreen)
    return screen


def chips(app: TuiChatApp) -> list[str]:
    return [str(chip.render()) for chip in chat(app).query(AttachmentChip)]


async def attach(app: TuiChatApp, pilot: Pilot[None], path: str) -> None:
    await pilot.press("ctrl+t")
    await until(pilot, lambda: isinstance(app.screen, AttachFileScreen))
    app.screen.query_one(Input).value = path
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ChatScreen))


async def send(app: TuiChatApp, pilot: Pilot[None], text: str) -> None:
    chat(app).prompt_input.text = text
    await pilot.press("enter")
    await settle(app, pilot)


async def test_ctrl_t_attaches_a_chip_that_can_be_removed_and_the_image_is_sent(
        files: Path) -> None:
    async with FakeOpenAI(vision=True) as fake:
        app = app_for(fake)
        async with app.run_test(size=(80, 24)) as pilot:
            await attach(app, pilot, "notes.md")
            await attach(app, pilot, "shot.png")
            assert chips(app) == ["📎 notes.md · 34 B ✕",
                                  f"📎 shot.png · {len(PNG)} B · 4×3 · PNG ✕"]
            await pilot.press("backspace")  # in the empty input: the last chip goes
            assert chips(app) == ["📎 notes.md · 34 B ✕"]
            await attach(app, pilot, "shot.png")
            await send(app, pilot, "what is this?")
            assert chips(app) == [] and not chat(app).query_one(AttachmentTray).display
            question, answer = chat(app).query(MessageView)
            assert question.attachments[1].name == "shot.png"
            assert "📎 notes.md · 34 B   📎 shot.png" in question._footer_text()
            assert answer.text == f"I see 1 image(s): image/png {len(PNG)} bytes 4x3."
        parts = fake.chat_requests[0].messages[-1]["content"]
        assert parts[0]["text"].startswith("```notes.md\n# Notes\n")
        assert parts[0]["text"].endswith("\n```\n\nwhat is this?")
        assert [image.data for image in fake.chat_requests[0].images] == [PNG]


async def test_a_message_of_files_alone_can_be_sent(files: Path) -> None:
    async with FakeOpenAI(vision=True) as fake:
        app = app_for(fake)
        async with app.run_test(size=(80, 24)) as pilot:
            await attach(app, pilot, "shot.png")
            await pilot.press("enter")
            await settle(app, pilot)
        assert [p["type"] for p in fake.chat_requests[0].messages[-1]["content"]] == [
            "image_url"]


async def test_at_paths_attach_existing_files_and_leave_other_words_as_text(
        files: Path) -> None:
    async with FakeOpenAI(vision=True) as fake:
        app = app_for(fake)
        async with app.run_test(size=(80, 24)) as pilot:
            text = "summarise @notes.md, then mail a@b.com or @nobody"
            await send(app, pilot, text)
            (question, _answer) = chat(app).query(MessageView)
            assert question.text == text and question.attachments[0].name == "notes.md"
        sent = fake.chat_requests[0].messages[-1]["content"]
        assert sent == "```notes.md\n# Notes\nThe project is BLUEHERON.\n```\n\n" + text


async def test_an_at_path_that_cannot_be_attached_is_one_line_and_nothing_is_lost(
        files: Path) -> None:
    async with FakeOpenAI(vision=True) as fake:
        app = app_for(fake)
        async with app.run_test(size=(80, 24)) as pilot:
            await attach(app, pilot, "shot.png")
            chat(app).prompt_input.text = "look at @src"
            await pilot.press("enter")
            await until(pilot, lambda: bool(app._notifications))
            (notice,) = list(app._notifications)
            assert "src: is a directory" in notice.message and "\n" not in notice.message
            assert chat(app).prompt_input.text == "look at @src"
            assert len(chips(app)) == 1 and not chat(app).query(MessageView)
        assert fake.chat_requests == []


async def test_a_model_without_vision_says_so_and_retry_with_a_vision_model_works(
        files: Path, tmp_path: Path) -> None:
    async with FakeOpenAI(vision=["gpt-4o-mini"]) as fake:
        store = ConversationStore(tmp_path / "c.db")
        app = app_for(fake, store)
        async with app.run_test(size=(80, 24)) as pilot:
            await attach(app, pilot, "shot.png")
            await send(app, pilot, "what is this?")
            answer = chat(app).query(MessageView).last()
            assert answer.status == "failed"
            assert "fake-model at 127.0.0.1" in answer._footer_text()
            assert "takes no images" in answer._footer_text()
            assert len(fake.chat_requests) == 1  # not retried on its own
            chat(app).set_model("gpt-4o-mini")
            await pilot.press("ctrl+r")
            await settle(app, pilot)
            answer = chat(app).query(MessageView).last()
            assert answer.status == "done" and answer.text.startswith("I see 1 image(s)")
            conversation_id = chat(app).conversation_id
        assert [r.model for r in fake.chat_requests] == ["fake-model", "gpt-4o-mini"]
        assert fake.chat_requests[1].images[0].data == PNG
        # Reopened: the chips are back, and a retry sends the image again.
        app = app_for(fake, store, conversation_id, model="gpt-4o-mini")
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: len(chat(app).query(MessageView)) == 2)
            question = chat(app).query(MessageView).first()
            assert f"📎 shot.png · {len(PNG)} B · 4×3 · PNG" in question._footer_text()
            await pilot.press("ctrl+r")
            await settle(app, pilot)
        assert fake.chat_requests[2].images[0].data == PNG
        store.close()


async def test_the_palette_offers_attaching(files: Path) -> None:
    async with FakeOpenAI(vision=True) as fake:
        app = app_for(fake)
        async with app.run_test(size=(80, 24)):
            titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Chat: attach a file" in titles


async def test_a_chip_goes_with_a_click_or_delete_and_then_an_empty_input_sends_nothing(
        files: Path) -> None:
    async with FakeOpenAI(vision=True) as fake:
        app = app_for(fake)
        async with app.run_test(size=(80, 24)) as pilot:
            await attach(app, pilot, "notes.md")
            await attach(app, pilot, "shot.png")
            first, second = chat(app).query(AttachmentChip)
            await pilot.click(first)
            await until(pilot, lambda: len(chips(app)) == 1)
            assert chips(app)[0].startswith("📎 shot.png")
            second.focus()
            await pilot.press("delete")
            await until(pilot, lambda: chips(app) == [])
            assert not chat(app).prompt_input.has_attachments
            chat(app).prompt_input.focus()
            await pilot.press("enter")
            await pilot.pause()
            assert not chat(app).query(MessageView)
        assert fake.chat_requests == []
