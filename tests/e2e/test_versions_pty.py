"""In a real terminal: kill -9 mid-answer, reopen with -c, Ctrl+R, Esc, then Tab and [ bring the
longer interrupted answer back. The keys go through a pty as a terminal sends them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tests.pty_harness import TerminalApp, tui_chat_argv
from tui_chat.store import ConversationStore

WORDS = [f"story{i} " for i in range(400)]


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {f"XDG_{name}_HOME": str(tmp_path / name.lower())
           for name in ("CONFIG", "DATA", "STATE", "CACHE")}
    env["OPENAI_API_KEY"] = "sk-test-not-real"
    env["PYTHONPATH"] = os.getcwd()
    return env


def saved_chars(database: Path) -> int:
    """How much of the streaming answer the app has saved so far."""
    with ConversationStore(database) as store:
        conversation = store.latest_conversation_id()
        if conversation is None:
            return 0
        rows = store.messages(conversation)
    return len(rows[-1].content) if rows and rows[-1].role == "assistant" else 0


def wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def fake():
    with FakeOpenAI.start_in_thread() as running:
        yield running


def test_the_interrupted_answer_is_reachable_after_kill_retry_and_escape(
        fake, tmp_path: Path) -> None:
    database = tmp_path / "c.db"
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(database))
    fake.fake.script(Reply(chunks=WORDS, chunks_per_second=40),
                     Reply(chunks=["Short ", "retry ", "never"], stall_after=2))
    with TerminalApp(argv, env=env_for(tmp_path), size=(100, 30)) as app:
        assert app.wait_for("ready", 30)
        app.type("tell me a story")
        app.press("enter")
        assert wait_until(lambda: saved_chars(database) > 200), "nothing saved while streaming"
        app.kill()  # SIGKILL: no chance to save or clean up
    kept = saved_chars(database)

    with TerminalApp([*argv, "-c"], env=env_for(tmp_path), size=(100, 30)) as app:
        assert app.wait_for("interrupted", 30), app.display()
        app.press("ctrl+r")
        assert app.wait_for("Short retry", 15), app.display()
        app.press("escape")
        assert app.wait_for("‹ 2/2 › ■ cancelled", 10), app.display()
        app.press("\t")  # Tab: the newest message first
        # Focus moves a moment after the key is read; the footer then offers the version keys.
        assert app.wait_for("Older version", 10), app.display()
        app.press("[")
        assert app.wait_for("‹ 1/2 › ⚠ interrupted", 10), app.display()
        assert "Short retry" not in app.display()
        app.press("]")
        assert app.wait_for("‹ 2/2 › ■ cancelled", 10), app.display()
        app.press("[")
        assert app.wait_for("‹ 1/2 ›", 10), app.display()
        app.press("ctrl+q")
        app.close()
    with ConversationStore(database) as store:
        rows = store.messages(store.latest_conversation_id())
    assert rows[-1].status == "interrupted" and len(rows[-1].content) >= kept > 200


SLOW_REMOVAL = '''
import asyncio
from tui_chat.widgets.message_view import MessageView

_remove = MessageView.remove


async def _slow_remove(self):
    # A slow machine: time passes between putting the new view in and taking the old one out.
    await asyncio.sleep(0.3)
    await _remove(self)


MessageView.remove = _slow_remove
'''


def test_switching_versions_never_shows_both_in_one_frame(fake, tmp_path: Path) -> None:
    """The shown version is replaced in one frame, even when the removal of the old view takes
    time: the terminal (one with synchronized output) never presents both versions at once."""
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "sitecustomize.py").write_text(SLOW_REMOVAL)
    env = env_for(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "slow"), os.getcwd()])
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(tmp_path / "c.db"))
    fake.fake.script(Reply(chunks=["First ", "answer ", "here"]),
                     Reply(chunks=["Second ", "answer ", "now"]))
    with TerminalApp(argv, env=env, size=(80, 24), synchronized=True) as app:
        assert app.wait_for("ready", 30), app.display()
        app.type("hello")
        app.press("enter")
        assert app.wait_for("First answer here", 15), app.display()
        app.press("ctrl+r")
        assert app.wait_for("‹ 2/2 ›", 15), app.display()
        assert app.wait_for("Second answer now", 15), app.display()
        app.press("\t")
        assert app.wait_for("Older version", 10), app.display()
        app.press("[")
        assert app.wait_for("‹ 1/2 ›", 10), app.display()
        app.press("]")
        assert app.wait_for("‹ 2/2 ›", 10), app.display()
        app.press("ctrl+q")
        app.close()
    both = [frame for frame in app.frames if "‹ 1/2 ›" in frame and "‹ 2/2 ›" in frame]
    assert not both, f"{len(both)} frames showed both versions, the first:\n{both[0]}"
