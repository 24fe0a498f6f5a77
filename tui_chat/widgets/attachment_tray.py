"""AttachmentTray: the files waiting to go with the next message, as chips above the input.

Each chip says the file's name and size (an image: its dimensions and format). A chip can be
removed before sending: Delete or Backspace on a focused chip, a click on it, or Backspace in
the empty input (the screen asks `remove_last`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.containers import HorizontalScroll
from textual.message import Message
from textual.widgets import Static

from tui_chat.attachments import describe
from tui_chat.models import Attachment


def chip_text(attachment: Attachment) -> str:
    """"📎 shot.png · 68 B · 3×2 · PNG": what a chip (and a sent message) says of a file."""
    return f"📎 {describe(attachment)}"


def chips_line(attachments: Sequence[Attachment]) -> str:
    """Every chip of a sent message, on one (wrapping) line."""
    return "   ".join(chip_text(attachment) for attachment in attachments)


class AttachmentChip(Static, can_focus=True):
    """One pending file."""

    DEFAULT_CSS = """
    AttachmentChip {
        width: auto;
        height: 1;
        padding: 0 1;
        margin: 0 1 0 0;
        background: $boost;
        color: $text;
        &:focus { background: $primary 40%; text-style: bold; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("delete,backspace,x", "remove", "Remove", id="attachment.remove"),
    ]

    @dataclass
    class RemoveRequested(Message):
        chip: AttachmentChip

    def __init__(self, attachment: Attachment) -> None:
        super().__init__(f"{chip_text(attachment)} ✕", markup=False)
        self.attachment = attachment

    def action_remove(self) -> None:
        self.post_message(self.RemoveRequested(self))

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.action_remove()


class AttachmentTray(HorizontalScroll):
    """The pending attachments; hidden while there are none."""

    DEFAULT_CSS = """
    AttachmentTray {
        height: 1;
        padding: 0 1;
        scrollbar-size-horizontal: 0;
        display: none;
        &.-filled { display: block; }
    }
    """

    @dataclass
    class Changed(Message):
        """Files were added or removed (the screen lets an empty message send then)."""

        tray: AttachmentTray

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pending: list[Attachment] = []

    async def add(self, attachment: Attachment) -> None:
        self.pending.append(attachment)
        chip = AttachmentChip(attachment)
        await self.mount(chip)
        self.set_class(True, "-filled")
        self.scroll_end(animate=False)
        self.post_message(self.Changed(self))

    async def discard(self, chip: AttachmentChip) -> None:
        if chip.attachment in self.pending:
            self.pending.remove(chip.attachment)
        await chip.remove()
        self.set_class(bool(self.pending), "-filled")
        self.post_message(self.Changed(self))

    async def remove_last(self) -> bool:
        chips = list(self.query(AttachmentChip))
        if not chips:
            return False
        await self.discard(chips[-1])
        return True

    async def clear(self) -> list[Attachment]:
        """Take every pending file (they are being sent) and empty the tray."""
        taken, self.pending = self.pending, []
        await self.remove_children()
        self.set_class(False, "-filled")
        self.post_message(self.Changed(self))
        return taken

    async def on_attachment_chip_remove_requested(
            self, event: AttachmentChip.RemoveRequested) -> None:
        event.stop()
        await self.discard(event.chip)
