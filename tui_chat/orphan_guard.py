"""End a child process when the process that started it ends, however that one ends.

A parent that is killed (SIGKILL, a crash, the OOM killer) runs no clean-up, so its children
must notice by themselves. Two mechanisms, for the two kinds of child:

- `exit_with_parent(parent_pid)`, called early in a Python child: asks Linux to send it a signal
  when its parent dies (PR_SET_PDEATHSIG), and starts a small thread that watches its parent pid
  (the portable fallback, and a net for the moment before the request took effect). When the
  parent is gone it sends itself `signum` (so the program's own handler can shut down cleanly)
  and, if it is still alive `grace` seconds later, exits hard.
- `die_with_parent()`, a `preexec_fn` for `subprocess.Popen` (or `asyncio.create_subprocess_exec`)
  that starts a program we cannot change (a native server, say): the kernel signals the child
  when the thread that started it ends. Linux only; elsewhere it does nothing.

No library's private API is used; `prctl` is called through ctypes from the C library.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _set_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send `signum` to this process when its parent dies. False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result: int = libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
        return result == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn`: the started program gets `signum` when the starting thread ends."""

    def preexec() -> None:
        _set_parent_death_signal(signum)

    return preexec


def exit_with_parent(parent_pid: int, *, signum: int = signal.SIGTERM, grace: float = 5.0,
                     poll: float = 0.25) -> threading.Thread:
    """End this process when `parent_pid` stops being its parent (see the module docstring).

    Returns the watching thread (a daemon), mostly for tests.
    """
    _set_parent_death_signal(signum)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll)
        with contextlib.suppress(OSError):
            os.kill(os.getpid(), signum)
        time.sleep(grace)
        os._exit(1)

    thread = threading.Thread(target=watch, name="orphan-guard", daemon=True)
    thread.start()
    return thread
