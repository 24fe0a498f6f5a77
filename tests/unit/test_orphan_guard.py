"""orphan_guard: a child ends when the process that started it is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from tests.browser.harness import all_gone, wait_until

REPO = Path(__file__).resolve().parents[2]

# The parent starts one child, prints the child's pid, then waits to be killed.
PARENT = textwrap.dedent("""
    import subprocess, sys, time
    from tui_chat.orphan_guard import die_with_parent
    kind = sys.argv[1]
    if kind == "native":
        child = subprocess.Popen(["sleep", "60"], preexec_fn=die_with_parent())
    else:
        child = subprocess.Popen([sys.executable, "-c", CHILD, kind])
    print(child.pid, flush=True)
    time.sleep(60)
""")
# A Python child that guards itself; "stubborn" ignores SIGTERM, so only the hard exit ends it.
CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from tui_chat.orphan_guard import exit_with_parent
    if sys.argv[1] == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    exit_with_parent(os.getppid(), grace=0.5)
    time.sleep(60)
""")


@pytest.mark.parametrize("kind", ["native", "python", "stubborn"])
def test_a_child_ends_when_its_parent_is_killed(kind: str) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH",
                                                                                   "")]))
    parent = subprocess.Popen([sys.executable, "-c", f"CHILD = {CHILD!r}\n{PARENT}", kind],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        if kind != "native":  # wait until the guard is in place: its thread is running
            wait_until(lambda: psutil.Process(child).num_threads() >= 2, 10,
                       message="the guard thread")
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        wait_until(lambda: all_gone({child}), 10, message="the orphan to end")
    finally:
        if parent.poll() is None:
            parent.kill()
