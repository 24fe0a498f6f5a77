"""Domain types shared by every layer: messages, request parameters, stream events, errors.

No Textual and no SDK imports here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

# The vocabulary of roles and states, in one place: every layer uses these (the store keeps
# them as text, the views name their CSS classes after them).

Role = Literal["system", "user", "assistant"]
"""Who speaks in a turn sent to the model."""

MessageRole = Literal[Role, "error"]
"""A message as stored and shown: a turn, or an error the app recorded (never sent)."""

Ending = Literal["done", "cancelled", "interrupted", "failed"]
"""How an answer ended: finished, stopped by the person, cut off (the text so far kept), or
failed."""

StoredStatus = Literal["streaming", Ending]
"""A stored message: still being written ('streaming'; an app killed mid-answer leaves it so
until the next start marks it interrupted), or how it ended."""

MessageStatus = Literal["waiting", StoredStatus]
"""A message on screen: 'waiting' for its first token, then as stored."""

Phase = Literal["ready", "paused", "retrying", MessageStatus]
"""Where the chat screen is: ready for a prompt, or the state of its running answer (shown
paused, or waiting out a retry), or how the last one ended."""

BUSY_PHASES: tuple[Phase, ...] = ("waiting", "streaming", "paused", "retrying")
"""Phases in which an answer is running."""


def stored_status(status: MessageStatus) -> StoredStatus:
    """What the store keeps for a message that ends with `status`: an answer that ends
    still waiting or streaming (it never should) is stored as failed, so that it is not
    taken for one still being written."""
    if status == "waiting" or status == "streaming":
        return "failed"
    return status

ReasoningMode = Literal["show", "folded", "hidden"]
"""How a reasoning model's thinking is shown: always unfolded, folded to one line once the
answer starts, or not at all."""
REASONING_MODES: tuple[ReasoningMode, ...] = ("show", "folded", "hidden")

AutoTitle = Literal["local", "always", "never"]
"""When the model is asked for a conversation's title: only on a local endpoint (free), on any
endpoint, or never (the first line stays)."""
AUTO_TITLE_MODES: tuple[AutoTitle, ...] = ("local", "always", "never")


IMAGE_TYPES: tuple[str, ...] = ("image/png", "image/jpeg", "image/webp", "image/gif")
"""The image formats a message can carry (what OpenAI's vision models take)."""
TEXT_TYPE = "text/plain"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a user message: a text file (sent as a fenced block named by its
    path) or an image (sent as an image content part). Built by `tui_chat.attachments`."""

    name: str
    """The path as the person gave it; names the fenced block and the chip."""
    mime: str
    """`TEXT_TYPE` or one of `IMAGE_TYPES` (told by the file's first bytes, not its name)."""
    data: bytes = field(repr=False)
    width: int | None = None
    """Pixels, for an image whose header could be read."""
    height: int | None = None
    sha256: str = field(default="", compare=False)
    """Hex digest of `data` (filled in when not given): the store keeps each file once."""

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    @property
    def is_image(self) -> bool:
        return self.mime in IMAGE_TYPES

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def text(self) -> str:
        """A text file's content (a leading byte-order mark dropped)."""
        return self.data.decode("utf-8-sig", "replace")


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation as it is sent to the model."""

    role: Role
    content: str
    attachments: tuple[Attachment, ...] = ()
    """Files sent with a user turn, in the order they were attached."""


@dataclass(frozen=True, slots=True)
class RequestParams:
    """What a request asks of the model, besides the messages."""

    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = True


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of answer text, in arrival order."""

    text: str
    chunks: int = 1
    """How many of the server's chunks it joins (one read can bring many); the token
    estimate counts about one token per chunk."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as reported by the server."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Finished:
    """The server said the answer is complete."""

    reason: str
    """As the server said it: "stop", "length", "content_filter", ..."""


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning ("thinking"), which comes before its answer.

    Servers send it in three shapes (`delta.reasoning_content`, `delta.reasoning`, or
    `<think>...</think>` at the start of the content); the provider turns all of them into this,
    so nothing above it looks at wire fields.
    """

    text: str
    chunks: int = 1
    retracts_answer: bool = False
    """A `</think>` came with no opening tag: the answer text passed on so far was reasoning
    after all. It moves to the reasoning, ahead of `text`, and the answer starts again."""


StreamEvent = Delta | ReasoningDelta | Usage | Finished


@dataclass(slots=True)
class Metrics:
    """Figures of one answer, shown under it when it ends."""

    started_at: float | None = None
    first_token_at: float | None = None
    """The first token of any kind, reasoning or answer."""
    first_answer_at: float | None = None
    """The first token of the answer itself (after any reasoning)."""
    ended_at: float | None = None
    completion_tokens: int | None = None
    """From the server's usage report when given."""
    estimated_tokens: int = 0
    """Our own estimate, used when the server reports no usage."""
    prompt_tokens: int | None = None
    reasoning_tokens: int = 0
    """Our estimate of the reasoning's tokens (servers rarely report them in the stream);
    part of `estimated_tokens`."""

    @property
    def tokens(self) -> int:
        if self.completion_tokens is not None:
            return self.completion_tokens
        return self.estimated_tokens

    @property
    def tokens_estimated(self) -> bool:
        return self.completion_tokens is None

    @property
    def ttft(self) -> float | None:
        if self.started_at is None or self.first_token_at is None:
            return None
        return self.first_token_at - self.started_at

    @property
    def ttfat(self) -> float | None:
        """Time to the first token of the answer, reasoning not counted."""
        if self.started_at is None or self.first_answer_at is None:
            return None
        return self.first_answer_at - self.started_at

    @property
    def thinking_time(self) -> float | None:
        """From the first reasoning token to the answer (or to the end, if none came)."""
        if not self.reasoning_tokens or self.first_token_at is None:
            return None
        end = self.first_answer_at if self.first_answer_at is not None else self.ended_at
        return None if end is None else max(0.0, end - self.first_token_at)

    @property
    def total_time(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    @property
    def tokens_per_second(self) -> float | None:
        if self.first_token_at is None or self.ended_at is None:
            return None
        span = self.ended_at - self.first_token_at
        return self.tokens / span if span > 0 else None


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    """What one conversation asks of the model. Each conversation keeps its own: it is stored
    with the conversation and restored when the conversation is opened again."""

    model: str
    system: str = ""
    temperature: float | None = None
    """None: the server's default."""
    max_tokens: int | None = None
    """None: the server's default."""

    def request_params(self, *, stream: bool = True) -> RequestParams:
        return RequestParams(self.model, temperature=self.temperature,
                             max_tokens=self.max_tokens, stream=stream)

    def summary(self, defaults: ConversationSettings) -> str:
        """The parameters in a few words, for the status bar ("" when none is set)."""
        parts = []
        if self.temperature is not None:
            parts.append(f"T {self.temperature:g}")
        if self.max_tokens is not None:
            parts.append(f"max {self.max_tokens:,}")
        if self.system != defaults.system:
            parts.append("own prompt" if self.system else "no prompt")
        return " ".join(parts)


@dataclass(slots=True)
class Conversation:
    """The conversation a chat screen shows: its id once stored, and its own settings."""

    settings: ConversationSettings
    id: int | None = None
    """None until the first message stores it."""


class ProviderError(Exception):
    """Base of every error a provider raises. `str(error)` is one line fit to show the user."""

    retryable: bool = False
    """Whether retrying the same request later may succeed (before any text arrived)."""


class RateLimited(ProviderError):
    """HTTP 429: the server asks us to slow down."""

    retryable = True

    def __init__(self, retry_after: float | None, detail: str = "") -> None:
        hint = f"; retry in {retry_after:.0f} s" if retry_after else ""
        extra = f": {detail}" if detail else ""
        super().__init__(f"429: rate limited by the server{hint}{extra}")
        self.retry_after = retry_after


class AuthFailed(ProviderError):
    """401/403: the key is missing or rejected."""


class ModelNotFound(ProviderError):
    """404 or an unknown model name."""


class ContextTooLong(ProviderError):
    """400 because the conversation is longer than the model's context window."""


class BadRequest(ProviderError):
    """Another 4xx: the server refused the request as sent."""


class ServerError(ProviderError):
    """5xx from the server."""

    retryable = True

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Unreachable(ProviderError):
    """The connection could not be made (refused, DNS, TLS) or timed out before an answer."""

    retryable = True


class ConnectionRefused(Unreachable):
    """Nothing listens at the address. On this machine that will not change in the seconds a
    retry waits (the server is not running, or the port is wrong), so it is not retried;
    elsewhere it may be a server restarting, so it is."""

    def __init__(self, message: str, *, local: bool) -> None:
        super().__init__(message)
        self.local = local
        self.retryable = not local


class StreamBroken(ProviderError):
    """The answer stopped before the server said it was finished."""


class StreamStalled(StreamBroken):
    """No bytes arrived for longer than the stall timeout."""


class BadResponse(ProviderError):
    """The server sent something that is not the protocol (malformed event, not JSON)."""


class ImagesNotSupported(BadRequest):
    """The endpoint refused a message's images: the model (or the server) takes no image
    input. The same request with a vision model may succeed."""


class NoApiKey(ProviderError):
    """The endpoint needs a key and none is configured."""
