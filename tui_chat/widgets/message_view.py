"""MessageView: one message of the transcript, drawn line by line through `render/`.

The screen pushes text in with `append`; the widget renders at most once per frame and
refreshes only the lines that changed, so a chunk costs in proportion to the chunk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from tui_chat.compat.textual_hooks import count, overrides
from tui_chat.models import Attachment, MessageRole, MessageStatus, Metrics, ReasoningMode
from tui_chat.pacing import PACING
from tui_chat.render import RenderStyle, StreamingDocument
from tui_chat.sanitize import sanitize_line

if TYPE_CHECKING:
    from tui_chat.session import Shown
    from tui_chat.store import StoredMessage

CURSOR = "▌"
_EMPTY = Strip([])

_STATUS_MARK: dict[str, str] = {
    "waiting": "…",
    "streaming": "",
    "done": "✓",
    "cancelled": "■ cancelled",
    "interrupted": "⚠ interrupted",
    "failed": "✗ failed",
}


def format_metrics(metrics: Metrics) -> str:
    """One line of figures: tokens, time to first token, tokens per second, total time."""
    parts: list[str] = []
    tokens = metrics.tokens
    if tokens:
        approx = "~" if metrics.tokens_estimated else ""
        parts.append(f"{approx}{tokens:,} tokens")
    if (ttft := metrics.ttft) is not None:
        parts.append(f"TTFT {ttft:.2f} s")
    if metrics.reasoning_tokens and (ttfat := metrics.ttfat) is not None:
        parts.append(f"answer after {ttfat:.2f} s")  # the first token was thinking
    if (tps := metrics.tokens_per_second) is not None:
        approx = "~" if metrics.tokens_estimated else ""
        parts.append(f"{approx}{tps:.1f} tok/s")
    if (total := metrics.total_time) is not None:
        parts.append(f"{total:.2f} s")
    return " · ".join(parts)


class MessageStyles(Widget):
    """The styles of the parts of a message view (its footer, its thinking heading), from CSS,
    for every view in the transcript: not drawn. Textual gives each widget with component
    classes a node of its own per class, styled again whenever the widget is (three more
    nodes of ~50 objects each per view): three quarters of the garbage a message view left
    when a long conversation scrolled it away, and three more style matches per mount."""

    DEFAULT_CSS = """
    MessageStyles { display: none; }
    MessageStyles > .message-view--footer { color: $text-muted; }
    MessageStyles > .message-view--thinking { color: $text-muted; text-style: italic; }
    MessageStyles > .message-view--footer-error { color: $text-error; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "message-view--footer",
        "message-view--thinking",
        "message-view--footer-error",
    }

    def style_in(self, view: Widget, component: str) -> Style:
        """The part `component` of `view` as a child of `view` would be styled (its colour
        blended over the view's background, its text style added to the view's)."""
        styles = self.get_component_styles(component)
        style = view.rich_style + styles.text_style
        if styles.has_rule("color"):
            _, background = view.background_colors
            style += Style.from_color((background + styles.color).rich_color)
        return style


