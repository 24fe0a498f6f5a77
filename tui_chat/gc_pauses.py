"""Python's full garbage collections wait while an answer streams, and run when idle.

A full collection scans every object the app holds; with a long answer on screen that is
hundreds of thousands of strips and segments, and it took 30 to 90 ms (measured with gc
callbacks during a 20,000-chunk answer): a stall in the middle of the stream, where keys and
frames wait for it. While an answer streams, and until the app has been idle a moment after
it, only the young generations are collected (they catch short-lived cycles); then the full
collection runs and the usual thresholds come back.
"""

from __future__ import annotations

import gc

from tui_chat.pacing import PACING

_holds = 0
_threshold: tuple[int, int, int] | None = None
"""The thresholds to restore, while full collections are held back."""


def hold() -> None:
    """An answer starts streaming: no full collections until it ended and the app was idle."""
    global _holds, _threshold
    if _threshold is None:
        _threshold = gc.get_threshold()
        gc.set_threshold(_threshold[0], _threshold[1], PACING.held_full_collection_threshold)
    _holds += 1


def release() -> None:
    """An answer ended (`collect_when_idle` runs the held-back collection)."""
    global _holds
    _holds = max(0, _holds - 1)


def collect_when_idle() -> None:
    """The full collection held back, unless another answer is streaming."""
    global _threshold
    if _holds or _threshold is None:
        return
    gc.collect()
    gc.set_threshold(*_threshold)
    _threshold = None


def holding() -> bool:
    return _threshold is not None
