"""The local engine: llama.cpp's HTTP server in a child process, owned by this process.

`Engine.start()` returns at once. A thread of its own (the owner) gets the model file (fetching
the default one the first time), starts `python -m tui_chat.local.engine_process` bound to
127.0.0.1 on a free port, waits for `/health` to say ok, and then stays alive until `stop()`:
the child's death signal (PR_SET_PDEATHSIG) fires when the *thread* that started it ends, so the
thread that starts it is the one that lives exactly as long as the engine.

Never orphaned: `stop()` (called on quit, and by `atexit`) ends the child; if this process is
killed, the kernel kills the child (PR_SET_PDEATHSIG), and the child also watches its parent's
pid. Two apps at once each start their own engine on their own port (about 250 MB each with the
default model); nothing is shared, so one app quitting never takes the other's model away.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tui_chat.local.model_file import (
    DEFAULT_MODEL,
    ModelFileError,
    default_model_path,
    ensure_model,
    is_present,
)

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 4096
"""Tokens of context the engine gives the model (prompt and answer together)."""
READY_TIMEOUT = 180.0
"""Seconds the engine may take to load a model before it is given up."""
STOP_TIMEOUT = 3.0
"""Seconds the engine gets to end after SIGTERM before it is killed."""
LOG_NAME = "local-engine.log"


class EngineError(Exception):
    """The engine cannot run. `str(error)` is one line that says why and what to do."""


def engine_available() -> bool:
    """Whether the engine's package (the `local` extra) is installed."""
    import importlib.util

    return importlib.util.find_spec("xllamacpp") is not None


