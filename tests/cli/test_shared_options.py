"""Shared options mean the same before or after the subcommand (issue 14, item 2).

`tui-chat --base-url URL --model m ask x` used to drop both options and send the question to the
default endpoint. Every subcommand is run here with the options in both places: `ask` and `serve`
as real processes against the loopback server, `list`/`export`/`import` on a real SQLite file,
`web` by the command line it hands each browser session, and a bad `--config` for all of them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.server_process import environment, running
from tests.fake_openai import FakeOpenAI, Reply
from tui_chat import cli
from tui_chat.store import ConversationStore

POSITIONS = ("before", "after")


def placed(position: str, shared: list[str], command: str, *rest: str) -> list[str]:
    if position == "before":
        return [*shared, command, *rest]
    return [command, *shared, *rest]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
        yield running.fake


def tui_chat(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui_chat", *argv], input=stdin,
                          capture_output=True, text=True, env=environment(), timeout=60)


@pytest.mark.parametrize("position", POSITIONS)
def test_ask_sends_to_the_endpoint_model_and_database_given(fake: FakeOpenAI, tmp_path: Path,
                                                            position: str) -> None:
    fake.script(Reply(chunks=["local ", "answer"]))
    db = tmp_path / "mine.db"
    shared = ["--base-url", fake.url, "--model", "m", "--system", "Be terse.",
              "--temperature", "0.25", "--max-tokens", "42", "--db", str(db)]
    result = tui_chat(*placed(position, shared, "ask", "x"), stdin="piped file\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "local answer\n"
    [request] = fake.chat_requests
    assert request.model == "m"
    assert request.body["temperature"] == 0.25 and request.body["max_tokens"] == 42
    assert request.messages[0] == {"role": "system", "content": "Be terse."}
    assert request.messages[-1]["content"] == "x\n\npiped file\n"
    with ConversationStore(db) as store:
        assert store.list_conversations()[0].title.startswith("x")


@pytest.mark.parametrize("position", POSITIONS)
def test_serve_listens_with_the_options_given(fake: FakeOpenAI, position: str) -> None:
    fake.script(Reply(chunks=["relayed"]))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shared = ["--base-url", fake.url, "--model", "m", "--system", "Be terse."]
    with running(*placed(position, shared, "serve", "--port", str(port))) as banner:
        assert f"127.0.0.1:{port}" in banner and "(m)" in banner
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/chat", data=json.dumps({"message": "hi"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=20) as response:
            assert json.load(response)["data"]["content"] == "relayed"
    [upstream] = fake.chat_requests
    assert upstream.model == "m"
    assert upstream.messages[0] == {"role": "system", "content": "Be terse."}


@pytest.mark.parametrize("position", POSITIONS)
def test_ask_goes_through_the_relay_given(fake: FakeOpenAI, position: str) -> None:
    """`--relay` works for `ask`: the question reaches the relay's upstream, not the endpoint
    of this process's settings."""
    fake.script(Reply(chunks=["via ", "relay"]))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with running("serve", "--port", str(port), "--base-url", fake.url, "--model", "up"):
        relay = ["--relay", f"http://127.0.0.1:{port}", "--no-stream"]
        result = tui_chat(*placed(position, relay, "ask", "q"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "via relay\n"
    [upstream] = fake.chat_requests
    assert upstream.model == "up" and upstream.messages[-1]["content"] == "q"


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, int]:
    """A database that is not the default one, holding one conversation."""
    path = tmp_path / "other.db"
    with ConversationStore(path) as store:
        chat = store.create_conversation("kept in other.db", model="m")
        store.add_message(chat, "user", "what is in other.db?")
        answer = store.start_answer(chat, model="m")
        store.finish_answer(answer, "this answer", "done")
    return path, chat


@pytest.mark.parametrize("position", POSITIONS)
def test_list_reads_the_database_given(db: tuple[Path, int], position: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = db
    assert cli.main(placed(position, ["--db", str(path)], "list")) == 0
    out = capsys.readouterr().out
    assert "kept in other.db" in out and "No conversations" not in out


@pytest.mark.parametrize("position", POSITIONS)
def test_export_reads_the_database_given(db: tuple[Path, int], position: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path, chat = db
    assert cli.main(placed(position, ["--db", str(path)], "export", str(chat))) == 0
    assert "this answer" in capsys.readouterr().out


@pytest.mark.parametrize("position", POSITIONS)
def test_import_writes_to_the_database_given(db: tuple[Path, int], tmp_path: Path,
                                             position: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path, chat = db
    with ConversationStore(path) as store:
        exported = store.export_json(chat)
    export = tmp_path / "export.json"
    export.write_text(json.dumps(exported))
    assert cli.main(placed(position, ["--db", str(path)], "import", str(export))) == 0
    new_id = int(capsys.readouterr().out)
    with ConversationStore(path) as store:
        ids = [c.id for c in store.list_conversations()]
    assert len(ids) == 2 and set(ids) == {chat, new_id}


@pytest.mark.parametrize("position", POSITIONS)
def test_web_sessions_get_the_options_given(position: str, tmp_path: Path) -> None:
    shared = ["--base-url", "http://127.0.0.1:1234/v1", "--model", "m", "--db",
              str(tmp_path / "w.db"), "--relay", "http://127.0.0.1:3000", "--relay-token", "T0K"]
    args = cli.build_parser().parse_args(placed(position, shared, "web"))
    from tui_chat.web import app_command

    command = app_command(args)
    for word in ("--base-url http://127.0.0.1:1234/v1", "--model m", f"--db {tmp_path}/w.db",
                 "--relay http://127.0.0.1:3000"):
        assert word in command
    assert "T0K" not in command  # a token on a command line would show in `ps`


def test_an_option_after_the_command_wins_over_the_same_option_before() -> None:
    args = cli.build_parser().parse_args(["--model", "first", "ask", "--model", "second", "x"])
    assert args.model == "second"


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("command", [["ask", "x"], ["list"], ["export", "1"],
                                     ["import", "nothing.json"], ["serve", "--port", "9"],
                                     ["web", "--port", "9"]])
def test_a_bad_config_file_is_one_line_and_status_2(tmp_path: Path, command: list[str],
                                                    position: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("temperature = 'hot'\n")
    assert cli.main(placed(position, ["--config", str(bad)], *command)) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tui-chat: ") and "bad.toml" in lines[0]
    assert captured.out == ""


@pytest.mark.parametrize("flag", [["--continue"], ["--conversation", "3"], ["--full-redraw"]])
def test_an_app_option_with_a_command_is_refused_not_ignored(
        flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*flag, "list"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and flag[0] in lines[0] and "list" in lines[0]


def test_top_level_help_shows_the_shared_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for option in ("--base-url", "--model", "--db", "--config", "--profile", "--api-key-env",
                   "--relay", "--relay-token", "--system", "--temperature", "--max-tokens"):
        assert option in out
    assert "before or after" in out
