"""The message queue in a real terminal of 80x24, keys sent as the bytes tmux sends."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tests.pty_harness import TerminalApp, tui_chat_argv

UP = "\x1b[A"
"""Up as tmux (and most terminals) send it in normal cursor mode."""


def gone_from(app: TerminalApp, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text not in app.display():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def fake():  # type: ignore[no-untyped-def]
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
        yield running


def test_queue_edit_and_send_in_an_80x24_terminal(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    release = asyncio.Event()  # the first answer streams until the test has queued behind it
    fake.fake.script(Reply(chunks=["w0 ", "w1 ", "end."], stall_after=2, release=release),
                     Reply(chunks=["Two done."]), Reply(chunks=["Three done."]))
    env = {f"XDG_{name}_HOME": str(tmp_path / name.lower())
           for name in ("CONFIG", "DATA", "STATE", "CACHE")}
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(tmp_path / "c.db"),
                         "--system", "")
    with TerminalApp(argv, env=env, size=(80, 24)) as app:
        assert app.wait_for("Ask anything", 20)
        app.type("one")
        app.press("enter")
        assert app.wait_for("w1 ", 20)
        app.type("two")
        app.press("enter")
        app.type("three")
        app.press("enter")
        assert app.wait_for("queued 2 · three", 10), app.display()
        assert "sent when the answer ends" in app.display()
        app.press(UP)  # the newest comes back into the input ...
        assert gone_from(app, "queued 2 · three", 10), app.display()
        assert "queued 1 · two" in app.display()
        app.type("!")  # ... is edited, and queued again
        app.press("enter")
        assert app.wait_for("queued 2 · three!", 10), app.display()
        fake.release(release)
        assert app.wait_for("Three done.", 30), app.display()
    asked = [r.messages[-1]["content"] for r in fake.fake.chat_requests]
    assert asked == ["one", "two", "three!"]
