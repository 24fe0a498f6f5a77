"""AttachmentActions: files for the next message, a mixin of ChatScreen.

Ctrl+T (or the palette) opens the path prompt; `@path` words of a message attach when it is
sent; the pending files wait as chips in the AttachmentTray above the input. Anything that
cannot be attached is one line, and then nothing is sent and nothing typed is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui_chat.attachments import (
    AttachmentError,
    Limits,
    check_total,
    mentioned_paths,
    read_attachment,
)
from tui_chat.models import Attachment
from tui_chat.screens.chat_part import ChatScreenPart
from tui_chat.widgets.attachment_tray import AttachmentTray
from tui_chat.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from tui_chat.screens.chat import ChatOptions


class AttachmentActions(ChatScreenPart):
    """Attach files to the next message: the path prompt, `@path`, and the chips."""

    if TYPE_CHECKING:
        options: ChatOptions

    @property
    def attachment_tray(self) -> AttachmentTray:
        return self.query_one(AttachmentTray)

    def _attachment_limits(self) -> Limits:
        return self.options.attachment_limits

    def action_attach_file(self) -> None:
        """Ask for a file to attach to the next message."""
        from tui_chat.screens.attach_file import AttachFileScreen

        self.app.push_screen(AttachFileScreen(limits=self._attachment_limits()),
                             self._file_chosen)

    async def _file_chosen(self, attachment: Attachment | None) -> None:
        if attachment is None:
            return
        tray = self.attachment_tray
        try:
            check_total([*tray.pending, attachment], self._attachment_limits())
        except AttachmentError as error:
            self.notify(str(error), title="Not attached", severity="error", markup=False)
            return
        await tray.add(attachment)
        self.query_one(PromptInput).focus()

    async def on_prompt_input_backspace_when_empty(
            self, event: PromptInput.BackspaceWhenEmpty) -> None:
        event.stop()
        await self.attachment_tray.remove_last()

    def on_attachment_tray_changed(self, event: AttachmentTray.Changed) -> None:
        event.stop()
        self.query_one(PromptInput).has_attachments = bool(event.tray.pending)

    async def take_attachments(self, text: str) -> tuple[Attachment, ...] | None:
        """The files to send with `text`: the pending chips, then its `@path` files. On a
        file that cannot be attached: one line, and None (the caller puts the text back;
        the chips stay)."""
        pending = list(self.attachment_tray.pending)
        limits = self._attachment_limits()
        try:
            mentioned = [read_attachment(path, limits=limits)
                         for path in mentioned_paths(text)]
            files = [*pending, *(a for a in mentioned if a not in pending)]
            check_total(files, limits)
        except AttachmentError as error:
            self.notify(f"{error}. Nothing was sent; your text is still here.",
                        title="Not sent", severity="error", markup=False)
            return None
        if pending:
            await self.attachment_tray.clear()
        return tuple(files)
