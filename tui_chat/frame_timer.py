"""FrameTimer: the screen's update timer, paced from its last frame.

Textual draws a screen when its update timer ticks: the screen resumes the timer when
something needs drawing, and the tick pauses it again. Textual's timer keeps a grid of ticks
from when it first ran. When a tick comes later than the next point of that grid, it jumps one
point too far, so the tick after it waits one to two intervals (17-33 ms at 60 frames a second)
instead of at most one. While an answer streams the screen is drawn in spells, so most frames
are late, and a key typed between two frames waited for that. Measured in the pty at 5,000
chunks a second (one run each, 19 keys): a key handled → its echo written took up to 30 ms with
Textual's timer, and up to 13 ms with this one.

This timer ticks as soon as it is resumed, unless the last tick was less than an interval ago;
then it ticks when that interval is up. It is still at most one frame per interval.

It works around two bugs in Textual's timer (docs/UPSTREAM.md) through private API, checked at
start-up by `tui_chat.compat.textual_hooks` (hook "frame_timer"); when that does not fit,
screens keep Textual's own update timer.
"""

from __future__ import annotations

from typing import Any

from textual import constants
from textual.timer import EventTargetGone, Timer

from tui_chat.compat.textual_hooks import count, get_time, overrides, sleep


class FrameTimer(Timer):
    """A repeating timer whose ticks are at least `interval` apart, and no further.

    `reset()` has no effect here (the screen never calls it): there is no grid to restart.
    """

    async def _run(self) -> None:
        last = float("-inf")
        ticks = 0
        while self._repeat is None or ticks < self._repeat:
            await self._active.wait()
            wait = last + self._interval - get_time()
            if wait > 0:
                await sleep(wait)
                await self._active.wait()
            last = get_time()
            ticks += 1
            count("frame_timer")
            try:
                await self._tick(next_timer=last, count=ticks)
            except EventTargetGone:
                break


@overrides("frame_timer", "_update_timer")
class PacedUpdates:
    """For a Screen subclass, listed before Screen: its frames are drawn by a FrameTimer."""

    _frame_timer: FrameTimer | None = None

    @property
    def _update_timer(self) -> Timer:
        timer = self._frame_timer
        if timer is None:
            screen: Any = self
            timer = self._frame_timer = FrameTimer(
                screen, 1 / constants.MAX_FPS, name="screen_update",
                callback=screen._on_timer_update, pause=True)
            timer._start()
            screen._timers.add(timer)  # stopped with the screen, as set_interval's timers are
        return timer
