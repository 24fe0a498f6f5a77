"""`python -m tui_chat` in a real pseudo-terminal: the bytes it writes (nothing from the model or a
paste that a terminal would act on; OSC 52 when asked to copy), the files it leaves, and what
survives `kill -9`.

Every test runs the installed entry point with its XDG directories inside tmp_path, against the
loopback fake server (or against nothing), and keeps each wait bounded.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply, RunningFakeOpenAI
from tests.pty_harness import TerminalApp, tui_chat_argv
from tui_chat.store import ConversationStore

KEY = "sk-test-FAKEKEY123456789"
START = 15.0
"""Seconds the app may take to show its first screen (imports on a slow CI machine)."""
STEP = 30.0
"""Upper bound for one answer or for quitting: it flaked at 10 s on a loaded machine (the first
request imports the SDK); a healthy run takes a fraction of it."""
ALTERNATE_SCREEN = b"\x1b[?1049h"
"""The first thing a Textual app writes to take over the terminal."""

# Every family of terminal control an answer could try: OSC 52 (clipboard), OSC 0 (title),
# CSI 2J (clear), OSC 8 (hyperlink), BEL, C1 CSI (0x9b), and DCS in both 7- and 8-bit form.
ANSWER = ("safe \x1b]52;c;SGVsbG8=\x07 \x1b]0;PWNED\x07 \x1b[2J \x1b]8;;http://evil.test\x1b\\link"
          "\x1b]8;;\x1b\\ \x07PWN \x9b2J \x1bPqDCS7\x1b\\ \x90qDCS8\x9c end-of-answer")
INJECTED = (b"\x1b]52;c;SGVsbG8", b"\x1b]0;PWNED", b"\x1b[2J \x1b", b"\x1b]8;;http",
            b"\x07PWN", b"\x9b2J", b"\x1bPqDCS7", b"\xc2\x90", b"\xc2\x9b", b"\xc2\x9c")
# A CR and a Ctrl+Q byte after an escape sequence: once read as keys, they sent half a prompt and
# quit the app (see tui_chat/paste_guard.py).
PASTE = (b"\x1b[200~pasted \x1b]52;c;UEFTVEU=\x07 \x1b]0;PASTED\x07 \x1b[2J\rline two\x11 done"
         b"\x1b[201~")
PASTE_SENT = "pasted ␛]52;c;UEFTVEU=\ufffd ␛]0;PASTED\ufffd ␛[2J\nline two\ufffd done"
PASTE_INJECTED = (b"\x1b]52;c;UEFTVEU", b"\x1b]0;PASTED")


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """XDG dirs inside tmp_path, no key unless given, and every proxy variable cleared."""
    env = {f"XDG_{name}_HOME": str(tmp_path / name.lower())
           for name in ("CONFIG", "DATA", "STATE", "CACHE")}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "http_proxy", "https_proxy", "all_proxy"):
        env[name] = ""
    env.update(extra)
    return env


def app_argv(url: str, *args: str) -> list[str]:
    return tui_chat_argv("--base-url", url, "--model", "m", *args)


@pytest.fixture
def fake() -> Iterator[RunningFakeOpenAI]:
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
        yield running


def quit_app(app: TerminalApp) -> int | None:
    app.press("ctrl+q")
    return app.close(STEP)


def test_escape_sequences_in_an_answer_and_in_a_paste_never_reach_the_terminal(
        fake: RunningFakeOpenAI, tmp_path: Path) -> None:
    # Split inside sequences: each chunk must be made safe on its own.
    fake.fake.script(Reply(chunks=[ANSWER[:8], ANSWER[8:30], ANSWER[30:]]))
    argv = app_argv(fake.url, "--db", str(tmp_path / "c.db"))
    with TerminalApp(argv, env=environment(tmp_path, OPENAI_API_KEY=KEY)) as app:
        assert app.wait_for("Ask anything", START)
        app.type("go")
        app.press("enter")
        assert app.wait_for("end-of-answer", 10)
        assert app.wait_for("tokens", 10)  # the answer has finished
        app.write(PASTE)
        assert app.wait_for("pasted", 10)
        # Kept on purpose: this checks that nothing happens, which no condition can wait for.
        time.sleep(0.3)  # time for any key replayed from the paste to act
        assert app.process.poll() is None  # still running
        assert len(fake.fake.chat_requests) == 1  # nothing sent by the paste itself
        app.press("enter")  # sent: the paste is drawn again, in the transcript
        assert app.wait_for("line two", 10)
        assert app.wait_for("fake server answering", 10)
        screen_title = app.screen.title if app.screen is not None else ""
        display = app.display()
        assert quit_app(app) == 0
        written = bytes(app.output)
    assert written.startswith(b"\x1b") and ALTERNATE_SCREEN in written  # it did draw
    for sequence in (*INJECTED, *PASTE_INJECTED):
        assert sequence not in written, sequence
    assert "␛]52;c;SGVsbG8=".encode() in written  # shown, as a visible placeholder
    assert "␛]52;c;UEFTVEU=".encode() in written
    assert "PWNED" not in screen_title and "PASTED" not in screen_title
    assert "safe" in display  # the screen was not cleared by the answer
    # The whole paste, one piece, went to the model as the person saw it.
    assert fake.fake.chat_requests[1].messages[-1]["content"] == PASTE_SENT


def test_the_key_is_never_written_anywhere_even_when_the_server_echoes_it(
        fake: RunningFakeOpenAI, tmp_path: Path) -> None:
    fake.fake.script(Reply.error(401),  # OpenAI-shaped body quoting the key it was sent
                     Reply.error(403, "key {api_key} may not use this model"),
                     Reply.error(400, "bad request from key {api_key}"),
                     Reply(chunks=["a fine ", "answer"]))
    db = tmp_path / "data" / "tui-chat" / "conversations.db"
    env = environment(tmp_path, OPENAI_API_KEY=KEY)
    with TerminalApp(app_argv(fake.url), env=env) as app:
        assert app.wait_for("Ask anything", START)
        # Each wait names words of that answer alone: a bare "403" also matched the fake
        # server's port in the line before (e.g. 127.0.0.1:40312), and "four" was typed while
        # "three" still streamed.
        for prompt, shown in (("one", "401: API key rejected"), ("two", "403: access denied"),
                              ("three", "400: 127.0.0.1"), ("four", "a fine answer")):
            app.type(prompt)
            app.press("enter")
            assert app.wait_for(shown, STEP), app.display()
        assert "OPENAI_API_KEY" in app.display()  # the 401 line says where to set it
        assert quit_app(app) == 0
        written = bytes(app.output)
    sent = fake.fake.chat_requests
    assert [r.api_key for r in sent] == [KEY] * 4  # the key was in play on every request
    with ConversationStore(db) as store:
        conversation = store.latest_conversation_id()
    assert conversation is not None
    export = subprocess.run(
        tui_chat_argv("export", str(conversation), "--format", "json", "--db", str(db)),
        capture_output=True, env={**os.environ, **env}, timeout=60, check=True)
    exported = json.loads(export.stdout)
    assert "a fine answer" in json.dumps(exported, ensure_ascii=False)
    log = tmp_path / "state" / "tui-chat" / "log" / "tui-chat.log"
    assert "401" in log.read_text(encoding="utf-8")  # the failures were logged, just not the key
    written_files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert db in written_files and log in written_files
    for path in (db, log):  # in their default places, too, private to the person
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent
    for blob in (written, export.stdout, export.stderr,
                 *(path.read_bytes() for path in written_files)):
        assert KEY.encode() not in blob
        assert b"FAKEKEY" not in blob  # not even a part of it


def test_the_files_the_app_creates_are_private(fake: RunningFakeOpenAI, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["stored ", "answer"]))
    db = tmp_path / "fresh" / "nested" / "c.db"  # --db into directories that do not exist yet
    env = environment(tmp_path, OPENAI_API_KEY=KEY)
    with TerminalApp(app_argv(fake.url, "--db", str(db)), env=env) as app:
        assert app.wait_for("Ask anything", START)
        app.type("keep this")
        app.press("enter")
        assert app.wait_for("stored answer", 10)
        assert quit_app(app) == 0
    log = tmp_path / "state" / "tui-chat" / "log" / "tui-chat.log"
    made = [path for path in (db.parent, db.parent.parent, log.parent)
            for path in [path, *path.iterdir()]]
    assert db in made and log in made
    for path in made:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    with ConversationStore(db) as store:  # and it really holds the conversation
        conversation = store.latest_conversation_id()
        assert conversation is not None
        assert [m.content for m in store.messages(conversation)] == ["keep this", "stored answer"]


@pytest.mark.parametrize(("config", "line", "problem"), [
    ('model = "m"\ntemperature = "hot"\n', 2, "temperature"),
    ('model = "m"\n\nbase_url "http://x"\n', 3, "invalid TOML"),
    ('model = "m"\napi_key = "sk-test-CONFIGKEY99999"\n', 2, "api_key_env"),
    ('model = "m"\ncolour = "blue"\n', 2, "unknown setting 'colour'"),
], ids=["wrong-type", "toml-syntax", "key-in-config", "unknown-setting"])
def test_an_invalid_config_prints_one_line_and_exits_2_without_starting(
        tmp_path: Path, config: str, line: int, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(config, encoding="utf-8")
    with TerminalApp(tui_chat_argv("--config", str(path)), env=environment(tmp_path)) as app:
        code = app.close(10)
        written = bytes(app.output)
    assert code == 2
    assert ALTERNATE_SCREEN not in written  # the TUI never started
    lines = written.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert str(path) in lines[0] and f"line {line}" in lines[0] and problem in lines[0], lines[0]
    assert "Traceback" not in lines[0] and "CONFIGKEY" not in lines[0]
    assert not (tmp_path / "data").exists()  # nothing was created from a half-read config


def test_without_a_key_a_hosted_endpoint_shows_the_first_run_hint_and_sends_nothing(
        tmp_path: Path) -> None:
    # Any request the app made would have to go through this loopback "proxy"; none may come.
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        proxy.setblocking(False)
        proxy_url = f"http://127.0.0.1:{proxy.getsockname()[1]}"
        env = environment(tmp_path, HTTPS_PROXY=proxy_url, HTTP_PROXY=proxy_url,
                          ALL_PROXY=proxy_url, https_proxy=proxy_url, http_proxy=proxy_url)
        argv = tui_chat_argv("--base-url", "https://api.openai.com/v1", "--db",
                             str(tmp_path / "c.db"))
        with TerminalApp(argv, env=env) as app:
            assert app.wait_for("OPENAI_API_KEY", START)
            display = " ".join(app.display().split())
            # Kept on purpose: this checks that no request comes, which no condition can wait for.
            time.sleep(0.5)  # the SDK warm-up, if any, would run now
            assert quit_app(app) == 0
        with pytest.raises(BlockingIOError):
            proxy.accept()
    assert "api.openai.com needs an API key" in display
    assert "export OPENAI_API_KEY" in display and "--api-key-env" in display
    assert "Traceback" not in display


def test_kill_9_mid_answer_keeps_the_question_and_the_partial_answer(
        fake: RunningFakeOpenAI, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=[f"word{i} " for i in range(2000)], chunks_per_second=20))
    db = tmp_path / "c.db"
    env = environment(tmp_path, OPENAI_API_KEY=KEY)
    with TerminalApp(app_argv(fake.url, "--db", str(db)), env=env) as app:
        assert app.wait_for("Ask anything", START)
        app.type("tell me a long story")
        app.press("enter")
        assert app.wait_for("word3 ", 10)
        first_text = time.monotonic()
        # Kept on purpose: the time streamed is the behaviour (saves are periodic).
        time.sleep(1.6)  # > 1.5 s of streaming: several periodic saves are due
        assert time.monotonic() - first_text > 1.5
        app.kill()  # SIGKILL: no handler, no clean-up
        assert app.process.returncode == -9
    sent = fake.fake.chat_requests[0].text_sent
    with ConversationStore(db) as store:
        assert store.mark_interrupted() == 1
        conversation = store.latest_conversation_id()
        assert conversation is not None
        question, answer = store.messages(conversation)
    assert (question.role, question.content) == ("user", "tell me a long story")
    assert answer.role == "assistant" and answer.status == "interrupted"
    assert answer.content.startswith("word0 word1 word2 ")
    assert sent.startswith(answer.content)  # what was saved is what had arrived, in order
    # At most about a second of text is lost (20 chunks a second here; 40 is two seconds, slack for
    # a loaded machine and the time the kill takes to land).
    assert len(answer.content.split()) >= len(sent.split()) - 40


def test_copy_writes_the_answer_to_the_terminal_clipboard_with_osc_52(
        fake: RunningFakeOpenAI, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["Copy ", "me: 你好"]))
    env = environment(tmp_path, OPENAI_API_KEY=KEY)
    with TerminalApp(app_argv(fake.url, "--db", str(tmp_path / "c.db")), env=env) as app:
        assert app.wait_for("Ask anything", START)
        app.type("q")
        app.press("enter")
        assert app.wait_for("tokens", 10)  # the answer has finished
        app.write(b"\x07")  # ctrl+g
        expected = b"\x1b]52;c;" + base64.b64encode("Copy me: 你好".encode())
        assert app.wait_for_output(expected, 10)
        assert quit_app(app) == 0
