"""docs/MODULES.md names every module of the package, and no module that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_module_map_lists_every_module_and_only_those() -> None:
    package = ROOT / "tui_chat"
    modules = {path.relative_to(package).as_posix() for path in package.rglob("*.py")
               if path.name != "__init__.py" or path.parent.name == "providers"}
    text = (ROOT / "docs" / "MODULES.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^- `([\w/]+\.py)`", text, flags=re.MULTILINE))
    assert sorted(modules - listed) == [], "add these to docs/MODULES.md"
    assert sorted(listed - modules) == [], "these are listed in docs/MODULES.md but gone"
