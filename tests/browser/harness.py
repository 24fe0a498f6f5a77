"""`tui-chat web` as a real process, for the web tests (with and without a browser)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import psutil

REPO = Path(__file__).resolve().parents[2]
FAKE_KEY = "sk-test-WEBKEY0123456789"
T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


class WebServerProcess:
    """`python -m tui_chat web --port 0` against an upstream; knows its URL, token and apps."""

    def __init__(self, base_url: str, home: Path, *extra_args: str) -> None:
        env = dict(os.environ)
        for name in ("CONFIG", "DATA", "STATE", "CACHE"):
            env[f"XDG_{name}_HOME"] = str(home / name.lower())
        env["OPENAI_API_KEY"] = FAKE_KEY
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tui_chat", "web", "--port", "0", "--base-url", base_url,
             "--model", "fake-model", *extra_args],
            env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if "open http" not in first:
            self.process.kill()
            raise AssertionError(f"tui-chat web did not start: {first!r} "
                                 f"{self.process.stderr.read() if self.process.stderr else ''}")
        self.url = first.split()[-1]
        parts = urlsplit(self.url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.netloc
        self.port = parts.port
        self.token = parts.query.removeprefix("token=")
        self.cookie_name = f"tui-chat-{self.port}"
        self._ps = psutil.Process(self.process.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    def app_pids(self) -> set[int]:
        """Live app processes this server started (children, recursively)."""
        try:
            children = self._ps.children(recursive=True)
        except psutil.NoSuchProcess:
            return set()
        return {child.pid for child in children if _alive(child.pid)}

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for stream in (self.process.stdout,):
            if stream is not None:
                stream.close()

    def __enter__(self) -> WebServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def all_gone(pids: set[int]) -> bool:
    return not any(_alive(pid) for pid in pids)
