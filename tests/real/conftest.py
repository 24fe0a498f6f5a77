"""The real-server tier: llama.cpp (the `local` extra) with the default model, started through
the app's own engine code once per module.

The model is kept where `tui-chat local pull` puts it (the real data dir, or the folder named by
TUI_CHAT_MODEL_DIR), read before the per-test sandbox moves the XDG dirs, so it is fetched once
per machine, not once per test; the fixture fetches it (with pip, through the app's code) if
`.ci/run` has not. These tests are never skipped: a missing engine is a failure.
"""

from __future__ import annotations

import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_chat.local import Engine
from tui_chat.local.model_file import MODEL_DIR_ENV, ensure_model, models_dir

MODEL_DIR = models_dir()
"""Computed at import, before any test's sandbox: the machine's own models folder."""


@pytest.fixture(scope="session")
def model_dir() -> Iterator[Path]:
    """The default model is present, and subprocesses (and the engine) look for it here."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODEL_DIR_ENV, str(MODEL_DIR))
        ensure_model()
        yield MODEL_DIR


@pytest.fixture(scope="module")
def engine(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = Engine(log_path=tmp_path_factory.mktemp("engine") / "engine.log").start()
    try:
        engine.wait_ready(120)
        yield engine
    finally:
        engine.stop()


@pytest.fixture(autouse=True)
def model_dir_for_each_test(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-test sandbox keeps the model folder (it only moves the XDG dirs)."""
    monkeypatch.setenv(MODEL_DIR_ENV, str(model_dir))


def server_metrics(engine: Engine) -> dict[str, float]:
    """The engine's Prometheus counters (llama.cpp's own figures)."""
    url = engine.base_url.removesuffix("/v1") + "/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {match[1]: float(match[2]) for match in
            re.finditer(r"^llamacpp:(\w+) ([\d.e+-]+)$", text, re.MULTILINE)}


def is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def engine_pids_of(parent: int) -> list[int]:
    """Engine processes whose command line names this parent's pid."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except OSError:
            continue
        if b"tui_chat.local.engine_process" in argv and \
                str(parent).encode() in argv[argv.index(b"--parent-pid") + 1:][:1]:
            pids.append(int(entry))
    return pids
