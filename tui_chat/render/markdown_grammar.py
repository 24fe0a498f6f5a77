"""The Markdown block grammar the renderer splits and draws by, written once.

The block starts of CommonMark that `document.py` splits an answer at, `prose.py` draws list
items by, and `code_blocks.py` finds code to copy by. (Inline Markdown is left to Rich.)
"""

from __future__ import annotations

import re

_FENCE_CHARS = r"(`{3,}|~{3,})"
"""Three or more backticks or tildes (group 1 of each fence pattern)."""
_LIST_MARKER = r"([-+*]|([0-9]{1,9})[.)])"
"""A bullet, or a number of up to nine ASCII digits and its delimiter (the marker, then the
number, as two groups)."""

FENCE_OPEN = re.compile(rf"^( *){_FENCE_CHARS}(.*)$")
"""A line that may open a fence: its indent, the fence, the info string (the caller checks
the indent, which a list context allows to be deeper, and backticks in the info string)."""
FENCE = re.compile(rf"^ {{0,3}}{_FENCE_CHARS}[^\n]*\n(.*?)^ {{0,3}}\1[ \t]*$", re.M | re.S)
"""A whole fenced code block: the fence, then the code (group 2)."""
LANGUAGE = re.compile(r"[\w+#.-]+")
"""The language word at the start of a fence's info string."""
HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
"""An ATX heading's start."""
THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
"""A rule (which `LIST_ITEM` also matches when made of `-` or `*`: check this first)."""
LIST_ITEM = re.compile(rf"^( {{0,3}}){_LIST_MARKER}(?:[ \t]+(\S?)|$)")
"""A line that starts a list item: indent (1), marker (2), number (3, None for a bullet), the
first character of its text (4, "" when the item starts empty)."""
LIST_ITEM_TEXT = re.compile(rf" {{0,3}}{_LIST_MARKER} {{1,4}}(?=\S)")
"""A list item's marker (1), number (2) and the spaces after it, when its text starts on the
same line (5 spaces or more would start indented code)."""
