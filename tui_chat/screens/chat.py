"""ChatScreen: the prompt, the transcript and the status bar, wired to an Exchange worker."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker

from tui_chat import gc_pauses
from tui_chat.attachments import Limits
from tui_chat.compat import textual_hooks
from tui_chat.continuation import ContinueMode
from tui_chat.frame_timer import PacedUpdates
from tui_chat.models import (
    BUSY_PHASES,
    Attachment,
    Conversation,
    ConversationSettings,
    Message,
    MessageStatus,
    Phase,
    ProviderError,
    ReasoningMode,
    RequestParams,
    StreamBroken,
)
from tui_chat.pacing import PACING
from tui_chat.render import RenderStyle
from tui_chat.sanitize import sanitize_line
from tui_chat.screens.chat_actions import CopyAndSetupActions
from tui_chat.screens.chat_attachments import AttachmentActions
from tui_chat.screens.chat_branches import EditAndContinue, EditNote
from tui_chat.screens.chat_queue import QueuedSending
from tui_chat.screens.chat_status import StatusReport
from tui_chat.screens.chat_titles import ModelTitles
from tui_chat.screens.chat_versions import AnswerVersions
from tui_chat.session import Exchange, RetryPending, RetryPolicy, Shown
from tui_chat.widgets.attachment_tray import AttachmentTray
from tui_chat.widgets.key_footer import KeyFooter
from tui_chat.widgets.message_view import MessageStyles, MessageView, format_metrics
from tui_chat.widgets.prompt_input import PromptInput
from tui_chat.widgets.queued_prompts import QueuedPrompts
from tui_chat.widgets.status_bar import StatusBar
from tui_chat.widgets.transcript import Transcript

if TYPE_CHECKING:
    from tui_chat.providers.base import Provider
    from tui_chat.store import ConversationStore
    from tui_chat.store.recorder import AnswerRecorder

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """What the chat screen needs from the settings, as plain values."""

    params: RequestParams
    system: str = ""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_input_chars: int = 200_000
    context_messages: int = 20
    context_tokens: int = 8000
    models: tuple[str, ...] = ()
    presets: Mapping[str, str] = field(default_factory=dict)
    full_redraw: bool = False
    """Leave the terminal output to Textual (whole rows) instead of RowCompositor."""
    reasoning: ReasoningMode = "folded"
    """How a reasoning model's thinking shows: "show", "folded" or "hidden"."""
    auto_title: bool = False
    """Ask the model for a title after a new conversation's first answer (the `auto_title`
    setting, decided for this endpoint)."""
    title_in_context: bool = False
    """Ask for the title with the conversation itself as the prompt's start (a local server:
    its prompt cache then still holds the conversation for the next question; titles.py)."""
    model_state: Callable[[], str] | None = None
    """What the model is doing while it cannot answer yet (the local engine starting), shown
    in the status bar in place of its name from the first frame on; "" once it serves."""
    attachment_limits: Limits = field(default_factory=Limits)
    """How large a file, and one message's files together, may be."""
    continue_mode: ContinueMode = "instruct"
    """How Continue asks for the rest of an answer (see continuation.py)."""

    def conversation_defaults(self) -> ConversationSettings:
        """What a new conversation starts with: the settings (config, flags, profile)."""
        params = self.params
        return ConversationSettings(params.model, self.system, params.temperature,
                                    params.max_tokens)


