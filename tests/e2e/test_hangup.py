"""The terminal goes away under the app (the window closed, the SSH connection dropped): the
app ends (the local engine it started ends with it: tests/real)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.pty_harness import TerminalApp, tui_chat_argv


def test_the_app_ends_when_its_terminal_hangs_up(tmp_path: Path) -> None:
    argv = tui_chat_argv("--base-url", "http://127.0.0.1:9/v1", "--db", str(tmp_path / "c.db"))
    with TerminalApp(argv, size=(80, 24)) as app:
        assert app.wait_for("Ask anything", 20), app.display()
        app.hang_up()
        try:
            returncode = app.process.wait(10)
        except subprocess.TimeoutExpired:
            raise AssertionError("the app still runs 10 s after its terminal hung up") from None
        assert returncode == -signal.SIGHUP, returncode
