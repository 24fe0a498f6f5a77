"""Terminal flow control (XON/XOFF) off while the app runs, back as it was afterwards.

With `ixon` on, the terminal's line discipline takes Ctrl+S (stop output) and Ctrl+Q (start
output) for itself: the app never sees those keys, and a Ctrl+S freezes the screen until
Ctrl+Q. Full-screen programs (vim, less, htop) turn it off. Textual's driver also clears it
once it has started, but only from then on; this covers the whole run, from before the app's
first frame until after its last, and puts the saved setting back even when the app fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO

try:
    import termios
except ImportError:  # pragma: no cover - Windows has no termios (and no XON/XOFF here)
    termios = None  # type: ignore[assignment]


@contextlib.contextmanager
def flow_control_off(stream: IO[str] | int | None = None) -> Iterator[bool]:
    """Clear IXON/IXOFF on the terminal behind `stream` (default stdin) for the block.

    Yields whether anything was changed (False when the stream is not a terminal).
    """
    fd = _fileno(sys.stdin if stream is None else stream)
    saved = None
    if termios is not None and fd is not None:
        try:
            saved = termios.tcgetattr(fd)
            changed = list(saved)
            changed[0] = saved[0] & ~(termios.IXON | termios.IXOFF)
            termios.tcsetattr(fd, termios.TCSANOW, changed)
        except (termios.error, OSError):
            saved = None
    try:
        yield saved is not None
    finally:
        if saved is not None and termios is not None and fd is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(fd, termios.TCSANOW, saved)


def _fileno(stream: IO[str] | int) -> int | None:
    if isinstance(stream, int):
        return stream if _isatty(stream) else None
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if _isatty(fd) else None


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
