"""`tui-chat ask` as a subprocess: the cases test_ask_command.py leaves out (Ctrl+C, retries,
stdin alone, the input limit, failures under --json, what a cache hit stores)."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.store import ConversationStore

KEY = "sk-test-ASKKEY9876543210qqq"


@pytest.fixture
def fake():
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
        yield running


def environment(tmp_path: Path, url: str) -> dict[str, str]:
    env = {**os.environ, "OPENAI_BASE_URL": url, "OPENAI_API_KEY": KEY}
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(tmp_path / name.lower())
    return env


def command(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tui_chat", "ask", "--model", "m",
            "--db", str(tmp_path / "c.db"), *args]


def run(tmp_path: Path, *args: str, url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(tmp_path, *args), input=stdin, capture_output=True, text=True,
                          env=environment(tmp_path, url), timeout=60)


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


def stored(tmp_path: Path) -> list[tuple[str, str, str]]:
    with ConversationStore(tmp_path / "c.db") as store:
        rows = store.messages(store.latest_conversation_id())
    return [(row.role, row.content, row.status) for row in rows]


def assert_quiet_about_the_key(result: subprocess.CompletedProcess[str]) -> None:
    assert KEY not in result.stdout + result.stderr


def test_piped_text_alone_is_the_prompt(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["ok"]))
    result = run(tmp_path, url=fake.url, stdin="just the piped text\n")
    assert result.returncode == 0, result.stderr
    assert fake.fake.chat_requests[0].messages[-1]["content"] == "just the piped text"
    assert result.stdout == "ok\n"
    with ConversationStore(tmp_path / "c.db") as store:
        assert store.list_conversations()[0].title.startswith("just the piped text")


def test_a_prompt_over_the_limit_is_refused_before_any_request(fake, tmp_path: Path) -> None:
    limit = config(tmp_path, "max_input_chars = 20\n")
    result = run(tmp_path, "--config", limit, "review this", url=fake.url, stdin="x" * 40)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tui-chat: ") and "20" in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert fake.fake.chat_requests == []


def test_a_transient_failure_is_retried_with_a_line_on_stderr(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply.error(503, retry_after=1), Reply(chunks=["second ", "time"]))
    result = run(tmp_path, "--config", config(tmp_path, "retries = 2\n"), "q", url=fake.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "second time\n"
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tui-chat: retrying in 1 s: 503")
    assert len(fake.fake.chat_requests) == 2
    assert stored(tmp_path)[-1] == ("assistant", "second time", "done")
    assert_quiet_about_the_key(result)


def test_an_immediate_retry_says_0_s_not_minus_0(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply.error(503, retry_after=0), Reply(chunks=["ok"]))
    result = run(tmp_path, "--config", config(tmp_path, "retries = 1\n"), "q", url=fake.url)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("tui-chat: retrying in 0 s: ")

def test_a_failure_under_json_is_still_one_object_and_one_stderr_line(fake,
                                                                      tmp_path: Path) -> None:
    fake.fake.script(Reply.error(401))
    result = run(tmp_path, "--json", "q", url=fake.url)
    assert result.returncode == 1
    data = json.loads(result.stdout)  # exactly one object: json.loads refuses trailing data
    assert data["content"] == "" and data["cached"] is False and data["usage"] is None
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("tui-chat: ")
    assert_quiet_about_the_key(result)
    assert stored(tmp_path)[-1][2] == "failed"


def test_json_reports_the_model_and_timings(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["a", "b"], usage=(3, 2)))
    data = json.loads(run(tmp_path, "--json", "q", url=fake.url).stdout)
    assert set(data) >= {"model", "content", "finish_reason", "usage", "ttft", "total_time",
                         "cached", "conversation_id"}
    assert (data["model"], data["content"]) == ("m", "ab")
    assert data["ttft"] is not None and data["total_time"] >= data["ttft"] >= 0


def test_a_cache_hit_is_still_stored_as_its_own_conversation(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["from ", "the server"]))
    first = run(tmp_path, "--cache", "same", url=fake.url)
    second = run(tmp_path, "--cache", "same", url=fake.url)
    assert first.returncode == second.returncode == 0
    assert second.stdout == first.stdout == "from the server\n"
    assert len(fake.fake.chat_requests) == 1
    with ConversationStore(tmp_path / "c.db") as store:
        conversations = store.list_conversations()
        assert len(conversations) == 2
        answers = [store.messages(c.id)[-1] for c in conversations]
    assert [(a.content, a.status) for a in answers] == [("from the server", "done")] * 2


def test_a_failed_answer_is_not_cached(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["half", "never"], cut_after=1), Reply(chunks=["whole"]))
    assert run(tmp_path, "--cache", "q", url=fake.url).returncode == 1
    retry = run(tmp_path, "--cache", "--json", "q", url=fake.url)
    assert json.loads(retry.stdout)["content"] == "whole"
    assert len(fake.fake.chat_requests) == 2


def test_ctrl_c_exits_130_and_keeps_the_partial_answer_as_cancelled(tmp_path: Path) -> None:
    # Slow enough that the interrupt always lands mid-answer.
    with FakeOpenAI.start_in_thread(chunks_per_second=20) as slow:
        slow.fake.script(Reply(chunks=[f"w{i} " for i in range(400)]))
        process = subprocess.Popen(command(tmp_path, "q"), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=environment(tmp_path, slow.url))
        try:
            assert process.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                assert selector.select(timeout=20), "no answer text within 20 s"
            printed = os.read(process.stdout.fileno(), 4096)
            assert printed.startswith(b"w0 ")
            process.send_signal(signal.SIGINT)
            rest, errors = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 130, errors
    assert b"Traceback" not in errors
    role, content, status = stored(tmp_path)[-1]
    assert (role, status) == ("assistant", "cancelled")
    text = (printed + rest).decode()
    assert content.startswith("w0 ") and text.startswith(content) and len(content) < 400 * 3


def test_a_rate_limit_with_retries_off_is_one_request_and_one_line(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply.error(429))
    result = run(tmp_path, "--config", config(tmp_path, "retries = 0\n"), "q", url=fake.url)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tui-chat: ") and "429" in lines[0]
    assert len(fake.fake.chat_requests) == 1
    assert stored(tmp_path)[-1][2] == "failed"
    assert_quiet_about_the_key(result)


def test_no_key_for_a_hosted_endpoint_prints_the_first_run_hint(tmp_path: Path) -> None:
    # The hint is raised before any connection, so naming a hosted host sends nothing.
    env = environment(tmp_path, "https://api.openai.com/v1")
    del env["OPENAI_API_KEY"]
    result = subprocess.run(command(tmp_path, "q"), input="", capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "api.openai.com needs an API key" in lines[0]
    assert "OPENAI_API_KEY" in lines[0]


def test_a_reader_that_goes_away_ends_quietly_with_141(tmp_path: Path) -> None:
    with FakeOpenAI.start_in_thread(chunks_per_second=20) as slow:
        slow.fake.script(Reply(chunks=[f"w{i} " for i in range(400)]))
        process = subprocess.Popen(command(tmp_path, "q"), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=environment(tmp_path, slow.url))
        try:
            assert process.stdout is not None and process.stderr is not None
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                assert selector.select(timeout=20), "no answer text within 20 s"
            assert os.read(process.stdout.fileno(), 4096).startswith(b"w0 ")
            process.stdout.close()  # like `| head -c 3` exiting
            errors = process.stderr.read()
            process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 141
    assert errors == b""
    role, content, status = stored(tmp_path)[-1]
    assert (role, status) == ("assistant", "cancelled") and content.startswith("w0 ")


def test_undecodable_piped_bytes_are_replaced_not_fatal(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["ok"]))
    result = subprocess.run(command(tmp_path, "review this"), input=b"caf\xe9 \xff\n",
                            capture_output=True, env=environment(tmp_path, fake.url),
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ok\n"
    sent = fake.fake.chat_requests[0].messages[-1]["content"]
    assert sent == "review this\n\ncaf\ufffd \ufffd\n"
    assert stored(tmp_path)[0][1] == sent


def test_an_ascii_only_stdout_gets_question_marks_not_a_traceback(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["café ", "🙂 done"]))
    env = {**environment(tmp_path, fake.url), "PYTHONIOENCODING": "ascii"}
    result = subprocess.run(command(tmp_path, "q"), input=b"", capture_output=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"caf? ? done\n"
    assert stored(tmp_path)[-1][1] == "café 🙂 done"  # only the terminal copy is lossy


def test_a_closed_stdin_is_no_input(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["ok"]))
    shell = ["/bin/sh", "-c", 'exec "$@" <&-', "sh", *command(tmp_path, "q")]
    result = subprocess.run(shell, capture_output=True, text=True,
                            env=environment(tmp_path, fake.url), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
    assert fake.fake.chat_requests[0].messages[-1]["content"] == "q"


HOSTILE = "a\x1b]0;owned\x07b\x1b[2Jc\r\nd\u202eevil"


def test_hostile_text_is_verbatim_into_a_pipe_and_safe_on_a_terminal(fake, tmp_path: Path) -> None:
    # Sanitised only where text becomes terminal cells (issue 14, item 20): a pipe or a file
    # gets what the model sent, a terminal gets visible placeholders.
    import pty

    fake.fake.script(Reply(chunks=[HOSTILE[:4], HOSTILE[4:]]), Reply(chunks=[HOSTILE]))
    piped = subprocess.run(command(tmp_path, "q"), input=b"", capture_output=True,
                           env=environment(tmp_path, fake.url), timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.decode() == HOSTILE + "\n"
    main, child = pty.openpty()
    try:
        process = subprocess.Popen(command(tmp_path, "q"), stdin=subprocess.DEVNULL,
                                   stdout=child, stderr=subprocess.PIPE,
                                   env=environment(tmp_path, fake.url))
        os.close(child)
        shown = b""
        while True:
            try:
                data = os.read(main, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            shown += data
        assert process.wait(timeout=60) == 0
    finally:
        os.close(main)
    text = shown.decode()
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "a␛]0;owned" in text and "b␛[2Jc" in text
    assert stored(tmp_path)[-1][1] == HOSTILE  # stored as sent, both times
