"""The key footer: fits the terminal's width, and names the pause key for what it does now."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
from textual.widgets import Footer

from tests.ui.test_chat_screen import SETTINGS, GatedProvider
from tui_chat.app import make_app
from tui_chat.providers.scripted import ScriptedProvider


def footer_keys(app) -> dict[str, tuple[str, int, int]]:
    """description -> (key shown, left column, right column) of every key drawn."""
    footer = app.screen.query_one(Footer)
    return {key.description: (key.key_display, key.region.x, key.region.right)
            for key in footer.children if key.display and key.region.width}


async def wait_for_footer(app, pilot, condition) -> dict[str, tuple[str, int, int]]:
    async with asyncio.timeout(5):
        while not condition(keys := footer_keys(app)):
            await pilot.pause(0.02)
    return keys


@pytest.mark.parametrize("width", [80, 120])
async def test_the_footer_fits_and_always_shows_help_and_the_palette(width: int) -> None:
    app = make_app(SETTINGS, ScriptedProvider())
    async with app.run_test(size=(width, 24)) as pilot:
        keys = await wait_for_footer(app, pilot, lambda k: "Help" in k)
        assert keys["Help"][0] == "f1"
        assert "palette" in keys and keys["palette"][0] == "^p"
        assert max(right for _key, _left, right in keys.values()) <= width
        spans = sorted((left, right) for _key, left, right in keys.values())
        assert all(a_right <= b_left for (_, a_right), (b_left, _) in pairwise(spans))
        assert "Cancel" in keys  # the most used keys stay
        if width == 120:
            assert {"Model", "Chats", "Copy", "Quit"} <= keys.keys()
        else:
            assert "Model" not in keys  # the least used key made room


async def test_narrowing_the_terminal_drops_keys_and_widening_brings_them_back() -> None:
    app = make_app(SETTINGS, ScriptedProvider())
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for_footer(app, pilot, lambda k: "Model" in k)
        await pilot.resize_terminal(80, 24)
        keys = await wait_for_footer(app, pilot, lambda k: "Model" not in k and "Help" in k)
        assert max(right for _key, _left, right in keys.values()) <= 80
        await pilot.resize_terminal(120, 24)
        await wait_for_footer(app, pilot, lambda k: "Model" in k)


async def test_the_pause_key_says_resume_while_paused() -> None:
    provider = GatedProvider(["alpha "], ["beta"])
    app = make_app(SETTINGS, provider)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press(*"go", "enter")
        async with asyncio.timeout(5):
            await provider.sent_first.wait()
        await wait_for_footer(app, pilot, lambda k: "Pause" in k)
        await pilot.press("ctrl+s")
        keys = await wait_for_footer(app, pilot, lambda k: "Resume" in k)
        assert "Pause" not in keys and keys["Resume"][0] == "^s"
        await pilot.press("ctrl+s")
        await wait_for_footer(app, pilot, lambda k: "Pause" in k and "Resume" not in k)
        provider.gate.set()
