"""Conversation titles written by the model: one small request after the first answer.

A conversation is titled with its first line at once (the store does that); when the first
answer is done, the model is asked for a few words instead. The request is small (the first
question and the start of the answer, a short instruction, a few tokens back), its answer is
cleaned of what models wrap titles in (quotes, Markdown, "Title:", thinking), and it is never
stored as a message. It costs money on a hosted endpoint, so by default only local endpoints
(loopback addresses, the embedded model) are asked: `auto_title = "local" | "always" | "never"`.

A local server keeps the last prompt it read (llama.cpp's prompt cache, one slot for the
embedded model): a title asked with a prompt of its own would push the conversation out of it,
and the next question, often typed at once, would wait for the whole conversation to be read
again. So a local endpoint is asked with the conversation itself, as the next question would
send it, and the instruction as one more turn: the server reads only that turn, and the next
question finds the conversation still read. A hosted endpoint gets the short quoted excerpt
(it bills the tokens).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from tui_chat.models import AutoTitle, Delta, Message, ProviderError, RequestParams

if TYPE_CHECKING:
    from tui_chat.providers.base import Provider

log = logging.getLogger(__name__)

TITLE_CHARS = 50
"""Longest model-made title; longer ones are cut at a word."""
TITLE_TOKENS = 24
"""What the request may cost in answer tokens: a title is a handful of words."""
TITLE_TIMEOUT = 30.0
"""A title that takes longer is given up (the first line stays)."""
EXCERPT_CHARS = 1500
"""How much of the question and of the answer the model is shown."""

INSTRUCTION = (
    "Write a short title (3 to 6 words) for the conversation below, in the language of the "
    "conversation. Reply with the title only: no quotes, no Markdown, no final full stop."
)

TURN_INSTRUCTION = (
    "Write a short title (3 to 6 words) for our conversation so far, in its language. Reply "
    "with the title only: no quotes, no Markdown, no final full stop."
)
"""The instruction as the last turn of the conversation itself (local endpoints)."""


def wants_titles(mode: AutoTitle, base_url: str, *, via_relay: bool = False) -> bool:
    """Whether to ask the model for titles: "local" asks only an endpoint on this machine
    (a relay counts as hosted: what it forwards to is unknown, and may cost money)."""
    if mode != "local":
        return mode == "always"
    if via_relay:
        return False
    host = (urlparse(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def title_request(question: str, answer: str,
                  conversation: Sequence[Message] = ()) -> list[Message]:
    """The messages that ask for a title: with `conversation` (the messages the next question
    would send, before it), those and the instruction as one more turn; without, the
    instruction, then the exchange as quoted text (not as turns, so the model does not answer
    the question again)."""
    if conversation:
        return [*conversation, Message("user", TURN_INSTRUCTION)]
    question, answer = question.strip()[:EXCERPT_CHARS], answer.strip()[:EXCERPT_CHARS]
    return [Message("system", INSTRUCTION),
            Message("user", f"User: {question}\n\nAssistant: {answer}\n\nTitle:")]


_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_LABEL = re.compile(r"^(?:\*\*|__)?(?:title|titel|titre|título)\s*(?:\*\*|__)?\s*[:：]"
                    r"\s*(?:\*\*|__)?\s*", re.IGNORECASE)
_MARKUP = re.compile(r"^(?:#{1,6}\s+|[-*+>]\s+|\d+[.)]\s+)+")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`+)(.+?)\1")
_QUOTES = "\"'`“”„‘’‚«»「」『』"


def clean_title(raw: str) -> str:
    """The title in a model's reply, or "" when there is none: its first line without
    thinking, a "Title:" label, Markdown, quotes or a final full stop, at most TITLE_CHARS."""
    text = raw
    if "</think>" in text.lower() and "<think>" not in text.lower():
        text = text[text.lower().rindex("</think>") + len("</think>"):]  # no opening tag
    text = _THINK_BLOCK.sub("", text)
    lines = [part.strip() for part in text.splitlines() if part.strip()]
    # A lead-in on a line of its own ("Here is a short title:", "**Title:**") is skipped for
    # the line after it; small local models often write one.
    while len(lines) > 1 and lines[0].strip("*_# ").endswith((":", "：")):
        lines.pop(0)
    line = lines[0] if lines else ""
    line = _LABEL.sub("", line)
    line = _MARKUP.sub("", line)
    line = _EMPHASIS.sub(r"\2", line)
    line = line.strip().strip(_QUOTES + "*_ ").strip()
    line = line.rstrip(".。:;,").strip().strip(_QUOTES).strip()
    line = " ".join("".join(ch for ch in line if ch.isprintable()).split())
    if len(line) > TITLE_CHARS:
        cut = line[: TITLE_CHARS - 1]
        if " " in cut:
            cut = cut.rsplit(" ", 1)[0]
        line = cut.rstrip(" ,;:-") + "…"
    return line


async def ask_for_title(provider: Provider, model: str, question: str, answer: str,
                        *, conversation: Sequence[Message] = (),
                        timeout: float = TITLE_TIMEOUT) -> str | None:
    """The model's title for a conversation, or None (logged, never raised: a title is not
    worth an error on screen). The model's reasoning, if any, is not read. `conversation`:
    see `title_request`."""
    # Streamed, though it is read whole: a server stops generating as soon as a streamed
    # request's connection closes (the next token finds no reader), while llama.cpp checks a
    # non-streamed one only now and then. A question sent while the title runs closes it.
    params = RequestParams(model, max_tokens=TITLE_TOKENS, stream=True)
    parts: list[str] = []
    try:
        async with asyncio.timeout(timeout), aclosing(
                provider.stream(title_request(question, answer, conversation), params)) as events:
            async for event in events:
                if isinstance(event, Delta):
                    parts.append(event.text)
    except TimeoutError:
        log.info("title request gave no answer within %g s", timeout)
        return None
    except ProviderError as error:
        log.info("title request failed: %s", error)
        return None
    except Exception:  # a bug here must not reach the screen: the first line stays
        log.exception("title request failed unexpectedly")
        return None
    title = clean_title("".join(parts))
    if not title:
        log.info("title request answered no usable title: %r", "".join(parts)[:200])
    return title or None
