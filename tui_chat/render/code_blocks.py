"""Find the fenced code blocks of a Markdown answer (for copying them)."""

from __future__ import annotations

from tui_chat.render.markdown_grammar import FENCE


def code_blocks(markdown: str) -> list[str]:
    """The fenced code blocks of a Markdown text, without their fences."""
    return [match.group(2) for match in FENCE.finditer(markdown)]
