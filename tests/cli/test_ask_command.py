"""`tui-chat ask` as a subprocess against the loopback server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.store import ConversationStore

KEY = "sk-test-FAKEKEY0123456789zzz"


@pytest.fixture
def fake():
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
        yield running


def run(tmp_path: Path, *args: str, url: str, stdin: str | None = None,
        key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_BASE_URL": url}
    env.pop("OPENAI_API_KEY", None)
    if key:
        env["OPENAI_API_KEY"] = key
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(tmp_path / name.lower())
    return subprocess.run([sys.executable, "-m", "tui_chat", "ask", "--model", "m",
                           "--db", str(tmp_path / "c.db"), *args],
                          input=stdin if stdin is not None else "", capture_output=True,
                          text=True, env=env, timeout=60)


def test_streams_the_answer_and_stores_the_exchange(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["The ", "answer ", "是 🙂"]))
    result = run(tmp_path, "what", "is", "it?", url=fake.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The answer 是 🙂\n"
    assert result.stderr == ""
    assert fake.fake.chat_requests[0].messages[-1]["content"] == "what is it?"
    with ConversationStore(tmp_path / "c.db") as store:
        rows = store.messages(store.latest_conversation_id())
    assert [(r.role, r.content, r.status) for r in rows] == [
        ("user", "what is it?", "done"), ("assistant", "The answer 是 🙂", "done")]


def test_piped_stdin_follows_the_question(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["looks fine"]))
    result = run(tmp_path, "review this", url=fake.url, stdin="diff --git a/x b/x\n+new\n")
    assert result.returncode == 0, result.stderr
    sent = fake.fake.chat_requests[0].messages[-1]["content"]
    assert sent == "review this\n\ndiff --git a/x b/x\n+new\n"


def test_json_prints_one_object(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["four"], usage=(9, 1)))
    result = run(tmp_path, "--json", "2+2?", url=fake.url)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["content"] == "four" and data["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    assert isinstance(data["conversation_id"], int)


def test_no_save_stores_nothing(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["x"]))
    assert run(tmp_path, "--no-save", "q", url=fake.url).returncode == 0
    assert not (tmp_path / "c.db").exists()


def test_a_rejected_key_is_one_line_exit_1_and_never_printed(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply.error(401, "Incorrect API key provided: {api_key}"))
    result = run(tmp_path, "q", url=fake.url)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tui-chat: 401")
    assert KEY not in result.stderr + result.stdout
    assert KEY.encode() not in (tmp_path / "c.db").read_bytes()


def test_a_broken_stream_keeps_the_printed_text_and_exits_1(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["par", "tial", "never"], cut_after=2))
    result = run(tmp_path, "q", url=fake.url)
    assert result.returncode == 1
    assert result.stdout.startswith("partial")
    with ConversationStore(tmp_path / "c.db") as store:
        answer = store.messages(store.latest_conversation_id())[-1]
    assert (answer.content, answer.status) == ("partial", "interrupted")


def test_dead_server_and_bad_config_and_empty_prompt(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    config = tmp_path / "c.toml"
    config.write_text("retries = 0\n")
    dead = run(tmp_path, "--config", str(config), "q", url=url)
    assert dead.returncode == 1 and "cannot reach" in dead.stderr
    config.write_text("retries = -1\n")
    bad = run(tmp_path, "--config", str(config), "q", url=url)
    assert bad.returncode == 2 and "line 1" in bad.stderr
    empty = run(tmp_path, url=url)
    assert empty.returncode == 2 and "nothing to ask" in empty.stderr


def test_the_opt_in_cache_answers_an_identical_request_without_the_server(fake,
                                                                          tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["cached ", "answer"]), Reply(chunks=["fresh answer"]))
    first = run(tmp_path, "--cache", "--json", "same question", url=fake.url)
    second = run(tmp_path, "--cache", "--json", "same question", url=fake.url)
    assert json.loads(first.stdout)["cached"] is False
    data = json.loads(second.stdout)
    assert (data["content"], data["cached"]) == ("cached answer", True)
    assert len(fake.fake.chat_requests) == 1
    other = run(tmp_path, "--cache", "--json", "another question", url=fake.url)
    assert json.loads(other.stdout)["content"] == "fresh answer"
    without = run(tmp_path, "--json", "same question", url=fake.url)  # off by default
    assert len(fake.fake.chat_requests) == 3 and json.loads(without.stdout)["cached"] is False
    cache_file = tmp_path / "cache.db"
    assert (cache_file.stat().st_mode & 0o777) == 0o600
    assert KEY.encode() not in cache_file.read_bytes()
