"""The path prompt: completion from the disk, refusals in one line, a file read and returned."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import Input, Static

from tests import images
from tui_chat.attachments import Limits
from tui_chat.models import Attachment
from tui_chat.screens.attach_file import AttachFileScreen, complete_path


def test_completion_takes_the_first_matching_entry_and_marks_directories(
        tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("x")
    (tmp_path / "setup.cfg").write_text("x")
    (tmp_path / ".secret").write_text("x")
    assert complete_path("s", tmp_path) == "setup.cfg"
    assert complete_path("sr", tmp_path) == "src/"
    assert complete_path("src/m", tmp_path) == "src/main.py"
    assert complete_path("src/main.py", tmp_path) is None
    assert complete_path("", tmp_path) is None
    assert complete_path("zzz", tmp_path) is None
    assert complete_path(".s", tmp_path) == ".secret"
    assert complete_path(str(tmp_path / "src") + "/", None) == str(tmp_path / "src/main.py")
    assert complete_path("nowhere/x", tmp_path) is None


class Host(App[None]):
    def __init__(self, cwd: Path, limits: Limits) -> None:
        super().__init__()
        self.cwd, self.limits = cwd, limits
        self.results: list[Attachment | None] = []

    def on_mount(self) -> None:
        self.push_screen(AttachFileScreen(limits=self.limits, cwd=self.cwd),
                         self.results.append)


async def test_tab_completes_a_bad_path_says_why_and_a_good_one_is_attached(
        tmp_path: Path) -> None:
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "screen.png").write_bytes(images.png(3, 2))
    (tmp_path / "big.txt").write_text("x" * 200)
    app = Host(tmp_path, Limits(per_file=100))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, AttachFileScreen)
        field = screen.query_one(Input)
        error = screen.query_one("#attach-error", Static)
        await pilot.press("s", "h")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        await pilot.press("tab")
        assert field.value == "shots/"
        await pilot.press("enter")  # a directory
        assert "shots/: is a directory" in str(error.render())
        assert app.screen is screen and field.value == "shots/"
        field.value = "big.txt"
        await pilot.press("enter")
        assert "over the limit of 100 B per file" in str(error.render())
        field.value = "shots/screen.png"
        await pilot.press("enter")
        await pilot.pause()
    (attachment,) = app.results
    assert attachment is not None
    assert (attachment.name, attachment.mime, attachment.width, attachment.height) == (
        "shots/screen.png", "image/png", 3, 2)


async def test_escape_closes_without_a_file(tmp_path: Path) -> None:
    app = Host(tmp_path, Limits())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]