@overrides("size", "_size_updated")  # Textual's own, if its private API changed
class MessageView(Widget):
    """One message: a user prompt, an assistant answer, or an error."""

    DEFAULT_CSS = """
    MessageView {
        height: auto;
        padding: 0 1;
        margin: 0 0 1 0;
        border-left: outer $secondary 60%;
        &.-user { border-left: outer $primary; background: $boost; }
        &.-error { border-left: outer $error; color: $text-error; }
        &.-streaming, &.-waiting { border-left: outer $accent; }
        &.-failed, &.-interrupted { border-left: outer $error; }
        &.-cancelled { border-left: outer $warning; }
        &:focus { background: $boost; border-left: outer $primary; }
    }
    """

    can_focus = True

    BINDINGS: ClassVar[list[BindingType]] = [
        # Plain keys on a focused message: nothing between the keyboard and the app (tmux,
        # screen, SSH, a terminal's own Alt handling) takes them.
        Binding("left_square_bracket,left", "version(-1)", "Older version",
                id="message.previous_version"),
        Binding("right_square_bracket,right", "version(1)", "Newer version",
                id="message.next_version"),
        Binding("t", "toggle_thinking", "Thinking", id="message.toggle_thinking"),
        Binding("e", "edit", "Edit", id="message.edit"),
        Binding("c", "continue_answer", "Continue", id="message.continue"),
    ]

    @dataclass
    class VersionRequested(Message):
        """The person asked for another version of this answer (`step` -1: older, 1: newer)."""

        view: MessageView
        step: int

    @dataclass
    class EditRequested(Message):
        """The person asked to edit this sent question (`e` on it)."""

        view: MessageView

    @dataclass
    class ContinueRequested(Message):
        """The person asked to continue this answer where it stopped (`c` on it)."""

        view: MessageView

    class Draw(Message, bubble=False):
        """Time to draw the streamed text (the view posts it to itself: see _draw_in)."""

    CONTINUE_HINT: ClassVar[str] = "f6 continues"
    """Said under the answer that Continue applies to."""

    status: reactive[MessageStatus] = reactive("done", layout=True)
    """Where this message is in its life; drives the `-<status>` CSS class and the footer."""

    def __init__(
        self,
        role: MessageRole,
        text: str = "",
        *,
        status: MessageStatus = "done",
        render_style: RenderStyle | None = None,
        message_id: int | None = None,
        id: str | None = None,
        reasoning: str = "",
        reasoning_mode: ReasoningMode = "folded",
        attachments: tuple[Attachment, ...] = (),
    ) -> None:
        # Both classes at once: add_class on a view not yet mounted applies the whole
        # stylesheet to it there and then (then again when mounted), a third of the cost of
        # mounting a stored message as a long conversation scrolls by.
        super().__init__(id=id, classes=f"-{role} -{status}")
        self.role = role
        self.attachments = attachments
        """The files sent with a user message, shown as chips under its text."""
        self.message_id = message_id
        """The stored message this view shows, when it is stored."""
        self.versions: tuple[int, int] | None = None
        """(which version this is, of how many) for an answer asked more than once, or a
        question edited (each version the start of its own branch)."""
        self.cut = False
        """The answer ended at max tokens (the server's finish reason "length")."""
        self.offers_continue = False
        """The screen offers Continue on this answer (the last one, stopped early): the
        footer says how."""
        self._document = StreamingDocument(
            text, style=render_style, markdown=role == "assistant"
        )
        self._render_style = render_style or RenderStyle()
        self.reasoning_mode: ReasoningMode = reasoning_mode
        self._thinking: StreamingDocument | None = None
        """The reasoning before the answer, drawn dimmed above it (None: there was none)."""
        self._thinking_label = ""
        """"Thought for 12.4 s · 1,830 tokens", once the answer has started."""
        self.thinking_folded = False
        self._header: tuple[tuple[str, int], Strip] | None = None
        self._prefix_len = 0
        self._changed_from = 0
        """First line of the last build that may differ from the build before it."""
        self._redraw_all = False
        """The thinking's heading or folding changed: compare every line at the next draw."""
        if reasoning:
            self._new_thinking(reasoning)
        if status not in ("waiting", "streaming"):
            self._document.finish()
            if self._thinking is not None:
                self._thinking.finish()
        self._footer = ""
        self._footer_error = False
        self._lines: list[Strip] = []
        self._lines_width = -1
        self._height_lines = -1
        self.drawn_chars = 0
        """How much of the source the current lines show (benchmarks read it)."""
        self.thinking_drawn_chars = 0
        """Likewise for the reasoning (while its section is unfolded)."""
        self._dirty = True
        self._flush_timer: asyncio.TimerHandle | None = None
        """The event loop's timer for the next draw (see _draw_in)."""
        self._flush_wait = 0.0
        """Seconds that timer waits (tests read it)."""
        self._flush_pending = False
        self._before_draw: list[Callable[[], None]] = []
        """Callbacks to run at the next draw (see call_before_draw)."""
        self._flushed_at = 0.0
        """When pending text was last drawn (time.monotonic())."""
        self._appended = 0
        """Chunks appended since the last draw."""
        self._appended_at = float("-inf")
        """When text was last appended (time.monotonic())."""
        self._gap = float("inf")
        """The usual time between appends (a moving average), while they keep coming."""
        self._fast = False
        """The last draw carried more than FAST_CHUNKS chunks."""
        self._appended_chars = 0
        self._flooded = False
        """The last draw carried more than FLOOD_CHARS, or left text for the next one."""
        self._lines_kept = False
        """_flush changed the height and marked the lines that changed (see _size_updated)."""
        self._painted_from = 0
        """How many lines the view had when it was last repainted whole (see _flush)."""
        self._paint_style: Style | None = None
        """The base style while render_lines paints (see there)."""
        self._paint_width = 0
        """The content's width while render_lines paints."""
        self._base_style: Style | None = None
        """The base style (rich_style), kept from one paint to the next until Textual
        applies CSS to this view again (see notify_style_update)."""
        self.set_reactive(MessageView.status, status)

    @classmethod
    def from_stored(cls, row: StoredMessage, style: RenderStyle,
                    versions: tuple[int, int] | None = None, *,
                    reasoning_mode: ReasoningMode = "folded") -> MessageView:
        """The view of a stored message: its text, how it ended, and its figures or error
        underneath. `versions`: (which, of how many) for an answer asked more than once."""
        role: MessageRole = row.role if row.role in ("user", "assistant", "error") else "assistant"
        view = cls(role, row.content, status=row.status, render_style=style,
                   message_id=row.id, reasoning=row.reasoning, reasoning_mode=reasoning_mode,
                   attachments=row.attachments)
        view.versions = versions
        view.cut = row.role == "assistant" and row.finish_reason == "length"
        if row.reasoning:
            view.end_thinking(row.thinking_time, row.reasoning_tokens)
        if row.role == "assistant":
            metrics = Metrics(started_at=0.0, first_token_at=row.ttft, ended_at=row.total_time,
                              completion_tokens=None if row.tokens_estimated
                              else row.completion_tokens,
                              estimated_tokens=row.completion_tokens or 0)
            figures = format_metrics(metrics) if row.content else ""
            if row.error:
                view.set_footer(" · ".join(p for p in (sanitize_line(row.error), figures) if p),
                                error=True)
            elif row.status == "interrupted" and not row.error:
                view.set_footer(" · ".join(p for p in ("the app stopped mid-answer", figures)
                                           if p), error=True)
            else:
                view.set_footer(figures)
        return view

    @staticmethod
    def estimated_height(row: StoredMessage, width: int) -> int:
        """About how many lines the view of `row` takes in a transcript `width` cells wide,
        its margin included, without drawing it: its source lines, wrapped (a little early,
        as words are), plus its footer. The transcript stands this in for messages it has
        not mounted, until it has measured them."""
        cells = max(1, (width - 3) * 9 // 10)  # the border and padding; words wrap early
        content = row.content
        # Not line by line: 10,000 of these are summed when a conversation opens.
        newlines = content.count("\n")
        lines = newlines + 1 + (len(content) - newlines) // cells
        if row.role == "assistant":
            lines += 1  # the figures or the status
            if row.reasoning:
                lines += 1  # the folded thinking's heading
        return lines + 1  # the margin below

    # -- what the screen calls -------------------------------------------------------------

    # The drawing pace, from tui_chat/pacing.py (docs/PACING.md says why each number).
    JUMP_LINES: ClassVar[int] = PACING.jump_lines
    FRAME_INTERVAL: ClassVar[float] = PACING.frame_interval
    DRAW_BUDGET: ClassVar[float] = PACING.draw_budget
    FAST_FRAME_INTERVAL: ClassVar[float] = PACING.fast_frame_interval
    QUIET_GAP: ClassVar[float] = PACING.quiet_gap
    FAST_GAP: ClassVar[float] = PACING.fast_gap
    FAST_CHUNKS: ClassVar[int] = PACING.fast_chunks
    FLOOD_CHARS: ClassVar[int] = PACING.flood_chars
    FLOOD_FRAME_INTERVAL: ClassVar[float] = PACING.flood_frame_interval
    FLOOD_DRAW_BUDGET: ClassVar[float] = PACING.flood_draw_budget
    FORGET_PAINTED_LINES: ClassVar[int] = 400
    """Lines of growth after which the whole view is repainted, so that Textual forgets the
    painted form of the lines that scrolled away (memory; see _flush)."""

    @property
    def text(self) -> str:
        """The whole message source as received (Markdown for answers)."""
        return self._document.text

    @property
    def thinking(self) -> str:
        """The reasoning shown above the answer ("" when there is none)."""
        return self._thinking.text if self._thinking is not None else ""

    @property
    def thinking_label(self) -> str:
        return self._thinking_label

    def append(self, text: str) -> None:
        """Add text at the end. Cheap: drawing waits for the next frame."""
        if not text:
            return
        self._document.append(text)
        self._appended_text(len(text))

    def append_thinking(self, text: str) -> None:
        """Add reasoning at the end of the thinking section, drawn like answer text: only
        the open tail again, at most once a frame."""
        if not text:
            return
        if self._thinking is None:
            self._new_thinking("")
            self.refresh_bindings()
        assert self._thinking is not None
        self._thinking.append(text)
        self._appended_text(len(text))

    def end_thinking(self, seconds: float | None, tokens: int | None) -> None:
        """The answer started (or ended without one): sum the thinking up in one line, and
        fold it away if so set."""
        if self._thinking is None or self._thinking_label:
            return
        figures = [f"{seconds:.1f} s"] if seconds is not None else []
        if tokens:
            figures.append(f"{tokens:,} tokens")
        self._thinking_label = ("Thought for " + " · ".join(figures)) if figures else "Thought"
        if self.reasoning_mode == "folded":
            self.thinking_folded = True
        self._redraw()

    def retract_answer(self) -> None:
        """The answer so far was reasoning after all: it moves up into the thinking."""
        moved = self._document.text
        self._document = StreamingDocument("", style=self._render_style, markdown=True)
        if self._thinking is None:
            self._new_thinking(moved)
        else:
            self._thinking.append(moved)
        self._redraw()

    def add_shown(self, shown: Shown, metrics: Metrics) -> None:
        """Put what the exchange yielded in: reasoning into the thinking section, which is
        summed up (and folded, if so set) when the answer starts."""
        if shown.retracted:
            self.retract_answer()
        if shown.reasoning:
            self.append_thinking(shown.reasoning)
        if shown.answer:
            self.end_thinking(metrics.thinking_time, metrics.reasoning_tokens)
            self.append(shown.answer)

    def action_toggle_thinking(self) -> None:
        """Fold or unfold the thinking section."""
        if self._thinking is not None and self.reasoning_mode != "hidden":
            self.thinking_folded = not self.thinking_folded
            self._redraw()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y == 0 and self._prefix_len:
            event.stop()
            self.action_toggle_thinking()

    def _new_thinking(self, text: str) -> None:
        self._thinking = StreamingDocument(text, style=self._thinking_style(), markdown=True)

    def _thinking_style(self) -> RenderStyle:
        style = self._render_style
        return replace(style, text=style.text + style.muted)

    def _redraw(self) -> None:
        self._dirty = True
        self._redraw_all = True
        self._lines_width = -1
        if self.is_mounted:
            self.refresh(layout=True)

    def _appended_text(self, chars: int) -> None:
        self._dirty = True
        self._appended += 1
        self._appended_chars += chars
        now = self._now()
        gap = now - self._appended_at
        self._appended_at = now
        quiet = gap >= self.QUIET_GAP
        # The frame budget follows the pace of the chunks: each one drawn at once while they
        # come less often than QUIET_GAP, at most one frame per FRAME_INTERVAL while they come
        # faster, FAST_FRAME_INTERVAL when they pour in (several per frame anyway).
        self._gap = gap if quiet else 0.5 * self._gap + 0.5 * gap
        if not self.is_mounted:
            return
        interval = (self.FLOOD_FRAME_INTERVAL if self._flooded else
                    0.0 if quiet else
                    self.FAST_FRAME_INTERVAL if self._gap < self.FAST_GAP or self._fast else
                    self.FRAME_INTERVAL)
        wait = self._flushed_at + interval - now
        if self._flush_pending:
            # A frame rides on a chunk: once the interval is up, the chunk that comes then is
            # drawn at once with those waiting, rather than the timer drawing them without it
            # (and the next frame drawing it alone). At 50 chunks a second a frame then carries
            # three chunks, 17 frames a second instead of 20, and none waits longer than two
            # chunks' gap (40 ms) where the timer's frames made some wait 50 ms. A flood's
            # frames keep their timer (see _flush).
            if wait <= 0 and self._flush_timer is not None and not self._flooded:
                self._flush_timer.cancel()
                self._flush_timer = None
                self.post_message(self.Draw())
            return
        self._flush_pending = True
        if wait > 0:
            # The timer only bounds this chunk's wait when no other comes for it to ride on.
            self._draw_in(interval)
        else:  # after the chunks already on their way in this turn of the loop
            self.post_message(self.Draw())

    def _draw_in(self, wait: float) -> None:
        """Draw in `wait` seconds, through this view's message queue as Textual's timers do.

        Not `set_timer`, nor `call_later`/`call_next`: a Textual timer is an asyncio task of
        its own, and all three wrap the callback in a new partial whose parameters Textual
        counts with inspect.signature on every call. Once a frame, that was 4-7 % of the
        app's CPU while streaming at 50 chunks a second (cProfile in the pty, issue 19). An
        event-loop timer that posts a message costs neither."""
        self._flush_wait = wait
        self._flush_timer = asyncio.get_running_loop().call_later(wait, self._post_draw)

    def _post_draw(self) -> None:
        self._flush_timer = None
        self.post_message(self.Draw())

    def on_message_view_draw(self, _message: Draw) -> None:
        if self._flush_pending:  # else a draw since (finish(), say) took the text already
            self._flush()

    def call_before_draw(self, callback: Callable[[], None]) -> bool:
        """Run `callback` at this view's next draw, so that what it refreshes goes out in the
        same frame as the text. If it is still waiting from the call before (no draw came in
        between: the stream stalled), it is taken back and False is returned: call it yourself
        then, so a stall delays it by one interval of the caller at most."""
        if callback in self._before_draw:
            self._before_draw.remove(callback)
            return False
        self._before_draw.append(callback)
        return True

    def on_unmount(self) -> None:
        if self._flush_timer is not None:  # as Textual stops a removed widget's timers
            self._flush_timer.cancel()
            self._flush_timer = None
            self._flush_pending = False

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def release(self) -> None:
        """The view is being unmounted for good (a long conversation scrolled it away): let
        go of its text and drawn lines now. Textual's widgets hold each other in cycles, so a
        removed one is freed only by a full garbage collection; its lines, most of its
        memory, are freed at once and that collection has less to scan.

        Called while the view is still mounted (and the screen's updates batched): the
        refresh makes Textual drop the painted form of its lines, which it keeps in the
        widget's styles cache; a class-wide lru_cache in Textual (StylesCache.get_inner_outer,
        keyed on the cache itself) keeps the last 1,024 of those caches alive long after
        their widgets are gone: paging through a long conversation grew the objects every
        full collection scans by ~1,000 lines' worth per 20 pages (docs/UPSTREAM.md, 5)."""
        if self.is_mounted:
            self.refresh()
        self._document = StreamingDocument("", style=self._render_style,
                                           markdown=self.role == "assistant")
        self._thinking = None
        self._lines = []
        self._lines_width = -1
        self._dirty = True

    def set_footer(self, text: str, *, error: bool = False) -> None:
        """The line under the message: figures when done, the reason when it failed."""
        if (text, error) != (self._footer, self._footer_error):
            self._footer = text
            self._footer_error = error
            self._dirty = True
            self.refresh(layout=True)

    def set_versions(self, number: int, total: int) -> None:
        """Show "‹ 2/3 ›" in the footer: this is version `number` of `total`."""
        versions = (number, total) if total > 1 else None
        if versions != self.versions:
            self.versions = versions
            self._dirty = True
            self.refresh(layout=True)
            self.refresh_bindings()

    @property
    def continuable(self) -> bool:
        """An answer with text that stopped early: cut at max tokens, interrupted or
        cancelled. Continue asks for the rest and appends it here."""
        stopped = self.status in ("interrupted", "cancelled") or (
            self.status == "done" and self.cut)
        return self.role == "assistant" and stopped and bool(self.text)

    def set_cut(self, cut: bool) -> None:
        """Mark (or unmark) the answer as cut at max tokens."""
        if cut != self.cut:
            self.cut = cut
            self._dirty = True
            self.refresh(layout=True)
            self.refresh_bindings()

    def offer_continue(self, offer: bool) -> None:
        """Say under this answer that Continue applies to it (or stop saying so)."""
        if offer != self.offers_continue:
            self.offers_continue = offer
            self._dirty = True
            self.refresh(layout=True)
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "version":
            return self.versions is not None  # else the arrows scroll, as without it
        if action == "edit":
            return self.role == "user" and self.message_id is not None
        if action == "continue_answer":
            return self.offers_continue and self.continuable
        if action == "toggle_thinking":
            return self._thinking is not None and self.reasoning_mode != "hidden"
        return True

    def action_version(self, step: int) -> None:
        if self.versions is not None:
            self.post_message(self.VersionRequested(self, step))

    def action_edit(self) -> None:
        self.post_message(self.EditRequested(self))

    def action_continue_answer(self) -> None:
        self.post_message(self.ContinueRequested(self))

    def set_render_style(self, style: RenderStyle) -> None:
        """The theme changed: draw everything again in the new colours."""
        self._render_style = style
        self._document.set_style(style)
        if self._thinking is not None:
            self._thinking.set_style(self._thinking_style())
        self._header = None
        self._lines_width = -1
        self._dirty = True
        self.refresh(layout=True)

    def finish(self, status: MessageStatus) -> None:
        """The answer ended: close open blocks, drop the cursor, show the status."""
        self._document.finish()
        if self._thinking is not None:
            self._thinking.finish()
        self._dirty = True
        self.status = status
        # The end of the answer is shown first; code blocks are then lexed again as a whole
        # (tens of ms for a long one) once that frame is on the screen.
        self._flush(relex=False)
        if self._document.unlexed:
            self.call_after_refresh(self._lex_code_whole)

    def _lex_code_whole(self) -> None:
        if self._document.unlexed:
            self._dirty = True
            self._flush()

    # -- drawing -----------------------------------------------------------------------

    def watch_status(self, old: MessageStatus, new: MessageStatus) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")
        self._dirty = True

    def _flush(self, *, relex: bool = True) -> None:
        """Render pending text and refresh only what changed. Without `relex`, closed code
        blocks keep their line-by-line colours (see StreamingDocument.render)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._flush_pending = False
        if self._before_draw:
            callbacks, self._before_draw = self._before_draw, []
            for callback in callbacks:
                callback()
        self._flushed_at = self._now()
        self._fast = self._appended > self.FAST_CHUNKS
        self._flooded = self._appended_chars > self.FLOOD_CHARS
        self._appended = self._appended_chars = 0
        if not self.is_mounted:
            return
        width = self.content_region.width  # a lookup in the compositor's map: once a draw
        if width <= 0:
            self.refresh(layout=True)
            return
        old = self._lines
        same_width = width == self._lines_width
        new = self._build_lines(width, relex=relex)
        if self._document.behind and not self._flush_pending:
            # More text is waiting to be drawn: go on after the screen has shown this part.
            self._flush_pending = True
            self._draw_in(self.FLOOD_FRAME_INTERVAL)
        top = self.styles.gutter.top
        # The document knows where its lines start to differ from its last render (the one
        # `old` came from): only the lines from there on are compared.
        start = min(self._changed_from, len(old)) if same_width else 0
        changed = [Region(0, top + y, width, 1)
                   for y in range(start, min(len(old), len(new)))
                   if old[y] is not new[y] and old[y] != new[y]] if new is not old else []
        if len(new) != self._height_lines or len(new) != len(old):
            # A new height: the layout places the view, and only the lines that changed are
            # drawn again. The others keep the rendering Textual cached for them (see
            # _size_updated), where Textual would draw every visible line again.
            if len(new) >= self._painted_from + self.FORGET_PAINTED_LINES:
                # Textual keeps the painted form of every line it painted until the whole
                # view is repainted, which the height-only relayout above avoids: while a
                # long answer streams that was every line of it, each several Strips deep
                # (cropped, styled). Now and then the whole view is repainted: only the
                # lines on screen are painted again, and the rest is forgotten.
                self._painted_from = len(new)
                self._lines_kept = False
                self.refresh()
            else:
                if changed:
                    self.refresh(*changed)
                self._lines_kept = True
            self.clear_cached_dimensions()
            self.refresh(layout=True, repaint=False)
            return
        if changed:
            # Only the changed lines are repainted; the compositor then sends only the cells
            # of them that differ from what the terminal shows.
            self.refresh(*changed)

    def _build_lines(self, width: int, *, relex: bool = True) -> list[Strip]:
        if not self._dirty and width == self._lines_width:
            return self._lines
        streaming = self.status in ("waiting", "streaming")
        document = self._document
        prefix = self._thinking_lines(width, streaming, relex)
        thinking_shown = bool(prefix) and len(prefix) > 1
        answer_cursor = CURSOR if streaming and not (thinking_shown and not document.text) \
            else ""
        lines = list(document.render(width, cursor=answer_cursor,
                                     budget=self._draw_budget() if streaming else None,
                                     relex=relex and not streaming))
        if self.status == "waiting" and not self._document.text and not prefix:
            lines = [Strip([])]  # placeholder row; the footer says "thinking"
        if prefix:
            if len(prefix) != self._prefix_len or self._redraw_all:
                changed = 0
            elif thinking_shown and self._thinking is not None:
                changed = min(1 + self._thinking.changed_from, len(prefix) + document.changed_from)
            else:
                changed = len(prefix) + document.changed_from
            lines = [*prefix, *lines]
        else:
            changed = document.changed_from if not self._prefix_len else 0
        self._prefix_len = len(prefix)
        self._changed_from = changed
        self._redraw_all = False
        footer = self._footer_text()
        if footer:
            component = ("message-view--footer-error" if self._footer_error
                         else "message-view--footer")
            style = self._part_style(component)
            from rich.segment import Segment
            from rich.text import Text

            # Wrapped, never cut: an error's hint is often at its end ("set OPENAI_API_KEY
            # or pass --api-key-env"), and at 80 columns an ellipsis took it away.
            console = self.app.console
            for line in Text(footer, style=style).wrap(console, max(1, width)):
                lines.append(Strip([Segment(part.text, part.style) for part in
                                    line.render(console)]))
        if streaming and self.JUMP_LINES > 1:
            # Jump scrolling: while streaming, the height grows a block of lines at a time, so
            # the transcript relayouts and scrolls (repainting the whole screen) once per block
            # instead of once per line; in between only the changed cells are sent.
            reserve = -len(lines) % self.JUMP_LINES
            lines.extend([_EMPTY] * reserve)
        self._lines = lines
        self._lines_width = width
        # A folded (or hidden) section is not drawn, so it cannot be behind.
        behind = document.behind or (len(prefix) > 1 and self._thinking is not None
                                     and self._thinking.behind)
        self._dirty = behind  # the rest is drawn by the next call
        self._flooded = self._flooded or behind
        self.drawn_chars = len(document) if not document.behind else self.drawn_chars
        if self._thinking is not None and not self._thinking.behind and len(prefix) > 1:
            self.thinking_drawn_chars = len(self._thinking)
        return lines

    def _thinking_lines(self, width: int, streaming: bool, relex: bool) -> list[Strip]:
        """The thinking section: a heading line, then (unfolded) the reasoning and a gap."""
        thinking = self._thinking
        if thinking is None or self.reasoning_mode == "hidden":
            return []
        still = streaming and not self._document.text and not self._thinking_label
        label = self._thinking_label or ("Thinking…" if still else "Thinking")
        text = f"{'▸' if self.thinking_folded else '▾'} {label}"
        if self.thinking_folded:
            text += "  (t or click unfolds)"
        if self._header is None or self._header[0] != (text, width):
            from rich.segment import Segment
            from rich.text import Text

            style = self._part_style("message-view--thinking")
            line = Text(text, style=style)
            line.truncate(max(1, width), overflow="ellipsis")
            self._header = ((text, width), Strip([Segment(part.text, part.style) for part in
                                                  line.render(self.app.console)]))
            self._redraw_all = True
        header = self._header[1]
        if self.thinking_folded:
            return [header]
        body = thinking.render(width, cursor=CURSOR if still else "",
                               budget=self._draw_budget() if streaming else None,
                               relex=relex and not streaming)
        return [header, *body, _EMPTY]

    def _part_style(self, component: str) -> Style:
        """A part's style, from the screen's MessageStyles (the view's own without one)."""
        for node in self.ancestors:
            source = getattr(node, "message_styles", None)
            if isinstance(source, MessageStyles):
                return source.style_in(self, component)
        return self.rich_style

    def _draw_budget(self) -> float:
        return self.FLOOD_DRAW_BUDGET if self._flooded else self.DRAW_BUDGET

    def _footer_text(self) -> str:
        text = self._status_text()
        if self.versions is None:
            return text
        number, total = self.versions
        switcher = f"‹ {number}/{total} ›"
        return f"{switcher} {text}" if text else switcher

    def _status_text(self) -> str:
        if self.role != "assistant":
            if self.attachments:
                from tui_chat.widgets.attachment_tray import chips_line

                return " · ".join(p for p in (chips_line(self.attachments), self._footer) if p)
            return self._footer
        if self.status == "waiting":
            return "● thinking…"
        if self.status == "streaming":
            return self._footer
        mark = _STATUS_MARK.get(self.status, "")
        if self.status == "done" and self.cut:
            mark = "✂ cut at max tokens"
        text = f"{mark} · {self._footer}" if self._footer and mark else self._footer or mark
        if self.offers_continue and self.continuable:
            text = f"{text} · {self.CONTINUE_HINT}" if text else self.CONTINUE_HINT
        return text

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size,
                      layout: bool = True) -> bool:
        # The layout that calls this has just placed the view at its new height, and the
        # compositor repaints the region it now covers in this same frame. Textual's default
        # would then paint it twice more in the next frames: it sets virtual_size as a layout
        # reactive (a second layout, a whole repaint), and it queues a repaint of the old size.
        # While an answer streams that tripled the bytes of every jump. A leaf widget has
        # nothing its virtual size could lay out.
        resized = self._size != size
        if resized and self._lines_kept and size.width == self._size.width:
            # Only the height changed, and _flush marked the lines that differ: keep the other
            # lines' cached rendering (Textual would drop it all for any new size).
            self._size = size
        self._lines_kept = False
        count("size.message_view")
        changed = super()._size_updated(size, virtual_size, container_size, layout=False)
        if resized and layout:
            self._exchange_repaint_regions()
        return changed or resized

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._height_lines = len(self._build_lines(width))
        return self._height_lines

    def render_lines(self, crop: Region) -> list[Strip]:
        # The base style walks every ancestor's styles (a third of painting a streamed
        # frame's row): it is kept until CSS is applied to this view again. The width is
        # looked up in the compositor's map: once per paint, not once per line.
        base = self._base_style
        if base is None:
            base = self._base_style = self.rich_style
        self._paint_style = base
        self._paint_width = self.content_region.width
        try:
            return super().render_lines(crop)
        finally:
            self._paint_style = None

    def notify_style_update(self) -> None:
        # Textual applies CSS to a view whenever its own classes, pseudo-classes (focus) or
        # the theme change, and to every view under a node whose CSS changed: the only ways
        # the app changes what rich_style is made of (it sets no colours inline).
        self._base_style = None
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        width = self._paint_width if self._paint_style is not None else self.content_region.width
        # Lines are rebuilt by the frame flush and by layout, not while painting, so the
        # height the layout knows and the lines painted always agree.
        lines = self._lines if width == self._lines_width else self._build_lines(width)
        base: Style = self._paint_style or self.rich_style
        if y < len(lines):
            # Not Strip.apply_style: it keeps the styled copy inside the line (for as long as
            # the line lives, so for every line ever painted), and Textual keeps the painted
            # line anyway.
            line = lines[y]
            return Strip(Segment.apply_style(line, base), line.cell_length)
        return Strip.blank(width, base)