INSTALL_HINT = "install it with `pip install -e '.[local]'` in tui-chat's folder"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Engine:
    """One llama.cpp server for this process.

    Args:
        model_path: A GGUF file; None runs the default model (fetched on first use).
        alias: The model id it is served under; by default the file's name without `.gguf`.
        context: Tokens of context.
        log_path: Where the server's own output goes (default: the log dir's local-engine.log).
    """

    def __init__(self, model_path: Path | None = None, *, alias: str | None = None,
                 context: int = DEFAULT_CONTEXT, threads: int | None = None,
                 log_path: Path | None = None, ready_timeout: float = READY_TIMEOUT) -> None:
        self.model_path = model_path
        if alias is None:
            alias = DEFAULT_MODEL.alias if model_path is None else model_path.name.removesuffix(
                ".gguf")
        self.alias = alias
        self.context = context
        self.threads = threads or max(1, min(4, os.cpu_count() or 1))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.status = "starting local model…"
        """What the engine is doing, for the status bar; empty once it is ready."""
        self.progress: tuple[str, int, int] | None = None
        """(what, done, total) while the model is fetched."""
        self.error: str | None = None
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        """Set when the engine is ready, has failed, or was stopped."""
        self._stop = threading.Event()
        self._owner: threading.Thread | None = None

    # -- life --------------------------------------------------------------------------------

    def start(self) -> Engine:
        """Start in the background; `wait_ready()` tells when requests can be sent.

        Starting twice is harmless; starting after `stop()` does nothing."""
        if self._owner is None and not self._stop.is_set():
            self._owner = threading.Thread(target=self._own, name="local-engine", daemon=True)
            self._owner.start()
            atexit.register(self.stop)
        return self

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.error is None and not self._stop.is_set()

    def wait_ready_for(self, timeout: float) -> bool:
        """Whether the engine has got to an end (ready, failed or stopped) within `timeout`."""
        return self._ready.wait(timeout)

    def wait_ready(self, timeout: float | None = None) -> str:
        """Block until the engine serves; returns its base URL.

        Raises:
            EngineError: it failed to start, was stopped, or took longer than `timeout`.
        """
        if not self._ready.wait(timeout):
            raise EngineError(f"the local model is not ready after {timeout:g} s")
        if self.error is not None:
            raise EngineError(self.error)
        if self._stop.is_set():
            raise EngineError("the local model was stopped")
        return self.base_url

    def stop(self) -> None:
        """End the server (SIGTERM, then SIGKILL) and the owner thread. Safe to call twice."""
        self._stop.set()
        self._ready.set()
        owner = self._owner
        if owner is not None and owner is not threading.current_thread():
            owner.join(STOP_TIMEOUT + 2)
        self._end_child()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def _own(self) -> None:
        try:
            path = self._model_file()
            if self._stop.is_set():
                return
            self._spawn(path)
            self._wait_healthy()
            self.status = ""
            log.info("local engine ready: %s (pid %s) at %s", self.alias, self.pid,
                     self.base_url)
        except (EngineError, ModelFileError) as error:
            self.error = str(error)
            self.status = "local model failed"
            log.warning("local engine failed: %s", error)
            self._end_child()
        except Exception as error:  # a bug: say so in one line, keep the trace in the log
            log.exception("local engine failed unexpectedly")
            self.error = f"the local model failed to start: {error}"
            self.status = "local model failed"
            self._end_child()
        finally:
            self._ready.set()
        # Live exactly as long as the engine: the child's death signal is tied to this thread.
        self._stop.wait()
        self._end_child()

    def _model_file(self) -> Path:
        if self.model_path is not None:
            if not self.model_path.is_file():
                raise EngineError(f"{self.model_path}: no such model file")
            return self.model_path
        path = default_model_path()
        if not is_present(path):
            self.status = "fetching local model…"
            log.info("fetching the default model into %s", path)
        return ensure_model(progress=self._fetch_progress)

    def _fetch_progress(self, what: str, done: int, total: int) -> None:
        self.progress = (what, done, total)
        percent = 100 * done // total if total else 0
        self.status = f"{what} local model {percent}%"
        if self._stop.is_set():
            raise EngineError("stopped while the model was being fetched")

    def _spawn(self, path: Path) -> None:
        if not engine_available():
            raise EngineError(f"the local engine is not installed: {INSTALL_HINT}")
        self.status = "starting local model…"
        log_path = self.log_path or _default_log_path()
        self._log_offset = 0
        command = [sys.executable, "-m", "tui_chat.local.engine_process",
                   "--model", str(path), "--alias", self.alias, "--port", str(self.port),
                   "--ctx", str(self.context), "--threads", str(self.threads),
                   "--parent-pid", str(os.getpid())]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            self._log_offset = out.tell()
            self.log_path = log_path
            self._process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl+C in the terminal goes to the app, not to it
            )
        self.pid = self._process.pid
        log.info("local engine pid %s on port %s; its output: %s", self.pid, self.port, log_path)

    def _wait_healthy(self) -> None:
        # Imported here, in the engine's thread: about 0.1 s that the app's launch need not pay.
        import urllib.error
        import urllib.request

        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout
        url = f"http://127.0.0.1:{self.port}/health"
        while True:
            if self._stop.is_set():
                raise EngineError("the local model was stopped")
            if self._process.poll() is not None:
                raise EngineError(f"the local model ended while starting "
                                  f"(exit {self._process.returncode}): {self._log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass  # not listening yet, or 503 while the model loads
            if time.monotonic() > deadline:
                raise EngineError(f"the local model did not start within "
                                  f"{self.ready_timeout:g} s (see {self.log_path})")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        """The engine's last meaningful line, for the one-line error."""
        if self.log_path is None:
            return "no output"
        try:
            with open(self.log_path, "rb") as log_file:
                log_file.seek(self._log_offset)
                text = log_file.read().decode("utf-8", "replace")
        except OSError:
            return "no output"
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if " E " in line or "error" in line.lower()]
        return ((errors or lines or ["no output"])[-1])[:200]

    def _end_child(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
        log.info("local engine pid %s stopped", process.pid)


def _default_log_path() -> Path:
    from tui_chat import locations

    return locations.log_dir() / LOG_NAME
