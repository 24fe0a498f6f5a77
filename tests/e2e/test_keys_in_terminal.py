"""Keys as tmux, screen and SSH deliver them, sent as bytes through a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import termios
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tests.pty_harness import TerminalApp, tui_chat_argv
from tui_chat.flow_control import flow_control_off


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {f"XDG_{name}_HOME": str(tmp_path / name.lower())
           for name in ("CONFIG", "DATA", "STATE", "CACHE")}
    env["OPENAI_API_KEY"] = "sk-test-not-a-real-key"
    return env


@pytest.fixture
def fake():
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as running:
        yield running


def ixon(fd: int) -> bool:
    return bool(termios.tcgetattr(fd)[0] & termios.IXON)


def test_alt_enter_as_tmux_sends_it_starts_a_new_line(fake, tmp_path: Path) -> None:
    # tmux 3.3 (xterm-256color, default settings) sends Alt+Enter as ESC CR.
    fake.fake.script(Reply(chunks=["got it"]))
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(tmp_path / "c.db"))
    with TerminalApp(argv, env=env_for(tmp_path), size=(80, 24)) as app:
        assert app.wait_for("Ask anything", 15)
        app.type("first line")
        app.write(b"\x1b\r")
        assert app.wait_for("first line", 5)
        app.type("second line")
        assert app.wait_for("second line", 5)
        assert fake.fake.chat_requests == []  # ESC CR did not send
        app.press("enter")
        assert app.wait_for("got it", 15)
        app.press("ctrl+q")
        app.close(10)
    sent = fake.fake.chat_requests[0].messages[-1]["content"]
    assert sent == "first line\nsecond line"


def test_flow_control_is_off_while_the_app_runs_and_restored_after(fake, tmp_path: Path) -> None:
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(tmp_path / "c.db"))
    with TerminalApp(argv, env=env_for(tmp_path), size=(80, 24)) as app:
        assert ixon(app._master)  # a new pty starts with ixon on, like a login terminal
        assert app.wait_for("Ask anything", 15)
        assert not ixon(app._master)
        app.press("ctrl+q")
        assert app.process.wait(10) == 0
        assert ixon(app._master)
        app.close(10)


def test_flow_control_comes_back_when_the_block_fails() -> None:
    master, slave = pty.openpty()
    try:
        assert ixon(slave)
        with pytest.raises(RuntimeError), flow_control_off(slave) as changed:
            assert changed and not ixon(slave)
            raise RuntimeError("the app crashed")
        assert ixon(slave)
    finally:
        os.close(master)
        os.close(slave)


def test_flow_control_guard_leaves_a_pipe_alone(tmp_path: Path) -> None:
    with open(tmp_path / "f", "w") as not_a_tty, flow_control_off(not_a_tty) as changed:
        assert not changed


SGR = re.compile(rb"\x1b\[([0-9;:]*)m")


def colour_parameters(output: bytes) -> list[bytes]:
    """Every SGR sequence that sets a colour: 30-37, 38;..., 40-47, 48;..., 90-97, 100-107."""
    found = []
    for match in SGR.finditer(output):
        for parameter in match.group(1).replace(b":", b";").split(b";"):
            value = int(parameter) if parameter.isdigit() else 0
            if 30 <= value <= 38 or 40 <= value <= 48 or 90 <= value <= 97 \
                    or 100 <= value <= 107:
                found.append(match.group(0))
                break
    return found


def test_no_color_writes_no_colour_at_all(fake, tmp_path: Path) -> None:
    fake.fake.script(Reply(chunks=["# Title\n\nSome **bold** and `code`:\n\n```python\n",
                                   "def f():\n    return 1  # done\n```\n\n> quoted\n"]))
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(tmp_path / "c.db"))
    env = {**env_for(tmp_path), "NO_COLOR": "1", "COLORTERM": "truecolor"}
    with TerminalApp(argv, env=env, size=(80, 24)) as app:
        assert app.wait_for("Ask anything", 15)
        app.type("show me")
        app.press("enter")
        assert app.wait_for("quoted", 15)
        app.press("tab")  # a focused message
        app.press("f1")
        assert app.wait_for("Keys", 10)
        app.press("escape")
        app.press("ctrl+q")
        app.close(10)
        written = bytes(app.output)
    parameters = {p for m in SGR.finditer(written) for p in m.group(1).split(b";")}
    assert {b"1", b"7"} <= parameters  # bold and reverse (the input's cursor) carry meaning ...
    assert colour_parameters(written) == []  # ... but no colour


def test_colour_is_written_without_no_color(fake, tmp_path: Path) -> None:
    # The check above can fail: the same run without NO_COLOR writes colours.
    argv = tui_chat_argv("--base-url", fake.url, "--model", "m", "--db", str(tmp_path / "c.db"))
    with TerminalApp(argv, env=env_for(tmp_path), size=(80, 24)) as app:
        assert app.wait_for("Ask anything", 15)
        app.press("ctrl+q")
        app.close(10)
        assert colour_parameters(bytes(app.output))
