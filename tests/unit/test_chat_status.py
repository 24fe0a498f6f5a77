"""StatusReport: the status bar's figures from an Exchange alone, no app or widget."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from dataclasses import dataclass

from tui_chat.models import Delta, Finished, Message, RequestParams, Usage
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.screens.chat_status import StatusReport
from tui_chat.session import Exchange
from tui_chat.widgets.status_bar import StatusFigures


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Shown:
    text: str = ""


async def read_all(exchange: Exchange) -> None:
    async with asyncio.timeout(5), aclosing(exchange.display_text()) as pieces:
        async for _ in pieces:
            pass


def test_before_any_answer_only_the_phase_shows() -> None:
    report = StatusReport(Clock())

    assert report.figures("ready", None, None) == StatusFigures(phase="ready")


async def test_a_finished_answer_shows_the_servers_count_and_the_notices() -> None:
    clock = Clock()
    provider = ScriptedProvider([Delta("Hello"), Usage(5, 2), Finished("stop")])
    exchange = Exchange(provider, [Message("user", "hi")], RequestParams("m"), clock=clock)
    await read_all(exchange)
    report = StatusReport(clock)
    report.context_note = "context: last 2 of 9 messages"
    report.message = "a notice"

    figures = report.figures("done", exchange, Shown("Hello"))

    assert (figures.phase, figures.tokens, figures.tokens_estimated) == ("done", 2, False)
    assert figures.context_note == "context: last 2 of 9 messages"
    assert figures.message == "a notice"
    assert figures.thinking_tokens is None


async def test_while_streaming_the_count_follows_the_text_on_screen() -> None:
    clock = Clock()
    provider = ScriptedProvider([Delta("x" * 40)], stall_after=1)
    exchange = Exchange(provider, [Message("user", "hi")], RequestParams("m"), clock=clock)
    pieces = exchange.display_text()
    async with asyncio.timeout(5):
        await anext(pieces)
    report = StatusReport(clock)
    shown = Shown("x" * 8)

    clock.now += 0.1  # too soon for a speed
    assert report.figures("streaming", exchange, shown).tokens_per_second is None
    shown.text = "x" * 40
    clock.now += 0.9
    figures = report.figures("streaming", exchange, shown)

    assert (figures.tokens, figures.tokens_estimated) == (10, True)
    assert figures.tokens_per_second == 10 / 1.0
    assert figures.elapsed == 1.0

    report.start_answer()  # the next answer counts from nothing
    assert report.figures("streaming", exchange, Shown("x" * 4)).tokens == 1
    await pieces.aclose()
