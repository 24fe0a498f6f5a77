"""Waiting for a condition instead of for a fixed time.

A fixed sleep is either too short on a loaded machine (the test flakes) or too long everywhere
(the suite slows). These wait until the condition holds, polling briefly, and fail with the
condition's description when the timeout passes first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

POLL = 0.02
"""Seconds between looks: short next to any frame, long enough not to spin."""


async def until(pilot: Any, condition: Callable[[], object], timeout: float = 10.0,
                what: str = "") -> None:
    """In a Pilot test: let the app run until `condition()` is true (the app keeps processing
    messages and timers between looks)."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await pilot.pause(POLL)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}") \
            from None


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Outside the app's loop (a pty, a thread): poll `condition()` until it is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(POLL)


async def settle(app: Any, pilot: Any, timeout: float = 10.0) -> None:
    """In a Pilot test of the chat app: wait until the answer workers are done and the screen
    no longer waits, streams or retries."""
    async with asyncio.timeout(timeout):
        await app.workers.wait_for_complete()
    await until(pilot, lambda: app.screen.phase not in ("waiting", "streaming", "retrying"),
                timeout, "the answer to end")
