"""`tui-chat` as a server process for tests (`serve`), stopped with Ctrl+C as a user would."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys

import pytest

KEY = "sk-test-SHAREDOPTS-0123456789"
DEAD_ENDPOINT = "http://127.0.0.1:9/v1"
"""Where a dropped --base-url would send the request instead: nothing listens there."""


def environment() -> dict[str, str]:
    # The conftest points the XDG dirs into tmp_path; a dropped option falls back to these.
    return {**os.environ, "OPENAI_BASE_URL": DEAD_ENDPOINT, "OPENAI_API_KEY": KEY,
            "OPENAI_MODEL": "env-model"}


class running:
    """`tui-chat ARGS` as a server process, until its first stdout line (the banner)."""

    def __init__(self, *argv: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tui_chat", *argv],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=environment())

    def __enter__(self) -> str:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=30):
                self.__exit__()
                pytest.fail("the server printed nothing within 30 s")
        banner = self.process.stdout.readline()
        if not banner:
            _, errors = self.process.communicate(timeout=10)
            pytest.fail(f"the server did not start: {errors}")
        return banner

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
