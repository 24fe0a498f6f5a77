"""SVG snapshot of attachments at 80x24: a sent message with its image and text-file chips,
and a pending image chip above the input."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests import images
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.models import Delta, Finished
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.screens.attach_file import AttachFileScreen
from tui_chat.screens.chat import ChatScreen
from tui_chat.widgets.attachment_tray import AttachmentChip
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput

SETTINGS = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="snapshot-model",
                         system="")


def test_image_chips_on_a_sent_message_and_above_the_input(
        snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "screenshot.png").write_bytes(images.png(1280, 800))
    (tmp_path / "diagram.webp").write_bytes(images.webp_lossy(640, 480))
    (tmp_path / "app.py").write_text("print('hello')\n")
    monkeypatch.chdir(tmp_path)
    provider = ScriptedProvider([Delta("A red rectangle, wider than it is tall."),
                                 Finished("stop")])
    app = make_app(SETTINGS, provider, clock=lambda: 1000.0)

    async def attach(pilot, path: str) -> None:
        await pilot.press("ctrl+t")
        async with asyncio.timeout(10):
            while not isinstance(pilot.app.screen, AttachFileScreen):
                await pilot.pause(0.02)
        await pilot.press(*path, "enter")
        async with asyncio.timeout(10):
            while not isinstance(pilot.app.screen, ChatScreen):
                await pilot.pause(0.02)

    async def run_before(pilot) -> None:
        pilot.app.screen.query_one(PromptInput).cursor_blink = False
        await attach(pilot, "screenshot.png")
        await attach(pilot, "app.py")
        await pilot.press(*"What is this?", "enter")
        async with asyncio.timeout(10):
            await pilot.app.workers.wait_for_complete()
        await attach(pilot, "diagram.webp")
        async with asyncio.timeout(10):
            while len(pilot.app.screen.query(MessageView)) < 2 or not \
                    pilot.app.screen.query(AttachmentChip):
                await pilot.pause(0.02)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
