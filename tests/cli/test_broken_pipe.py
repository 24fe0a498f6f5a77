"""A reader of stdout that has gone (`tui-chat list | true`) ends every command quietly with 141,
as `ask` already did (issue 14, item 11), instead of a BrokenPipeError traceback and status 1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tui_chat.store import ConversationStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "c.db"
    with ConversationStore(path) as store:
        for n in range(50):
            chat = store.create_conversation(f"conversation {n} " + "words " * 20)
            store.add_message(chat, "user", "question " * 200)
        (tmp_path / "export.json").write_text(json.dumps(store.export_json(chat)))
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def into_a_closed_pipe(*argv: str) -> subprocess.CompletedProcess[bytes]:
    """Run `tui-chat ARGV` with stdout a pipe whose reader has already gone: the first write
    fails with EPIPE, every time (no race with a reader that is still there)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "tui_chat", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60,
                              env={**os.environ, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    finally:
        os.close(write_end)


@pytest.mark.parametrize("command", [
    pytest.param(lambda db: ["--db", str(db), "list"], id="list"),
    pytest.param(lambda db: ["--db", str(db), "export", "50"], id="export-md"),
    pytest.param(lambda db: ["--db", str(db), "export", "50", "-f", "json"], id="export-json"),
    pytest.param(lambda db: ["--db", str(db), "import", str(db.with_name("export.json"))],
                 id="import"),
    pytest.param(lambda db: ["serve", "--port", str(free_port())], id="serve-banner"),
])
def test_a_reader_that_went_away_is_status_141_and_no_message(db: Path, command) -> None:
    result = into_a_closed_pipe(*command(db))
    assert result.stderr == b""
    assert result.returncode == 141
