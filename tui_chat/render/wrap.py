"""Our word wrap: lines cut where Rich's would cut them, without Rich measuring every word.

A paragraph is drawn on every frame while it streams; for text whose characters are known to take
one cell each (checked here), breaking it ourselves gives the same lines as Rich's console in a
fraction of the time. Anything else is left to Rich (`prose.py`).
"""

from __future__ import annotations

import re
from itertools import pairwise

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip


def trim_line(segments: list[Segment]) -> list[Segment]:
    """Drop Rich's padding: trailing spaces that paint no background."""
    while segments:
        last = segments[-1]
        style = last.style
        if style is not None and style.bgcolor is not None:
            break
        text = last.text.rstrip(" ")
        if text == last.text:
            break
        if text:
            segments[-1] = Segment(text, style)
            break
        segments.pop()
    return segments


_ONE_CELL = "\u00c0-\u00ff\u2013\u2014\u2018\u2019\u201c\u201d\u2026\u258c"
"""Beyond ASCII, the characters known to take one cell (Latin-1 letters, typographic quotes,
dashes, the ellipsis, the cursor): what our word wrap may count as one cell each."""
_NOT_PLAIN = re.compile(f"[^\n A-Za-z0-9\"#$%'()+,\\-./:;=>?@^{{}}{_ONE_CELL}]")
"""A character that is Markdown syntax somewhere in a line (``\\ ` * _ [ ] ! < & ~ |``), a tab
or control, or not known to take exactly one cell. What is left is plain text, except at
the start of a line (see _PLAIN_LINE_START)."""
_PLAIN_LINE_START = re.compile(
    " *(?:[A-Za-z\u00c0-\u00ff\"'(\u2018\u201c\u258c]|[0-9]+(?![0-9.)]))")
"""A line that starts like a sentence, not a heading, list item, quote, rule or table."""
_WORD = re.compile(r"\s*\S+\s*")


def plain_paragraph(source: str) -> str | None:
    """The text Markdown makes of `source` when it is one paragraph of plain words: each line
    stripped, lines joined by spaces. None when Markdown might read anything more into it (an
    indented first line, a hard break, any syntax character): markdown-it then decides."""
    if _NOT_PLAIN.search(source) or source.startswith("    "):
        return None
    lines = source.split("\n")
    for line in lines:
        if not _PLAIN_LINE_START.match(line):
            return None  # also a blank line: two paragraphs
    if any(line.endswith("  ") for line in lines[:-1]):
        return None  # a hard line break
    return " ".join(line.strip(" ") for line in lines)


def _breaks(text: str, width: int) -> list[int]:
    """Where Rich's word wrap (rich._wrap.divide_line) starts each line of `text`, and then
    the end of `text`, for text whose characters all take one cell: Rich measures every
    word's cells, here a character is a cell."""
    breaks = [0]
    offset = 0
    for match in _WORD.finditer(text):
        start, end = match.span()
        length = len(match.group().rstrip())
        if width - offset >= length:
            offset += end - start
        elif length > width:  # a word longer than a line is cut into lines of `width`
            pieces = range(start, end, width)
            breaks.extend(piece for piece in pieces if piece)
            offset = end - pieces[-1]
        elif offset and start:
            breaks.append(start)
            offset = end - start
    breaks.append(len(text))
    return breaks


def wrap_plain(text: str, width: int) -> list[str]:
    """`text` wrapped at `width` as Rich wraps it (each line cropped to `width`, trailing
    spaces dropped), for text whose characters all take one cell and whose only whitespace
    is the space, as `plain_paragraph` ensures."""
    return [text[begin:min(stop, begin + width)].rstrip(" ")
            for begin, stop in pairwise(_breaks(text, width))]


_NOT_ONE_CELL = re.compile(f"[^\n -~{_ONE_CELL}]")
"""A character not known to take exactly one cell (or a tab, or a control character)."""


def wrap_styled(text: Text, width: int) -> list[Strip] | None:
    """A paragraph's Text (as `paragraph_text` builds it) wrapped and cut into lines as
    Rich's console would render it, without Rich (half the time for a paragraph with bold,
    code and a link, markdown-it included). None when a
    character might not take one cell, or the Text is not a run of spans in order."""
    plain = text.plain
    if text.style or _NOT_ONE_CELL.search(plain):
        return None
    # (start, end, style) runs that cover the text; Rich draws what no span covers in the
    # Text's own (empty) style, or with no style at all when there are no spans.
    gap = Style.null() if text.spans else None
    runs: list[tuple[int, int, Style | None]] = []
    at = 0
    for span in text.spans:
        if span.start < at or not isinstance(span.style, Style):
            return None
        if span.start > at:
            runs.append((at, span.start, gap))
        if span.end > span.start:
            runs.append((span.start, span.end, span.style))
        at = span.end
    if at < len(plain):
        runs.append((at, len(plain), gap))
    strips: list[Strip] = []
    first_run = 0
    line_start = 0
    for line in plain.split("\n"):  # hard line breaks
        for begin, stop in pairwise(_breaks(line, width)):
            begin += line_start
            stop = min(line_start + stop, begin + width)
            while first_run < len(runs) and runs[first_run][1] <= begin:
                first_run += 1
            segments = []
            index = first_run
            while index < len(runs) and runs[index][0] < stop:
                run_start, run_end, run_style = runs[index]
                segments.append(Segment(plain[max(begin, run_start):min(stop, run_end)],
                                        run_style))
                index += 1
            strips.append(Strip(trim_line(segments)))
        line_start += len(line) + 1
    return strips
