"""Run tui-chat in a real pseudo-terminal: send keys, read the bytes it writes, and (with pyte)
the screen a terminal would show. Used by the end-to-end tests and by the benchmarks."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

KEYS: dict[str, bytes] = {
    "enter": b"\r",
    "escape": b"\x1b",
    "ctrl+s": b"\x13",
    "ctrl+r": b"\x12",
    "ctrl+q": b"\x11",
    "ctrl+j": b"\n",
    "ctrl+end": b"\x1b[1;5F",
    "f1": b"\x1bOP",
}


SYNC_QUERY = b"\x1b[?2026$p"
SYNC_START = b"\x1b[?2026h"
SYNC_END = b"\x1b[?2026l"


class TerminalApp:
    """A process attached to a pty of the given size.

    Output is read continuously by a thread (so the app never blocks on a full pty buffer),
    kept whole in `output`, and fed to a pyte screen when `emulate` is set.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        size: tuple[int, int] = (120, 40),
        emulate: bool = True,
        cwd: Path | None = None,
        on_output: Callable[[float], None] | None = None,
        synchronized: bool = False,
    ) -> None:
        self.columns, self.lines = size
        self.synchronized = synchronized
        """Answer Textual's question as a terminal with synchronized output (mode 2026: kitty,
        WezTerm, foot, iTerm2, Windows Terminal) does: each frame then arrives between
        SYNC_START and SYNC_END, and `display()` is what such a terminal presents: the last whole
        frame, never one half painted."""
        self.frames: list[str] = []
        """With `synchronized`: every whole frame presented, in order."""
        self._in_frame = False
        self._master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.lines, self.columns, 0, 0))
        full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(self.columns),
                    "LINES": str(self.lines)}
        for name in ("NO_COLOR", "TEXTUAL_THEME", "COLORTERM"):
            full_env.pop(name, None)
        full_env.update(env or {})
        self.process = subprocess.Popen(
            list(argv), stdin=slave, stdout=slave, stderr=slave, env=full_env,
            cwd=cwd or REPO, start_new_session=True, close_fds=True,
            # The pty is the app's controlling terminal, as a terminal window's or an SSH
            # session's is: when the terminal goes away (hang_up(), or this process dying) the
            # kernel sends the app SIGHUP, and no app outlives its test.
            preexec_fn=_take_controlling_terminal,
        )
        os.close(slave)
        self.output = bytearray()
        self.chunks: list[tuple[float, int]] = []
        """(time.monotonic() when read, len(output) after the read) for every read."""
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.screen = None
        self._stream = None
        self._on_output = on_output
        """Called (under the lock, after the screen took the bytes) with the read time."""
        if emulate:
            import pyte

            self.screen = pyte.Screen(self.columns, self.lines)
            self._stream = pyte.ByteStream(self.screen)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
            except (OSError, ValueError):
                break
            if not ready:
                if self.process.poll() is not None:
                    break
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:
                break
            if not data:
                break
            now = time.monotonic()
            with self._lock:
                self.output += data
                self.chunks.append((now, len(self.output)))
                if self._stream is not None:
                    self._stream.feed(data)
                    self._answer_terminal_queries(data)
                    if self.synchronized and self._frame_complete(len(data)):
                        shown = self.display_unlocked()
                        if not self.frames or self.frames[-1] != shown:
                            self.frames.append(shown)
                if self._on_output is not None:
                    self._on_output(now)

    def _answer_terminal_queries(self, data: bytes) -> None:
        # Textual asks for the cursor position and terminal features; a real terminal answers.
        if b"\x1b[6n" in data:
            self.write(b"\x1b[1;1R")
        if self.synchronized and SYNC_QUERY in data:
            self.write(b"\x1b[?2026;2$y")  # DECRPM: the mode is known and reset

    def _frame_complete(self, read: int) -> bool:
        """Whether the bytes read so far end outside a synchronized frame, from the last read
        (and a marker cut in two by it): the screen then shows what the app painted."""
        start = max(0, len(self.output) - read - len(SYNC_END) + 1)
        began, ended = self.output.rfind(SYNC_START, start), self.output.rfind(SYNC_END, start)
        if began >= 0 or ended >= 0:
            self._in_frame = began > ended
        return not self._in_frame

    def write(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except OSError:
            pass

    def press(self, *keys: str, gap: float = 0.02) -> None:
        for key in keys:
            self.write(KEYS.get(key, key.encode()))
            time.sleep(gap)

    def type(self, text: str) -> None:
        self.write(text.encode())

    def display(self) -> str:
        """The emulated screen as text, one line per row."""
        assert self.screen is not None, "started without emulate"
        with self._lock:
            if self.synchronized:
                return self.frames[-1] if self.frames else ""
            return self.display_unlocked()

    def display_unlocked(self) -> str:
        """The screen as text, for `on_output` callbacks (which already hold the lock)."""
        assert self.screen is not None, "started without emulate"
        try:
            return "\n".join(self.screen.display)
        except IndexError:
            # pyte keeps the right half of a wide character whose left half was overwritten
            # (a terminal blanks it) and then fails to render the row: show it as a space.
            return "\n".join(_row_text(self.screen.buffer[y], self.screen.columns)
                             for y in range(self.screen.lines))

    def wait_for(self, text: str, timeout: float = 10.0) -> bool:
        """Wait until `text` is on the emulated screen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.display():
                return True
            if self.process.poll() is not None:
                return text in self.display()
            time.sleep(0.02)
        return False

    def wait_for_output(self, needle: bytes, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if needle in self.output:
                    return True
            time.sleep(0.02)
        return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=10)

    def hang_up(self) -> None:
        """The terminal goes away (its window closed, the SSH connection dropped)."""
        self._closed.set()
        self._reader.join(timeout=2)
        os.close(self._master)
        self._master = -1

    def close(self, timeout: float = 10.0) -> int | None:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._closed.set()
        self._reader.join(timeout=2)
        if self._master >= 0:
            try:
                os.close(self._master)
            except OSError:
                pass
        return self.process.returncode

    def __enter__(self) -> TerminalApp:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.kill()
        self.close(timeout=1)


def _take_controlling_terminal() -> None:
    """In the child, after setsid and before exec: stdin (the pty) becomes the controlling
    terminal of the new session."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _row_text(row: Mapping[int, object], columns: int) -> str:
    from wcwidth import wcwidth

    text = []
    after_wide = False
    for x in range(columns):
        data = row[x].data  # type: ignore[attr-defined]
        if not data and after_wide:
            after_wide = False
            continue  # the right half of the wide character just written
        text.append(data or " ")
        after_wide = bool(data) and wcwidth(data[0]) == 2
    return "".join(text)


def tui_chat_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui_chat", *args]
