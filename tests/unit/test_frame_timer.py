"""FrameTimer on a virtual clock, used the way the screen uses it (each tick pauses the timer):
a resumed timer ticks at once, or one interval after its last tick, and never later."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import AsyncIterator

import pytest
from textual.app import App
from textual.screen import Screen

import tui_chat.screens
from tui_chat import frame_timer
from tui_chat.app import make_app
from tui_chat.compat.textual_hooks import active_app
from tui_chat.config import load_settings
from tui_chat.frame_timer import FrameTimer
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.screens.chat import ChatScreen


class VirtualClock:
    """Time moves only when the test sets it or the timer sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def get_time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class Screenish:
    """Stands in for the screen: each tick notes the time and pauses the timer."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.ticks: list[float] = []
        self.timer = FrameTimer(self, 1.0, callback=self.on_tick, pause=True)

    def on_tick(self) -> None:
        self.ticks.append(self.clock.now)
        self.timer.pause()

    async def resume_at(self, when: float) -> None:
        self.clock.now = max(self.clock.now, when)
        self.timer.resume()
        await settle()


@pytest.fixture
async def screen(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Screenish]:
    clock = VirtualClock()
    monkeypatch.setattr(frame_timer, "get_time", clock.get_time)
    monkeypatch.setattr(frame_timer, "sleep", clock.sleep)
    async with App[None]().run_test() as pilot:
        active_app.set(pilot.app)  # a tick runs its callback as the app's timers do
        target = Screenish(clock)
        target.timer._start()
        await settle()
        yield target
        target.timer.stop()


async def test_a_resumed_timer_ticks_at_once_after_a_quiet_spell(screen: Screenish) -> None:
    await screen.resume_at(10.0)
    await screen.resume_at(15.0)
    await screen.resume_at(115.5)

    assert screen.ticks == [10.0, 15.0, 115.5]


async def test_a_tick_comes_one_interval_after_the_last_and_no_later(screen: Screenish) -> None:
    await screen.resume_at(10.0)
    await screen.resume_at(10.1)  # too soon: waits out the interval from 10.0, no more
    await screen.resume_at(11.5)
    await screen.resume_at(11.6)
    await screen.resume_at(20.0)  # late for any grid of ticks
    await screen.resume_at(20.05)

    assert screen.ticks == [10.0, 11.0, 12.0, 13.0, 20.0, 21.0]


async def test_a_paused_timer_does_not_tick(screen: Screenish) -> None:
    screen.clock.now = 50.0
    await settle()

    assert screen.ticks == []


def test_every_screen_of_ours_is_paced() -> None:
    screens = []
    for module_info in pkgutil.iter_modules(tui_chat.screens.__path__):
        module = importlib.import_module(f"tui_chat.screens.{module_info.name}")
        screens += [value for value in vars(module).values()
                    if isinstance(value, type) and issubclass(value, Screen)
                    and value.__module__ == module.__name__]
    assert len(screens) >= 7
    assert [screen.__name__ for screen in screens
            if not issubclass(screen, frame_timer.PacedUpdates)] == []


async def test_the_running_chat_screen_draws_with_a_frame_timer() -> None:
    settings = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m")
    app = make_app(settings, ScriptedProvider([]))
    async with app.run_test() as pilot:
        await pilot.press("h", "i")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        assert isinstance(screen._update_timer, FrameTimer)
        assert screen._update_timer in screen._timers
        assert "hi" in app.screen.query_one("#prompt").text
