"""StatusBar: model · state · tokens · speed · time, one line under the input."""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from tui_chat.models import Phase


@dataclass(frozen=True, slots=True)
class StatusFigures:
    """What the status bar shows; the screen builds a new one at most a few times a second."""

    phase: Phase = "ready"
    tokens: int = 0
    tokens_estimated: bool = True
    tokens_per_second: float | None = None
    ttft: float | None = None
    elapsed: float | None = None
    buffered_chars: int = 0
    """Text held back while the display is paused."""
    retry_in: float | None = None
    """Seconds until an automatic retry; None when none is pending."""
    attempt: int = 0
    context_note: str = ""
    """E.g. "context: last 20 of 57 messages" when older messages were left out."""
    message: str = ""
    """A one-line error or notice, already sanitised."""
    thinking_tokens: int | None = None
    """While a reasoning model thinks (before its answer): the reasoning's tokens so far."""


class StatusBar(Widget):
    """One line of state. Its text is built from values only: no markup is ever parsed."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text-muted;
        padding: 0 1;
        &.-busy { color: $text; }
        &.-paused { background: $warning-muted; color: $text; }
        &.-failed { color: $text-error; }
    }
    """

    model: reactive[str] = reactive("")
    """The model the next request goes to."""
    setup: reactive[str] = reactive("")
    """The conversation's own parameters in a few words, e.g. "T 0.2 max 500 own prompt"."""
    figures: reactive[StatusFigures] = reactive(StatusFigures)
    """The state and figures of the current (or last) answer."""

    def watch_figures(self, figures: StatusFigures) -> None:
        self.set_class(figures.phase in ("waiting", "streaming", "paused", "retrying"), "-busy")
        self.set_class(figures.phase == "paused", "-paused")
        self.set_class(figures.phase in ("failed", "interrupted"), "-failed")

    def render(self) -> Content:
        f = self.figures
        model = self.model or "no model"
        parts = [f"{model} ({self.setup})" if self.setup else model, f.phase]
        if f.phase == "paused":
            parts[-1] = f"paused · {f.buffered_chars:,} chars buffered · ctrl+s resumes"
        if f.phase == "streaming" and f.thinking_tokens is not None:
            parts[-1] = f"thinking… {f.thinking_tokens:,} tok"
        if f.phase == "retrying" and f.retry_in is not None:
            parts[-1] = f"retry {f.attempt} in {f.retry_in:.0f} s"
        if f.tokens:
            approx = "~" if f.tokens_estimated else ""
            parts.append(f"{approx}{f.tokens:,} tok")
        if f.tokens_per_second is not None:
            parts.append(f"{f.tokens_per_second:.1f} tok/s")
        if f.ttft is not None:
            parts.append(f"TTFT {f.ttft:.2f} s")
        if f.elapsed is not None:
            parts.append(f"{f.elapsed:.1f} s")
        if f.context_note:
            parts.append(f.context_note)
        if f.message:
            parts.append(f.message)
        # Content(...) not a str: a str would be parsed as markup, and these values include
        # server text.
        text = Content(" · ".join(parts))
        width = self.content_region.width
        # One line, so a long error is abbreviated here (with "…", not cut mid-word unseen);
        # it is shown in full under the answer.
        return text.truncate(width, ellipsis=True) if 0 < width < text.cell_length else text
