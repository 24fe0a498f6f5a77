"""Textual: a timer started paused ticks a whole interval after its first resume().

Two timers of 0.5 s. `running` starts unpaused and is paused at t=0.2, before its first tick;
`paused` is created with pause=True. Both are resumed at t=1.0. `running` ticks at once (its
first grid point, 0.5, is past); `paused` ticks at 1.5, a whole interval later. Every later
resume() of either ticks at once when a grid point has passed, so only the first resume of a
timer started paused is late. Textual's screen update timer is created this way
(Screen._update_timer, pause=True), so the first frame after a refresh waits an interval.
Cause (textual/timer.py, Timer._run): it waits for `_active` before it reads the start time,
so the grid starts at the first resume, and the first point is one interval after it.
"""

from __future__ import annotations

import time

from textual.app import App

INTERVAL = 0.5


class Repro(App[None]):
    def on_mount(self) -> None:
        self.start = time.monotonic()
        self.ticks: dict[str, float] = {}
        self.running = self.set_interval(INTERVAL, lambda: self.tick("running"))
        self.set_timer(0.2, self.running.pause)  # after it started, before its first tick
        self.paused = self.set_interval(INTERVAL, lambda: self.tick("paused"), pause=True)
        self.set_timer(1.0, self.resume_both)

    def resume_both(self) -> None:
        self.resumed = time.monotonic() - self.start
        self.running.resume()
        self.paused.resume()

    def tick(self, name: str) -> None:
        self.ticks.setdefault(name, time.monotonic() - self.start)
        if len(self.ticks) == 2:
            self.exit()


if __name__ == "__main__":
    app = Repro()
    app.run(headless=True)
    print(f"both resumed at {app.resumed:.3f} s")
    for name, when in app.ticks.items():
        print(f"  {name:8} timer first ticked at {when:.3f} s")
    print("expected: both at about the time they were resumed")
    late = app.ticks["paused"] - app.resumed
    print("started-paused timer late by a whole interval" if late > INTERVAL * 0.8
          else "on time: fixed upstream")
