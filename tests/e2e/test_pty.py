"""The installed app in a real pseudo-terminal: the bytes it writes, the files it leaves."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tests.pty_harness import TerminalApp, tui_chat_argv
from tui_chat.store import ConversationStore

FAKE_KEY = "sk-test-FAKEKEY0123456789abcdef"
PAYLOAD = ("safe \x1b]52;c;SGVsbG8=\x07 \x1b]0;PWNED\x1b\\ \x1b[2J \x1b]8;;http://evil\x1b\\link"
           "\x1b]8;;\x1b\\ \x07PWN \x9b2J \x90qDCS\x1b\\ end-of-answer")
INJECTED = (b"\x1b]52;c;SGVsbG8", b"\x1b]0;PWNED", b"\x1b]8;;http://evil", b"\x07PWN",
            b"\xc2\x9b2J", b"\x1b[2J \x1b", b"\x90qDCS")


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {f"XDG_{name}_HOME": str(tmp_path / name.lower())
           for name in ("CONFIG", "DATA", "STATE", "CACHE")}
    env.pop("OPENAI_API_KEY", None)
    env.update(extra)
    return env


@pytest.fixture
def fake():
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
        yield running


def test_escape_sequences_from_the_model_and_from_a_paste_never_reach_the_terminal(
        fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=[PAYLOAD[:20], PAYLOAD[20:]]))
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(tmp_path / "c.db"))
    with TerminalApp(argv, env=env_for(tmp_path)) as app:
        assert app.wait_for("Ask anything", 15)
        app.type("go")
        app.press("enter")
        assert app.wait_for("end-of-answer", 15)
        app.write(b"\x1b[200~pasted \x1b]52;c;UEFTVEU=\x07 \x1b]0;PASTED\x1b\\ text\x1b[201~")
        assert app.wait_for("pasted", 10)
        time.sleep(0.3)
        app.press("ctrl+q")
        app.close(10)
        written = bytes(app.output)
    for sequence in (*INJECTED, b"\x1b]52;c;UEFTVEU", b"\x1b]0;PASTED"):
        assert sequence not in written
    assert "␛]52;c;SGVsbG8=".encode() in written


def test_the_key_never_appears_anywhere_and_files_are_private(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply.error(401, "Incorrect API key provided: {api_key}"),
                     Reply(chunks=["fine ", "answer"]))
    db = tmp_path / "data" / "tui-chat" / "conversations.db"
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m")
    env = env_for(tmp_path, OPENAI_API_KEY=FAKE_KEY)
    with TerminalApp(argv, env=env) as app:
        assert app.wait_for("Ask anything", 15)
        app.type("first")
        app.press("enter")
        assert app.wait_for("401", 15)
        app.type("second")
        app.press("enter")
        assert app.wait_for("fine answer", 15)
        app.press("ctrl+q")
        app.close(10)
        screen_bytes = bytes(app.output)
    export = subprocess.run([*tui_chat_argv("export", "1", "--format", "json", "--db",
                                            str(db))], capture_output=True, env={**os.environ,
                            **env}, timeout=30, check=True).stdout
    assert json.loads(export)
    everything = [screen_bytes, export]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            everything.append(path.read_bytes())
    assert fake.fake.chat_requests[0].api_key == FAKE_KEY  # it was really sent to the server
    for blob in everything:
        assert FAKE_KEY.encode() not in blob
    created = [db, tmp_path / "state" / "tui-chat" / "log" / "tui-chat.log"]
    for path in created:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent


def test_an_invalid_config_stops_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('model = "m"\ntemperature = "hot"\n')
    result = subprocess.run(tui_chat_argv("--config", str(config)), capture_output=True,
                            text=True, env={**os.environ, **env_for(tmp_path)}, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(config) in lines[0] and "line 2" in lines[0] and "temperature" in lines[0]


def test_without_a_key_a_hosted_endpoint_shows_how_to_set_one(tmp_path: Path) -> None:
    # Nothing is sent anywhere: the hint shows at start, before any prompt.
    argv = tui_chat_argv("--base-url", "https://api.openai.com/v1", "--db",
                         str(tmp_path / "c.db"))
    with TerminalApp(argv, env=env_for(tmp_path)) as app:
        assert app.wait_for("OPENAI_API_KEY", 15)
        assert "export" in app.display()
        app.press("ctrl+q")
        assert app.close(10) == 0


def test_kill_9_mid_answer_keeps_the_partial_answer_marked_interrupted(fake,
                                                                      tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=[f"word{i} " for i in range(2000)], chunks_per_second=40))
    db = tmp_path / "c.db"
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(db))
    with TerminalApp(argv, env=env_for(tmp_path)) as app:
        assert app.wait_for("Ask anything", 15)
        app.type("tell me a long story")
        app.press("enter")
        assert app.wait_for("word20", 15)
        time.sleep(1.6)  # at least one periodic save has happened
        app.kill()
        sent = len(fake.fake.chat_requests[0].chunks)
    with ConversationStore(db) as store:
        assert store.mark_interrupted() == 1
        conversation = store.latest_conversation_id()
        user, answer = store.messages(conversation)
    assert user.content == "tell me a long story"
    assert answer.status == "interrupted"
    assert answer.content.startswith("word0 word1 ")
    # At most about a second of text is lost (40 chunks a second here), with some slack for
    # the time the kill takes to land.
    assert len(answer.content.split()) >= sent - 60


def test_reopening_with_continue_shows_the_interrupted_answer(fake, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with ConversationStore(db) as store:
        conversation = store.create_conversation(title="old")
        store.add_message(conversation, "user", "earlier question")
        answer = store.start_answer(conversation, model="m")
        store.save_partial(answer, "half an answer")
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(db), "-c")
    with TerminalApp(argv, env=env_for(tmp_path)) as app:
        assert app.wait_for("half an answer", 15)
        assert app.wait_for("interrupted", 5)
        app.press("ctrl+q")
        app.close(10)
    assert sys.platform  # ran to the end


def test_copy_writes_the_answer_to_the_terminal_clipboard_with_osc_52(fake,
                                                                     tmp_path: Path) -> None:
    import base64

    fake.fake.script(Reply(chunks=["Copy ", "me: 你好"]))
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(tmp_path / "c.db"))
    with TerminalApp(argv, env=env_for(tmp_path)) as app:
        assert app.wait_for("Ask anything", 15)
        app.type("q")
        app.press("enter")
        assert app.wait_for("tokens", 15)
        app.write(b"\x07")  # ctrl+g
        expected = b"\x1b]52;c;" + base64.b64encode("Copy me: 你好".encode())
        assert app.wait_for_output(expected, 10)
        app.press("ctrl+q")
        app.close(10)
