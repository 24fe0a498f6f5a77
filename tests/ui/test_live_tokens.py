"""While an answer streams, the status bar's token count follows the text on screen."""

from __future__ import annotations

import asyncio

from tests.ui.test_chat_screen import SETTINGS, GatedProvider
from tui_chat.app import make_app
from tui_chat.context_window import RunningEstimate, estimate_tokens
from tui_chat.widgets.status_bar import StatusBar

WORDS = " ".join(["streaming"] * 36) + " "  # 36 words in one chunk, as a batching server sends


async def test_the_count_while_streaming_is_estimated_from_the_text_shown() -> None:
    provider = GatedProvider([WORDS], ["日本語 " * 4])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press(*"go", "enter")
        async with asyncio.timeout(5):
            await provider.sent_first.wait()
        bar = app.screen.query_one(StatusBar)
        expected = estimate_tokens(WORDS)
        assert expected > 50
        async with asyncio.timeout(5):
            while bar.figures.tokens != expected:
                await pilot.pause(0.05)
        assert bar.figures.tokens_estimated
        assert "~" + str(expected) + " tok" in str(bar.render())
        await pilot.press("ctrl+s")  # paused: what arrives now is not shown, nor counted
        provider.gate.set()
        async with asyncio.timeout(5):
            while bar.figures.buffered_chars == 0:
                await pilot.pause(0.05)
        assert bar.figures.tokens == expected
        await pilot.press("ctrl+s")
        async with asyncio.timeout(5):
            await app.workers.wait_for_complete()


def test_the_running_estimate_matches_the_estimate_of_the_whole_text() -> None:
    pieces = ["Hel", "lo, 世", "界! ", "a" * 13, "🙂", " end"]
    running = RunningEstimate()
    for piece in pieces:
        running.add(piece)
    assert running.tokens == estimate_tokens("".join(pieces))
