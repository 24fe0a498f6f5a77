"""The rename experiment: would the tests notice a release that renames a hooked private name?

Copies the installed textual, rich and openai packages into a temporary directory, renames
the chosen private names consistently throughout those copies (as a release that renamed
them would), and runs pytest with the copies first on PYTHONPATH. Every hook must then be
reported as left out and some tests must fail; the script prints which.

    python tests/compat/rename_experiment.py                  # every name, then the suite
    python tests/compat/rename_experiment.py --each tests/compat   # one name at a time
    python tests/compat/rename_experiment.py --names _get_renders -- tests/unit

Exit status 0 means the experiment came out as it must: failures for every renamed name.
With `--command`, it runs that command against the renamed copies instead (say a benchmark,
to see what the public path costs):

    python tests/compat/rename_experiment.py --names _size_updated \
        --command "python benchmarks/terminal_bench.py --quick --only prose500"
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

NAMES: dict[str, str] = {
    # Textual (a name that is also a module's, such as _compositor, renames the file too)
    "_compositor": "textual",
    "ChopsUpdate": "textual",
    "LayoutUpdate": "textual",
    "render_update": "textual",
    "_get_renders": "textual",
    "_time": "textual",
    "_run": "textual",
    "_start": "textual",
    "_active": "textual",
    "_interval": "textual",
    "_repeat": "textual",
    "_update_timer": "textual",
    "_on_timer_update": "textual",
    "_size_updated": "textual",
    "_size": "textual",
    "_exchange_repaint_regions": "textual",
    "_vertical_scrollbar": "textual",
    "FooterKey": "textual",
    "_disabled": "textual",
    "_xterm_parser": "textual",
    "XTermParser": "textual",
    "_tick": "textual",
    "_timers": "textual",
    "_sequence_to_key_events": "textual",
    "_style_cache": "textual",
    "_maxsize": "textual",
    # Rich
    "_ansi": "rich",
    "_color_system": "rich",
    # The SDK
    "_iter_events": "openai",
    "_decoder": "openai",
    "get_platform": "openai",
}
"""Each hooked private name, and the package whose copy it is renamed in. (Not `_footer`:
`textual.widgets` finds its widgets' modules by names it builds at run time, which a textual
rename cannot follow; `FooterKey` stands for that hook.)"""

SUFFIX = "_renamed"


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{name} is not installed")
    return Path(spec.origin).parent


def overlay(names: list[str], into: Path) -> None:
    """Copies of the packages in `into`, with `names` renamed to name + SUFFIX in all of them.

    Textual uses Rich's private names too (`Style._ansi`, `Console._color_system` in
    textual/strip.py), so a Rich rename is carried into Textual's copy, as the release that
    renamed them would have to be.
    """
    packages = {NAMES[name] for name in names}
    if "rich" in packages:
        packages.add("textual")
    pattern = re.compile(r"\b(" + "|".join(re.escape(name) for name in names) + r")\b")
    for package in sorted(packages):
        target = into / package
        shutil.copytree(package_dir(package), target,
                        ignore=shutil.ignore_patterns("__pycache__"))
        for path in list(target.rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            renamed = pattern.sub(lambda match: match.group(1) + SUFFIX, text)
            if renamed != text:
                path.write_text(renamed, encoding="utf-8")
            if path.stem in names:  # a module of that name: its imports were renamed above
                path.rename(path.with_name(path.stem + SUFFIX + ".py"))


def run(names: list[str], pytest_args: list[str]) -> tuple[int, list[str], str]:
    """Run pytest against the renamed copies: (exit status, failed test ids, hooks left out)."""
    with tempfile.TemporaryDirectory(prefix="rename-experiment-") as temp:
        overlay(names, Path(temp))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([temp, str(ROOT)])}
        left = subprocess.run(
            [sys.executable, "-c", "import tui_chat.app, tui_chat.compat.sdk_hooks as s; "
             "from tui_chat import compat; print(compat.left_out)"],
            env=env, capture_output=True, text=True, cwd=ROOT, check=False)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-rfE", *pytest_args],
            env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    failed = sorted({line.split()[1] for line in result.stdout.splitlines()
                     if line.startswith(("FAILED ", "ERROR "))})
    summary = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"  pytest: {summary[0]}")
    return result.returncode, failed, (left.stdout.strip() or left.stderr.strip()[-300:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", nargs="+", choices=sorted(NAMES), default=sorted(NAMES))
    parser.add_argument("--each", action="store_true",
                        help="rename one name at a time (use with a short test selection)")
    parser.add_argument("pytest_args", nargs="*", default=[],
                        help="what to pass to pytest (default: the whole suite)")
    parser.add_argument("--command", help="run this shell command against the copies instead")
    args = parser.parse_args()
    if args.command:
        with tempfile.TemporaryDirectory(prefix="rename-experiment-") as temp:
            overlay(args.names, Path(temp))
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([temp, str(ROOT)])}
            return subprocess.run(args.command, shell=True, env=env, cwd=ROOT,
                                  check=False).returncode
    groups = [[name] for name in args.names] if args.each else [args.names]
    caught = True
    for group in groups:
        print(f"renamed: {', '.join(group)}")
        status, failed, left = run(group, args.pytest_args)
        print(f"  hooks left out: {left}")
        print(f"  {len(failed)} failed:")
        for test in failed:
            print(f"    {test}")
        caught = caught and status != 0 and bool(failed)
    print("every rename was caught" if caught else "SOME RENAME WENT UNNOTICED")
    return 0 if caught else 1


if __name__ == "__main__":
    raise SystemExit(main())