class ChatScreen(PacedUpdates, AnswerVersions, EditAndContinue, CopyAndSetupActions,
                 AttachmentActions, QueuedSending, ModelTitles, Screen[None]):
    """One conversation: type, watch the answer stream, pause, cancel, retry.

    This module wires the widgets and runs the answer worker; the rest has its own room:
    chat_storage.py (loading, saving, export), chat_versions.py (versions of a retried answer
    or an edited question), chat_branches.py (editing a question, continuing an answer),
    chat_actions.py (copy, model, system prompt, settings), chat_attachments.py (files for the
    next message), chat_queue.py (messages sent while an answer runs), chat_titles.py (the
    model's title for a new conversation), chat_status.py (the status bar's figures) and
    MessageView.add_shown (what the exchange yields, put into the view)."""

    CSS_PATH = "chat.tcss"
    AUTO_FOCUS = "PromptInput"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="chat.cancel"),
        Binding("ctrl+s,f8", "toggle_pause", "Pause", id="chat.pause"),
        Binding("ctrl+r", "retry", "Retry", id="chat.retry"),
        # Priority: F6 in the input is TextArea's "select line", which it gets whenever
        # there is nothing to continue (check_action says so).
        Binding("f6", "continue_answer", "Continue", show=False, priority=True,
                id="chat.continue"),
        Binding("ctrl+end", "follow", "Follow", show=False, id="chat.follow"),
        # Scrolling works from anywhere, the input included (priority: before the input's own
        # PgUp/PgDn and Shift+arrow keys, which only move its cursor).
        Binding("pageup", "scroll_transcript('page', -1)", "Page up", show=False,
                priority=True, id="chat.page_up"),
        Binding("pagedown", "scroll_transcript('page', 1)", "Page down", show=False,
                priority=True, id="chat.page_down"),
        Binding("shift+up,ctrl+up", "scroll_transcript('line', -1)", "Scroll up", show=False,
                priority=True, id="chat.scroll_up"),
        Binding("shift+down,ctrl+down", "scroll_transcript('line', 1)", "Scroll down",
                show=False, priority=True, id="chat.scroll_down"),
        Binding("end", "follow_from_input", "Follow", show=False, priority=True,
                id="chat.end_follows"),
        Binding("tab", "walk_messages(1)", "Next message", show=False, id="chat.tab"),
        Binding("shift+tab", "walk_messages(-1)", "Prev message", show=False,
                id="chat.shift_tab"),
        Binding("ctrl+o", "conversations", "Chats", id="chat.conversations"),
        Binding("ctrl+n", "new_conversation", "New", show=False, id="chat.new"),
        Binding("ctrl+g,f4", "copy_answer", "Copy", id="chat.copy"),
        Binding("f5", "copy_code", "Copy code", show=False, id="chat.copy_code"),
        Binding("f2", "pick_model", "Model", id="chat.model"),
        Binding("f3", "edit_system", "System", show=False, id="chat.system"),
        Binding("ctrl+t", "attach_file", "Attach", show=False, id="chat.attach"),
    ]

    phase: var[Phase] = var("ready", bindings=True)
    """Drives which of cancel / pause / retry apply, and the status bar."""

    # Its pace, from tui_chat/pacing.py (docs/PACING.md says why each number).
    SAVE_INTERVAL: ClassVar[float] = PACING.save_interval
    COLLECT_AFTER: ClassVar[float] = PACING.collect_after
    STATUS_INTERVAL: ClassVar[float] = PACING.status_interval

    def __init__(self, provider: Provider, options: ChatOptions, *,
                 code_theme: str = "monokai",
                 clock: Callable[[], float] = time.monotonic,
                 store: ConversationStore | None = None,
                 conversation_id: int | None = None,
                 welcome: Content | None = None) -> None:
        super().__init__()
        self._welcome = welcome
        """Shown in the transcript while the conversation is empty (see screens/welcome.py)."""
        if not options.full_redraw:
            # Sends the terminal only the cells that changed (see compositor.py).
            textual_hooks.use_row_compositor(self)
        self._provider = provider
        self._clock = clock
        self.store = store
        self.conversation = Conversation(options.conversation_defaults(), id=conversation_id)
        self._recorder: AnswerRecorder | None = None
        """The stored copy of the running answer (None without a store)."""
        self._versions = {}
        self._text_below = False
        self._code_cursor = {}
        self._store_failed = False
        self.options = options
        self.code_theme = code_theme
        self.history = []
        self._exchange: Exchange | None = None
        self._answer_view: MessageView | None = None
        self._worker: Worker[None] | None = None
        self._status_timer: Timer | None = None
        self._save_timer: Timer | None = None
        self._status = StatusReport(clock)
        """What the status bar says, worked out from the exchange (screens/chat_status.py)."""
        self._render_style: RenderStyle | None = None
        self._transcript: Transcript | None = None
        self.message_styles = MessageStyles()
        """The styles of the message views' parts, for all of them (see MessageStyles)."""

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Transcript(id="transcript")
        yield self.message_styles
        yield Static(Content("↓ new text below · end or ctrl+end to follow"), id="new-below")
        yield EditNote()
        yield AttachmentTray(id="attachments")
        yield QueuedPrompts(id="queued")
        yield PromptInput(id="prompt", max_chars=self.options.max_input_chars,
                          history=self.recent_prompts, take_queued=self._take_queued_back,
                          last_question=self.last_question)
        yield StatusBar(id="status")
        yield KeyFooter()

    def on_screen_suspend(self) -> None:
        # Another screen draws now; what this one knows of the terminal goes stale.
        if (compositor := textual_hooks.row_compositor(self)) is not None:
            compositor.forget_terminal()

    def _terminal_redrawn(self, _app: object) -> None:
        """Back from a suspend (an editor, Ctrl+Z): the terminal may show anything."""
        if (compositor := textual_hooks.row_compositor(self)) is not None:
            compositor.forget_terminal()
        self.refresh()

    def on_mount(self) -> None:
        self._show_settings()
        self._status_timer = self.set_interval(self.STATUS_INTERVAL, self._status_tick,
                                               pause=True)
        self._save_timer = self.set_interval(self.SAVE_INTERVAL, self._save_running_answer,
                                             pause=True)
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self.app.app_resume_signal.subscribe(self, self._terminal_redrawn)
        self.watch(self.transcript, "detached", self._update_new_below)
        self._sync_status()
        if self.conversation_id is not None:
            self.call_after_refresh(self.load_conversation, self.conversation_id)
        else:
            self.call_later(self._show_welcome)

    @property
    def transcript(self) -> Transcript:
        # Asked for on every chunk: a DOM query each time was a tenth of the streaming loop.
        if self._transcript is None:
            self._transcript = self.query_one(Transcript)
        return self._transcript

    @property
    def prompt_input(self) -> PromptInput:
        return self.query_one(PromptInput)

    def render_style(self) -> RenderStyle:
        if self._render_style is None:
            from tui_chat.theme_styles import render_style_for

            self._render_style = render_style_for(self.app, self.code_theme)
        return self._render_style

    def _theme_changed(self, _theme: object) -> None:
        self.code_theme = getattr(self.app, "code_theme", self.code_theme)
        self._render_style = None
        style = self.render_style()
        for view in self.query(MessageView):
            view.set_render_style(style)

    # -- sending ---------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def send_prompt(self, event: PromptInput.Submitted) -> None:
        """Send it, or queue it while an answer runs (chat_queue.py); an edit of a sent
        question goes to chat_branches.py."""
        if isinstance(event.edits, MessageView):
            await self.send_edit(event.edits, event.text)
            return
        await self.send_or_queue(event.text)

    @on(PromptInput.SubmittedEmpty)
    async def _send_held_queue(self) -> None:
        await self.send_queued()

    async def _send(self, text: str, files: tuple[Attachment, ...]) -> None:
        self.history.append(Message("user", text, files))
        message_id = self._persist_user(text, files)
        await self.query("#welcome").remove()
        await self.transcript.mount(MessageView("user", text, message_id=message_id,
                                                attachments=files))
        self.offer_continue()  # the answer before is not the last one any more
        await self._start_answer()

    def recent_prompts(self) -> list[str]:
        """Prompts sent before, newest first: this conversation's, then the stored ones of
        every conversation (so they outlive the app); Up in an empty input walks them."""
        here = [m.content for m in reversed(self.history)
                if m.role == "user" and isinstance(m.content, str)]
        stored: list[str] = []
        if (store := self.store) is not None:
            conversation_id = self.conversation_id
            stored = self._store_call("prompts", lambda: store.recent_prompts(
                conversation_id)) or []
        return list(dict.fromkeys([*here, *stored]))

    @on(PromptInput.Refused)
    def refuse_prompt(self, event: PromptInput.Refused) -> None:
        self.notify(event.reason, title="Not sent", severity="error", markup=False)

    def request_messages(self) -> list[Message]:
        """The system prompt plus as much recent conversation as the context budget allows."""
        from tui_chat.context_window import fit_context, without_unanswered

        options = self.options
        prompt = self.conversation.settings.system
        history = without_unanswered(self.history)
        recent, trimmed = fit_context(prompt, history,
                                      max_messages=options.context_messages,
                                      max_tokens=options.context_tokens)
        self._status.context_note = (f"context: last {len(recent)} of {len(history)} messages"
                              if trimmed else "")
        system = [Message("system", prompt)] if prompt else []
        return [*system, *recent]

    async def _start_answer(self, replaces: int | None = None) -> None:
        self._pause_title()
        recorder = self._begin_recording(replaces)
        answer_id = recorder.message_id if recorder is not None else None
        view = MessageView("assistant", status="waiting", render_style=self.render_style(),
                           reasoning_mode=self.options.reasoning,
                           message_id=answer_id)
        if replaces is not None:
            view.versions = self._versions_of(answer_id)
        await self.transcript.mount(view)
        self.transcript.scroll_end(animate=False)
        self._run_answer(self._new_exchange(self.request_messages()), view, recorder)

    def _new_exchange(self, messages: list[Message], *, continues: str | None = None,
                      fallback: list[Message] | None = None) -> Exchange:
        """The request for an answer (or, with `continues`, for the rest of one; `fallback`
        is sent instead if the server refuses `messages`)."""
        return Exchange(
            self._provider,
            messages,
            self.conversation.settings.request_params(stream=self.options.params.stream),
            retry=self.options.retry,
            on_retry=self._retry_scheduled,
            clock=self._clock,
            continues=continues,
            fallback=fallback,
        )

    def _run_answer(self, exchange: Exchange, view: MessageView,
                    recorder: AnswerRecorder | None) -> None:
        """Stream `exchange` into `view` (and its stored row, through `recorder`)."""
        self._exchange = exchange
        self._answer_view = view
        self._recorder = recorder
        self._status.start_answer(len(view.text))
        self.phase = "waiting"
        self.offer_continue()
        if self._status_timer is not None:
            self._status_timer.resume()
        if self._save_timer is not None:
            self._save_timer.resume()
        self._worker = self.stream_answer(exchange, view, recorder)

    @work(exclusive=True, group="answer", exit_on_error=False)
    async def stream_answer(self, exchange: Exchange, view: MessageView,
                            recorder: AnswerRecorder | None = None) -> None:
        """Consume the exchange into the view; every ending keeps the text received."""
        status: MessageStatus = "done"
        error_text = ""
        gc_pauses.hold()

        def show(shown: Shown) -> None:
            if view.status == "waiting":
                view.status = "streaming"
            if self._exchange is exchange and self.phase in ("waiting", "retrying"):
                self.phase = "streaming"
            view.add_shown(shown, exchange.metrics)
            if not self._text_below and self.transcript.detached:
                self._text_below = True
                self._update_new_below()

        try:
            # Text goes into the view as the reader takes it in (the view draws it on its
            # next frame); this worker wakes for what was held back by a pause, and the end.
            async with aclosing(exchange.display(sink=show)) as pieces:
                async for shown in pieces:
                    show(shown)
        except ProviderError as error:
            status = "interrupted" if isinstance(error, StreamBroken) and exchange.received \
                else "failed"
            error_text = sanitize_line(str(error))
            log.info("answer %s: %s", status, error_text)
        except asyncio.CancelledError:
            status = "cancelled"
            if not exchange.received and exchange.retried_error is not None:
                # Cancelled while waiting to retry: say what it was waiting out.
                error_text = ("stopped waiting to retry after "
                              f"{sanitize_line(str(exchange.retried_error))}")
            raise
        except Exception as error:  # a bug must not take the conversation down with it
            log.exception("answer failed unexpectedly")
            status = "failed"
            error_text = sanitize_line(f"unexpected error: {error}")
        finally:
            gc_pauses.release()
            self.app.set_timer(self.COLLECT_AFTER, gc_pauses.collect_when_idle)
            self._end_answer(exchange, view, status, error_text, recorder)

    def _end_answer(self, exchange: Exchange, view: MessageView, status: MessageStatus,
                    error_text: str, recorder: AnswerRecorder | None) -> None:
        if exchange.paused:
            # Nothing held back is lost, whatever the ending.
            view.add_shown(exchange.resume(), exchange.metrics)
        if exchange.metrics.ended_at is None:
            exchange.metrics.ended_at = self._clock()
        figures = format_metrics(exchange.metrics) if exchange.received else ""
        view.end_thinking(exchange.metrics.thinking_time, exchange.metrics.reasoning_tokens)
        view.set_cut(status == "done" and exchange.finish_reason == "length")
        if error_text:
            hint = " · ctrl+r retries"
            view.set_footer(f"{error_text}{hint}" if not figures
                            else f"{error_text} · {figures}{hint}", error=True)
        else:
            view.set_footer(figures)
        view.finish(status)
        if exchange.continues is not None:  # the answer grew: the history has its start
            if self.history and self.history[-1].role == "assistant":
                self.history[-1] = Message("assistant", exchange.continues + exchange.text)
        elif exchange.parts:  # a cancelled or broken answer is kept, not dropped
            self.history.append(Message("assistant", exchange.text))
        if recorder is not None:
            recorder.finish(exchange.text, status, metrics=exchange.metrics, error=error_text,
                            reasoning=exchange.reasoning, finish_reason=exchange.finish_reason)
        if self._exchange is exchange:
            self._status.message = error_text
            self.phase = status
            if self._status_timer is not None:
                self._status_timer.pause()
            if self._save_timer is not None:
                self._save_timer.pause()
            self._sync_status()
            self.offer_continue()
            if not self._queue_after_answer(status):
                self._title_when_idle(status)

    def _save_running_answer(self) -> None:
        """The save timer: keep the growing answer on disk, so a crash loses little of it."""
        recorder, exchange = self._recorder, self._exchange
        if recorder is not None and exchange is not None and self.phase in BUSY_PHASES:
            recorder.save_partial(exchange.parts, exchange.reasoning_parts)

    def _retry_scheduled(self, pending: RetryPending | None) -> None:
        if pending is not None:
            self._status.message = sanitize_line(str(pending.error))
            self.phase = "retrying"
        elif self.phase == "retrying":
            self.phase = "waiting"
        self._sync_status()

    # -- status ----------------------------------------------------------------------------

    def _status_tick(self) -> None:
        """The status timer, while an answer runs. While text streams in, the figures are
        refreshed in the answer's next frame: on a frame of their own they cost that frame
        again (a sixth of the frames of a 50 chunks/s answer, issue 19)."""
        view = self._answer_view
        if self.phase != "streaming" or view is None or not view.call_before_draw(
                self._sync_status):
            self._sync_status()

    def _sync_status(self) -> None:
        self.query_one(StatusBar).figures = self._status.figures(self.phase, self._exchange,
                                                                 self._answer_view)

    def watch_phase(self, phase: Phase) -> None:
        if self.is_mounted:
            # On the prompt, not the screen: a class on the screen restyles every widget
            # under it, twice an answer (about 30 ms each, measured).
            self.prompt_input.set_class(phase in BUSY_PHASES, "-busy")
            self._sync_status()
            self._update_new_below()

    # -- keys ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        match action:
            case "cancel" | "toggle_pause":
                return self.phase in BUSY_PHASES or None  # None: shown, but disabled
            case "retry":
                return bool(self.history) or None
            case "conversations":
                return self.store is not None or None
            case "continue_answer":
                return any(view.offers_continue for view in self.query(MessageView))
            case "follow_from_input":
                # End in an input with text moves its cursor; otherwise it follows the answer.
                focused = self.focused
                return not (isinstance(focused, PromptInput) and focused.text)
        return True

    def action_cancel(self) -> None:
        """Stop the running answer; the HTTP response is closed and the text so far kept."""
        worker = self._worker
        if worker is not None and worker.is_running and not worker.is_cancelled:
            worker.cancel()

    def action_toggle_pause(self) -> None:
        """Freeze the display; the stream goes on buffering and nothing is dropped."""
        exchange = self._exchange
        view = self._answer_view
        if exchange is None or view is None or self.phase not in BUSY_PHASES:
            return
        if exchange.paused:
            view.add_shown(exchange.resume(), exchange.metrics)
            self.phase = "streaming" if exchange.received else "waiting"
        else:
            exchange.pause()
            self.phase = "paused"
        self._sync_status()

    def footer_description(self, action: str) -> str | None:
        """What the footer calls a key now, where that depends on the state (KeyFooter asks)."""
        if action == "toggle_pause" and self.phase == "paused":
            return "Resume"
        return None

    async def action_retry(self) -> None:
        """Ask again for the answer to the last user message, in place of the last answer."""
        if not self.history:
            return
        await self.stop_answer()
        if self.history and self.history[-1].role == "assistant":
            self.history.pop()
        if not self.history:
            return
        await self.transcript.show_end()  # the last answer is mounted, wherever one reads
        views = self.transcript.query(MessageView)
        replaces = None
        if views and views.last().role == "assistant":
            replaces = views.last().message_id
            await views.last().remove()
        await self._start_answer(replaces=replaces)

    def action_conversations(self) -> None:
        """Open the list of stored conversations (with full-text search)."""
        if self.store is None:
            return
        from tui_chat.screens.conversations import ConversationsScreen

        self.app.push_screen(ConversationsScreen(self.store, current_id=self.conversation_id),
                             self._conversation_chosen)

    async def _conversation_chosen(self, choice: object) -> None:
        from tui_chat.screens.conversations import NewConversation, OpenConversation

        match choice:
            case OpenConversation(conversation_id=conversation_id, message_id=message_id):
                await self.load_conversation(conversation_id, message_id)
            case NewConversation():
                await self.new_conversation()

    async def action_new_conversation(self) -> None:
        await self.new_conversation()

    def action_follow(self) -> None:
        self.transcript.action_follow()

    def action_follow_from_input(self) -> None:
        self.transcript.action_follow()

    SCROLL_LINES: ClassVar[int] = 3
    """Lines scrolled by Shift+Up/Down (a mouse wheel notch scrolls as many)."""

    def action_scroll_transcript(self, unit: str, direction: int) -> None:
        """Scroll the conversation without moving focus (PgUp/PgDn, Shift+Up/Down)."""
        transcript = self.transcript
        if unit == "page":
            step = max(1, transcript.scrollable_content_region.height - 1)
        else:
            step = self.SCROLL_LINES
        transcript.scroll_to(y=transcript.scroll_y + direction * step, animate=False,
                             immediate=True)

    async def action_walk_messages(self, step: int) -> None:
        """Tab: from the input to the newest message, then older ones, then back to the input
        (Shift+Tab goes the other way). Messages not mounted (far up a long conversation) are
        mounted on the way."""
        transcript = self.transcript
        focused = self.focused
        current = focused if isinstance(focused, MessageView) else None
        target = await transcript.neighbour(current, -step)
        if target is None:
            self.prompt_input.focus()
            return
        target.focus(scroll_visible=False)
        if target.region:  # laid out already (a message just mounted is scrolled to by then)
            transcript.scroll_to_widget(target, animate=False)

    def _forget_answer(self) -> None:
        """Another conversation is shown: the last answer's exchange and view are not its."""
        self._exchange = None
        self._answer_view = None
        self._recorder = None
        self.phase = "ready"

    async def stop_answer(self) -> None:
        """Cancel the running answer (if any) and wait until it is recorded as cancelled."""
        worker = self._worker
        if worker is None or worker.is_finished:
            return
        if not worker.is_cancelled:
            worker.cancel()
        try:
            async with asyncio.timeout(5):
                await worker.wait()
        except Exception:  # WorkerCancelled is the expected outcome here
            pass

    @on(MessageView.VersionRequested)
    async def _version_requested(self, event: MessageView.VersionRequested) -> None:
        event.stop()
        await self.show_version(event.view, event.step)

    # -- scrolling -------------------------------------------------------------------------

    def _update_new_below(self, *_: object) -> None:
        """Say that text arrived below while the person reads further up."""
        if not self.transcript.detached:
            self._text_below = False
        self.query_one("#new-below").display = self._text_below

