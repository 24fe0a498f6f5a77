"""What the differential output leaves on a real terminal is what Textual's own output leaves.

The same long answer (it scrolls several screens: paragraphs, a code block, a list, a table,
wide characters) streams into the app in a pty twice: once as shipped, once with
`--full-redraw` (Textual's compositor output, untouched). Every cell of the emulated screens,
characters and colours, must match at the end, after a scroll back up, and after the answer
is followed again (rows with timings in them are compared as text and colours).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tests.pty_harness import TerminalApp, tui_chat_argv
from tests.waiting import POLL, wait_until

START = 15.0

PROSE = " ".join(f"word{i} **bold{i}** `code{i}` 中文{i}" for i in range(40))
CODE = "\n".join(f"    value_{i} = compute(item, {i})  # step {i}" for i in range(40))
LIST = "\n".join(f"- item {i} with a *note*" for i in range(15))
TABLE = "| name | value |\n|---|---:|\n" + "\n".join(f"| row {i} | {i * 7} |" for i in range(12))
ANSWER = (f"Intro paragraph.\n\n{PROSE}\n\n```python\n{CODE}\n```\n\n{LIST}\n\n{TABLE}\n\n"
          f"{PROSE}\n\nThe end of the answer.")


def chunks(text: str, size: int = 7) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def cells(app: TerminalApp) -> list[tuple]:
    """Each row as its cells (character and attributes); a row with figures in it (timings
    differ between runs, and so does their width) as its text with each number folded to #
    and the set of attributes it uses."""
    assert app.screen is not None
    with app._lock:
        screen = app.screen
        rows = []
        for y in range(screen.lines):
            row = [(char.data, char.fg, char.bg, char.bold, char.italics, char.underscore,
                    char.reverse) for char in (screen.buffer[y][x] for x in range(screen.columns))]
            text = "".join(cell[0] for cell in row)
            if re.search(r"\d", text):
                rows.append((re.sub(r"\d+(\.\d+)?", "#", text).rstrip(),
                             frozenset(cell[1:] for cell in row)))
            else:
                rows.append(tuple(row))
        return rows


def settle(app: TerminalApp, ready: Callable[[], bool], quiet: float = 0.6) -> None:
    """Wait until `ready()` holds, and then until the app has written nothing for `quiet`
    seconds (the frame that shows it is out in full). A fixed wait flaked: on a loaded machine
    the app could still be drawing, and the two runs were compared mid-frame."""
    wait_until(ready, 30, "the expected screen")

    def written() -> int:
        with app._lock:
            return len(app.output)

    deadline = time.monotonic() + 30
    size, since = written(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the app never stopped writing"
        time.sleep(POLL)
        if (now := written()) != size:
            size, since = now, time.monotonic()


def run(tmp_path: Path, url: str, *flags: str) -> list[list[tuple]]:
    env = {f"XDG_{n}_HOME": str(tmp_path / n.lower()) for n in ("CONFIG", "DATA", "STATE",
                                                                 "CACHE")}
    argv = tui_chat_argv("--base-url", url, "--model", "m", "--db", str(tmp_path / "c.db"),
                         "--system", "", *flags)
    screens = []
    with TerminalApp(argv, env=env, size=(90, 30)) as app:
        assert app.wait_for("Ask anything", START)
        app.type("go")
        app.press("enter")
        assert app.wait_for("The end of the answer.", 30)
        settle(app, lambda: "tokens" in app.display())  # the answer has finished
        screens.append(cells(app))
        app.write(b"\x1b[5~" * 3)  # page up three times: the transcript scrolls back
        settle(app, lambda: "The end of the answer." not in app.display())
        screens.append(cells(app))
        app.write(b"\x1b[1;5F")  # ctrl+end: follow the answer again
        settle(app, lambda: "The end of the answer." in app.display())
        screens.append(cells(app))
        app.press("ctrl+q")
        app.close(10)
    return screens


@pytest.mark.parametrize("rate", [0, 400])
def test_the_screen_matches_textual_own_output_cell_for_cell(tmp_path: Path, rate: int) -> None:
    with FakeOpenAI.start_in_thread(chunks_per_second=rate) as fake:
        fake.fake.script(Reply(chunks=chunks(ANSWER)), Reply(chunks=chunks(ANSWER)))
        ours = run(tmp_path / "diff", fake.url)
        textual = run(tmp_path / "full", fake.url, "--full-redraw")
    for label, a, b in zip(("end", "scrolled up", "followed"), ours, textual, strict=True):
        rows = [y for y in range(len(a)) if a[y] != b[y]]
        assert not rows, f"{label}: rows {rows} differ:\n{[a[y] for y in rows]}\n" \
                         f"{[b[y] for y in rows]}"
