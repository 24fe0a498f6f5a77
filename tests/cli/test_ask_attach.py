"""`tui-chat ask -a FILE`: files attached in pipe mode, against the loopback server."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import images
from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.ask_command import ask_command
from tui_chat.cli import build_parser
from tui_chat.store import ConversationStore


@pytest.fixture
def fake():
    with FakeOpenAI.start_in_thread(chunks_per_second=0, vision=["vision-model"]) as running:
        yield running


def run(tmp_path: Path, *args: str, url: str, model: str = "vision-model",
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-test",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(tmp_path / name.lower())
    return subprocess.run([sys.executable, "-m", "tui_chat", "ask", "--model", model,
                           "--db", str(tmp_path / "c.db"), *args],
                          input="", capture_output=True, text=True, env=env, timeout=60,
                          cwd=cwd or tmp_path)


def ask_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *argv: str,
             url: str) -> tuple[int, str, str]:
    """`ask` in this process (quicker than a subprocess where nothing needs one)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    args = build_parser().parse_args(["ask", "--base-url", url, "--db",
                                      str(tmp_path / "c.db"), *argv])
    out, err = io.StringIO(), io.StringIO()
    code = ask_command(args, stdin=io.StringIO(""), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_a_text_file_and_an_image_are_sent_and_stored(fake, tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Notes\n")
    (tmp_path / "shot.png").write_bytes(images.png(4, 3))
    result = run(tmp_path, "-a", "notes.md", "--attach", "shot.png", "what", "is", "this?",
                 url=fake.url)
    assert result.returncode == 0, result.stderr
    size = len(images.png(4, 3))
    assert result.stdout == f"I see 1 image(s): image/png {size} bytes 4x3.\n"
    request = fake.fake.chat_requests[0]
    text_part = request.messages[-1]["content"][0]["text"]
    assert text_part == "```notes.md\n# Notes\n```\n\nwhat is this?"
    with ConversationStore(tmp_path / "c.db") as store:
        question = store.messages(store.latest_conversation_id())[0]
    assert [(a.name, a.mime, a.width, a.height) for a in question.attachments] == [
        ("notes.md", "text/plain", None, None), ("shot.png", "image/png", 4, 3)]


@pytest.mark.parametrize(("files", "expected"), [
    (["missing.txt"], "missing.txt: no such file"),
    (["blob.bin"], "blob.bin: a binary file, neither text nor an image"),
    (["."], ".: is a directory"),
    (["notes.md", "notes.md"], "add up to 16 B, over the limit of 10 B per message"),
])
def test_a_file_that_cannot_be_attached_is_one_line_and_no_request(
        fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: list[str],
        expected: str) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "notes.md").write_text("# Notes\n")
    (tmp_path / "config.toml").write_text("max_message_attachment_bytes = 10\n")
    argv = [arg for path in files for arg in ("-a", path)]
    code, out, err = ask_here(tmp_path, monkeypatch, "--config", "config.toml", *argv, "hi",
                              url=fake.url)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"tui-chat: {expected}"] or (
        len(err.splitlines()) == 1 and expected in err)
    assert fake.fake.chat_requests == []


def test_an_image_to_a_model_without_vision_says_so_in_one_line(
        fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shot.png").write_bytes(images.png())
    fake.fake.script(Reply(text="never sent"))
    code, _out, err = ask_here(tmp_path, monkeypatch, "--model", "text-model", "-a",
                               "shot.png", "what is this?", url=fake.url)
    assert code == 1
    (line,) = err.splitlines()
    assert "text-model" in line and "takes no images" in line
    assert len(fake.fake.chat_requests) == 1  # refused, not retried
