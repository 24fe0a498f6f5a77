"""The app with the local model while the model is still being fetched: the status bar shows
the fetch, and quitting then ends the fetch at once and keeps no partial file."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from tests.pty_harness import TerminalApp, tui_chat_argv
from tui_chat.local.model_file import MODEL_DIR_ENV


def test_quitting_while_the_model_is_fetched_stops_the_fetch_and_keeps_nothing(
        tmp_path: Path) -> None:
    # pip's only index is a loopback port that accepts and never answers: the fetch hangs.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        models = tmp_path / "models"
        env = {f"XDG_{n}_HOME": str(tmp_path / n.lower()) for n in ("CONFIG", "DATA", "STATE")}
        env.update({MODEL_DIR_ENV: str(models), "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "",
                    "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1",
                    "PIP_INDEX_URL": f"http://127.0.0.1:{silent.getsockname()[1]}/simple",
                    "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""})
        with TerminalApp(tui_chat_argv("--local"), env=env, size=(100, 30)) as app:
            assert app.wait_for("downloading local model", 30), app.display()
            assert any(p.name.startswith(".fetch-") for p in models.iterdir())
            started = time.monotonic()
            app.press("ctrl+q")
            assert app.close(15) == 0
            took = time.monotonic() - started
    assert took < 10, took  # not held up until pip gives up (minutes)
    assert list(models.iterdir()) == []  # no partial file, no work folder
