"""PromptInput: the multiline prompt. Enter sends; Ctrl+J or Alt+Enter start a new line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

from tui_chat.sanitize import sanitize


class PromptInput(TextArea):
    """Multiline prompt with a length limit that never loses what was typed or pasted."""

    DEFAULT_CSS = """
    PromptInput {
        height: auto;
        min-height: 3;
        max-height: 12;
        border: tall $border-blurred;
        padding: 0 1;
        &:focus { border: tall $border; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+j,alt+enter,shift+enter", "newline", "New line", show=False,
                id="prompt.newline"),
    ]

    @dataclass
    class Submitted(Message):
        """The person sent the prompt. Handled as `@on(PromptInput.Submitted)`."""

        prompt_input: PromptInput
        text: str
        edits: object | None = None
        """What the text is a new version of (what `begin_edit` was given), or None for a
        new message."""

        @property
        def control(self) -> PromptInput:
            return self.prompt_input

    @dataclass
    class Refused(Message):
        """The prompt was not sent (too long); the text stays in the input."""

        prompt_input: PromptInput
        reason: str

        @property
        def control(self) -> PromptInput:
            return self.prompt_input

    @dataclass
    class BackspaceWhenEmpty(Message):
        """Backspace in an empty input while files wait to be sent: the last one goes (as a
        chip in a recipients field would)."""

        prompt_input: PromptInput

        @property
        def control(self) -> PromptInput:
            return self.prompt_input

    @dataclass
    class EditingChanged(Message):
        """The input started or stopped editing a sent question (`editing` says which)."""

        prompt_input: PromptInput
        editing: bool

        @property
        def control(self) -> PromptInput:
            return self.prompt_input

    def __init__(self, *, max_chars: int = 200_000, id: str | None = None,
                 history: Callable[[], Sequence[str]] | None = None,
                 take_queued: Callable[[], str | None] | None = None,
                 last_question: Callable[[], tuple[str, object] | None] | None = None) -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            language=None,
            placeholder="Ask anything · Enter sends · Ctrl+J or Alt+Enter new line",
            highlight_cursor_line=False,
            compact=True,
        )
        self.max_chars = max_chars
        self._history = history
        """Earlier prompts, newest first; asked for when Up is pressed in an empty input."""
        self._recalled: list[str] | None = None
        self._recall_index = -1
        self._take_queued = take_queued
        """Takes the newest message waiting to be sent back off its queue (None: none waits);
        Up in an empty input asks it first, before the earlier prompts."""
        self.has_attachments = False
        """Files wait to go with the next message: it may be sent with no text."""
        self._last_question = last_question
        """This conversation's last question and what to tell the screen it is: Up in an
        empty input brings it back to edit, as in the chat web apps."""
        self._edit_last: object | None = None
        self.editing: object | None = None
        """What the text in the input edits (None: it is a new message)."""
        # A blinking cursor repaints twice a second forever: bytes over SSH and wake-ups on
        # battery while nothing happens. The terminal shows a steady one.
        self.cursor_blink = False

    NEWLINE_KEYS: ClassVar[frozenset[str]] = frozenset({"ctrl+j", "alt+enter", "shift+enter"})
    """Handled here, as the key arrives, rather than by the binding alone: a binding runs
    after the key has gone round the widget and back up to the screen, so text typed in the
    same moment (a fast typist, a busy UI, a browser sending keys in one frame) was inserted
    before the new line. The binding stays for F1, the footer and keys remapped by id."""

    async def _on_key(self, event: events.Key) -> None:
        if event.key in self.NEWLINE_KEYS:
            event.prevent_default()
            event.stop()
            self.action_newline()
        elif event.key == "enter":
            event.prevent_default()  # TextArea would insert a newline
            event.stop()
            self.action_submit()
        elif event.key in ("up", "down") and self._recall(1 if event.key == "up" else -1):
            event.prevent_default()
            event.stop()
        elif event.key == "backspace" and not self.text and self.has_attachments:
            event.prevent_default()
            event.stop()
            self.post_message(self.BackspaceWhenEmpty(self))
        elif event.key == "escape" and self.editing is not None:
            event.prevent_default()
            event.stop()
            self.cancel_edit()

    def begin_edit(self, text: str, target: object) -> None:
        """Put a sent question's text in the input to edit: Enter sends it as a new version
        of `target` (see `Submitted.edits`), Esc gives the input back empty."""
        self._recalled = None
        self.text = text
        self.move_cursor(self.document.end)
        self._set_editing(target)

    def cancel_edit(self) -> None:
        self._recalled = None
        self.clear()
        self._set_editing(None)

    def _set_editing(self, target: object | None) -> None:
        was = self.editing is not None
        self.editing = target
        self.set_class(target is not None, "-editing")
        if was != (target is not None):
            self.post_message(self.EditingChanged(self, target is not None))

    def _recall(self, step: int) -> bool:
        """Up (+1, older) and Down (-1, newer) walk the earlier prompts, as in a shell: from an
        empty input, and on while the recalled text is left as it is. True when handled."""
        if self._recalled is None:
            if self.text or step < 0:
                return False
            if self._take_queued is not None and (queued := self._take_queued()) is not None:
                self.text = queued  # to edit and send again, or to delete
                self.move_cursor(self.document.end)
                return True
            if self._history is None:
                return False
            recalled = list(self._history())
            last = self._last_question() if self._last_question is not None else None
            self._edit_last = None
            if last is not None:
                # The first Up brings this conversation's last question back to edit; the
                # ones after walk the earlier prompts, to send again as new messages.
                if recalled and recalled[0] == last[0]:
                    recalled = recalled[1:]
                recalled.insert(0, last[0])
                self._edit_last = last[1]
            if not recalled:
                return False
            self._recalled = recalled
            self._recall_index = -1
        elif self.text != self._recalled[self._recall_index]:
            self._recalled = None  # edited: the arrow keys move the cursor again
            return False
        index = self._recall_index + step
        if index >= len(self._recalled):
            return True  # the oldest is shown; stay there
        self._recall_index = index
        self.text = self._recalled[index] if index >= 0 else ""
        self.move_cursor(self.document.end)
        self._set_editing(self._edit_last if index == 0 else None)
        if index < 0:
            self._recalled = None  # back to the empty input
        return True

    @dataclass
    class SubmittedEmpty(Message):
        """Enter in an empty input: sends the messages held in the queue, if any."""

    def action_submit(self) -> None:
        text = self.text
        if not text.strip() and not self.has_attachments:
            self.post_message(self.SubmittedEmpty())
            return
        if len(text) > self.max_chars:
            self.post_message(self.Refused(
                self, f"Message is {len(text):,} characters; the limit is {self.max_chars:,}. "
                "Nothing was sent and your text is still here."))
            return
        self.post_message(self.Submitted(self, text, self.editing))
        self._recalled = None
        self.clear()
        self._set_editing(None)

    def action_newline(self) -> None:
        self.insert("\n")

    async def _on_paste(self, event: events.Paste) -> None:
        # Pasted text is untrusted (it may carry escape sequences from a terminal or web page);
        # it is made safe here so it is safe everywhere it is shown later.
        event.prevent_default()
        event.stop()
        # Many terminals (xterm, VTE) send a pasted line break as CR, which sanitize() drops.
        lines = event.text.replace("\r\n", "\n").replace("\r", "\n")
        cleaned = sanitize(lines)
        if cleaned:
            self.insert(cleaned)
