"""QueuedPrompts: messages typed while an answer streams, shown above the input until sent.

A message sent while an answer is still streaming waits here instead of being refused. The
screen sends the oldest when an answer ends done; when one ends otherwise (cancelled, failed,
cut off) the queue is held, says so, and Enter in the empty input sends it. Up in the empty
input takes the newest back into the input, to edit it or to delete it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.content import Content
from textual.widgets import Static

from tui_chat.models import Attachment
from tui_chat.sanitize import sanitize_line


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message waiting its turn, with the files taken for it when it was queued."""

    text: str
    files: tuple[Attachment, ...] = ()


class QueuedPrompts(Static):
    """The queue and its one-line-per-message display (at most SHOWN lines of messages)."""

    DEFAULT_CSS = """
    QueuedPrompts {
        height: auto;
        max-height: 5;
        padding: 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        display: none;
        &.-queued { display: block; }
        &.-held { color: $text-warning; }
    }
    """

    SHOWN: ClassVar[int] = 3
    """Messages listed one per line; more are counted on one line ("+2 more")."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.entries: list[QueuedMessage] = []
        self.held_because = ""
        """Why the queue waits instead of going out when an answer ends ("" when it does not
        wait): the answer was cancelled, or failed."""

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def texts(self) -> list[str]:
        return [entry.text for entry in self.entries]

    def add(self, text: str, files: tuple[Attachment, ...] = ()) -> None:
        self.entries.append(QueuedMessage(text, files))
        self._show()

    def pop_next(self) -> QueuedMessage | None:
        """The oldest message, taken off the queue (None when empty); the hold ends."""
        if not self.entries:
            return None
        self.held_because = ""
        entry = self.entries.pop(0)
        self._show()
        return entry

    def take_last(self) -> QueuedMessage | None:
        """The newest message, taken back off the queue (to edit it in the input)."""
        if not self.entries:
            return None
        entry = self.entries.pop()
        if not self.entries:
            self.held_because = ""
        self._show()
        return entry

    def take_all(self) -> list[QueuedMessage]:
        entries, self.entries, self.held_because = self.entries, [], ""
        self._show()
        return entries

    def hold(self, because: str) -> None:
        """Keep the queue after an answer that did not end done, and say why."""
        if self.entries:
            self.held_because = because
            self._show()

    def _show(self) -> None:
        self.set_class(bool(self.entries), "-queued")
        self.set_class(bool(self.entries and self.held_because), "-held")
        if not self.entries:
            self.update("")
            return
        lines = []
        for number, entry in enumerate(self.entries[: self.SHOWN], 1):
            first = next((line for line in entry.text.splitlines() if line.strip()), "")
            files = len(entry.files)
            with_files = f" + {files} file{'s' * (files > 1)}" if files else ""
            lines.append(f"queued {number} · {sanitize_line(first).strip()}{with_files}")
        if len(self.entries) > self.SHOWN:
            lines.append(f"… and {len(self.entries) - self.SHOWN} more")
        if self.held_because:
            lines.append(f"not sent: {self.held_because} · enter sends · ↑ takes the last back")
        else:
            lines.append("sent when the answer ends · ↑ in the empty input takes the last back")
        # One line each, cut at the width with an ellipsis (CSS), so the queue stays small.
        self.update(Content("\n".join(lines)))
