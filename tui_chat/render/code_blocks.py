"""Find the fenced code blocks of a Markdown answer (for copying them)."""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n(.*?)^ {0,3}\1[ \t]*$", re.M | re.S)


def code_blocks(markdown: str) -> list[str]:
    """The fenced code blocks of a Markdown text, without their fences."""
    return [match.group(2) for match in _FENCE.finditer(markdown)]
