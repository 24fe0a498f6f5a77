"""Make untrusted text terminal-safe: the one place control characters are neutralised.

Model output, server error messages, pasted text and titles can hold ESC/CSI/OSC/DCS sequences,
BEL and C1 controls. Textual passes most of them to the terminal verbatim, so untrusted text is
cleaned where it becomes terminal cells (the renderer, the widgets, `ask` writing to a terminal)
and nowhere else: model text is stored and relayed exactly as the model sent it. Removing the
introducer byte defuses the whole sequence, and it works per chunk: a sequence split across two
deltas is still neutralised.
"""

from __future__ import annotations

import re

ESCAPE_PLACEHOLDER = "\N{SYMBOL FOR ESCAPE}"  # ␛
CONTROL_PLACEHOLDER = "\N{REPLACEMENT CHARACTER}"

# C0 controls except TAB and LF, plus DEL and C1 (0x80-0x9f). CR is dropped (it would move
# the cursor); bidi overrides are neutralised so text cannot be visually reordered.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _placeholder(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\x1b":
        return ESCAPE_PLACEHOLDER
    if char == "\r":
        return ""
    return CONTROL_PLACEHOLDER


def sanitize(text: str) -> str:
    """Return `text` with every terminal control character made visible and harmless.

    Tabs and newlines are kept; a carriage return is dropped (so CRLF becomes LF).
    """
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_placeholder, text)


def sanitize_line(text: str) -> str:
    """Like `sanitize`, but also folds newlines and tabs to spaces: for titles and status lines."""
    return sanitize(text).replace("\n", " ").replace("\t", " ")
