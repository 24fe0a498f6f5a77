"""The streaming pace: every number that decides when a chunk is read, drawn, counted and saved.

One frozen object, so the numbers can be read side by side; docs/PACING.md follows a chunk
from the socket to the screen and says where each number came from (the measurements are in
the commits named there and in benchmarks/RESULTS.md). The classes that use a number keep it as
a class attribute taken from here (tests and benchmarks read those).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pacing:
    """How often and for how long each stage of a streaming answer runs."""

    # -- the socket (compat.sdk_hooks.body_reads, on the aiohttp transport) -----------------
    flood_read_gap: float = 0.002
    flood_read_bytes: int = 4096
    """A body that brings at least `flood_read_bytes` within `flood_read_gap` seconds (2 MB/s:
    some 8,000 chunks a second of a hosted API, a few hundred bytes each) floods: its reads
    are then spaced `flood_read_gap` apart, the socket paused in between, so what arrives
    meanwhile is taken in one piece. The cost is per read (about 40 µs through all the
    layers), and a quiet machine otherwise reads a flood a few events at a time. At 500
    chunks/s a window holds one or two chunks, so no answer a person reads is held."""

    # -- reading (session.Exchange) --------------------------------------------------------
    read_turn: float = 0.002
    """Seconds the reader keeps the event loop while chunks are already there to read; then
    it gives way, so drawing and keys get their turn and the display takes everything that
    arrived in one piece."""

    # -- drawing (widgets.MessageView) -----------------------------------------------------
    frame_interval: float = 1 / 20
    """While chunks come faster than `quiet_gap` apart, streaming text is drawn at most this
    often: those that arrive within the interval wait, and the first chunk that comes once it
    is up is drawn at once with them (a frame rides on a chunk); a chunk that none follows is
    drawn one interval after it came."""
    quiet_gap: float = 1 / 20
    """A chunk that comes at least this long after the one before it is drawn at once."""
    fast_frame_interval: float = 1 / 40
    """...and this often while they pour in: chunks less than `fast_gap` apart on average
    (every frame carries several then, so a longer wait saves little and adds latency)."""
    fast_gap: float = 1 / 150
    fast_chunks: int = 5
    """...or when the last draw carried more chunks than this: at 500 chunks/s they come in
    bursts a read at a time, whose gaps (a frame's work) hide the pace from `fast_gap`; without
    this, frames fell back to `frame_interval` there and p50 rose from 18 to 30 ms (prose at
    500/s, terminal_bench, 2026-12-03). At 50/s a 1/20 s frame carries 2-3 chunks."""
    draw_budget: float = 0.005
    """Seconds one draw spends at most on text not drawn yet; the rest follows on the next
    frames, and keys are read in between."""
    flood_chars: int = 1000
    """A frame that brought more characters than this (or could not draw them all) starts a
    flood..."""
    flood_frame_interval: float = 1 / 15
    flood_draw_budget: float = 0.012
    """...and in a flood frames come this often and draw this long."""
    jump_lines: int = 8
    """While streaming, an answer's height grows this many lines at a time (the transcript
    relayouts and scrolls once per block, not once per line)."""

    # -- the chat screen -------------------------------------------------------------------
    status_interval: float = 0.25
    """The status bar's figures are refreshed at most this often while an answer streams."""
    save_interval: float = 0.5
    """The growing answer is saved this often (and at its end): a crash loses less."""
    collect_after: float = 0.4
    """Seconds after an answer ends before the full garbage collection it held back."""

    # -- the process -----------------------------------------------------------------------
    held_full_collection_threshold: int = 1_000_000
    """The third-generation threshold of Python's garbage collector while an answer streams:
    high enough that no full collection runs mid-stream (gc_pauses.py)."""
    switch_interval: float = 0.001
    """Seconds of Python's GIL switch interval in the app (default 0.005): Textual's input
    thread needs the GIL to pass each key on, and a flood held it for whole intervals."""


PACING = Pacing()
"""The pace the app runs at."""
