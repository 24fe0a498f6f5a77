"""Textual: after a late tick, a repeating timer (skip=True) skips to one grid point too far.

A timer of 0.1 s starts at t=0; its first callback blocks until t=0.25. The grid points are
0.1, 0.2, 0.3, 0.4, ...; 0.2 was missed, so the next tick should come at 0.3. It comes at 0.4.
Cause (textual/timer.py, Timer._run): after a missed point it sets
`count = int((now - start) / interval + 1)` and then waits for `start + (count + 1) * interval`,
one interval beyond the first point that is still ahead.
"""

from __future__ import annotations

import time

from textual.app import App

INTERVAL = 0.1


class Repro(App[None]):
    def on_mount(self) -> None:
        self.ticks: list[float] = []
        self.start = time.monotonic()
        self.set_interval(INTERVAL, self.tick)

    def tick(self) -> None:
        now = time.monotonic() - self.start
        self.ticks.append(now)
        if len(self.ticks) == 1:
            time.sleep(0.25 - now)  # the first tick's work runs until t=0.25
        elif len(self.ticks) == 2:
            self.exit()


if __name__ == "__main__":
    app = Repro()
    app.run(headless=True)
    first, second = app.ticks
    print(f"first tick at {first:.3f} s, second tick at {second:.3f} s")
    print("expected: the second tick at about 0.300 s (the next grid point after 0.25 s)")
    print("late by a whole interval" if second > 0.35 else "on time: fixed upstream")
