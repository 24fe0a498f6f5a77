"""QueuedSending: messages sent while an answer runs wait their turn instead of being refused.

They wait in QueuedPrompts (above the input) and go out one at a time, each when the answer
before it is done, so each is sent with the answers it followed. After an answer that does not
end done (cancelled, failed, cut off) the queue is held and says why; Enter in the empty input
sends it then. Up in the empty input takes the newest back to edit or delete; leaving the
conversation puts what waits back into the input. A mixin of ChatScreen, typed as a Screen but
a plain class at run time (the screen routes the prompt's messages here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui_chat.models import BUSY_PHASES, Attachment, MessageStatus, Phase
from tui_chat.screens.chat_part import ChatScreenPart
from tui_chat.widgets.prompt_input import PromptInput
from tui_chat.widgets.queued_prompts import QueuedPrompts

if TYPE_CHECKING:
    from tui_chat.widgets.attachment_tray import AttachmentTray

_HELD_BECAUSE: dict[str, str] = {
    "cancelled": "the answer was cancelled",
    "interrupted": "the answer broke off",
}



class QueuedSending(ChatScreenPart):
    """The prompt's Submitted handling, with the queue."""

    if TYPE_CHECKING:  # the chat screen's own, used here
        phase: Phase

        @property
        def prompt_input(self) -> PromptInput: ...
        @property
        def attachment_tray(self) -> AttachmentTray: ...
        async def _send(self, text: str, files: tuple[Attachment, ...]) -> None: ...
        async def take_attachments(self, text: str) -> tuple[Attachment, ...] | None: ...

    @property
    def queued_prompts(self) -> QueuedPrompts:
        return self.query_one(QueuedPrompts)

    async def send_or_queue(self, text: str) -> None:
        """A message the person sent: out now, or into the queue while an answer runs. Its
        files are taken now (the chips, its `@path` files), so they go with it, not with the
        message typed next."""
        files = await self.take_attachments(text)
        if files is None:  # a file could not be attached: said in one line, nothing lost
            self.prompt_input.text = text
            return
        queue = self.queued_prompts
        if self.phase in BUSY_PHASES or len(queue):
            # One answer at a time: the message waits its turn, behind any already waiting.
            queue.add(text, files)
            if self.phase not in BUSY_PHASES:
                await self.send_queued()
            return
        await self._send(text, files)

    async def send_queued(self) -> None:
        """Send the oldest waiting message (Enter in the empty input, after a held queue)."""
        if self.phase not in BUSY_PHASES and (entry := self.queued_prompts.pop_next()) is not None:
            await self._send(entry.text, entry.files)

    def _take_queued_back(self) -> str | None:
        """Up in the empty input: the newest waiting message, back into the input (its files
        back as chips)."""
        entry = self.queued_prompts.take_last()
        if entry is None:
            return None
        self._restore_files(entry.files)
        return entry.text

    def _restore_files(self, files: tuple[Attachment, ...]) -> None:
        async def restore() -> None:
            for attachment in files:
                await self.attachment_tray.add(attachment)

        if files:
            self.call_later(restore)

    def _give_back_queued(self) -> None:
        """Leaving this conversation: what waits goes back into the input, not lost and not
        sent into the next conversation."""
        entries = self.queued_prompts.take_all()
        if entries:
            texts = [entry.text for entry in entries if entry.text]
            current = self.prompt_input.text
            self.prompt_input.text = "\n\n".join([*texts, current] if current else texts)
            self._restore_files(tuple(f for entry in entries for f in entry.files))
            self.notify(f"{len(entries)} queued message{'s' * (len(entries) > 1)} not sent: "
                        "back in the input.", markup=False, timeout=5)

    def _queue_after_answer(self, status: MessageStatus) -> bool:
        """An answer ended: the next message goes out if it is done, else the queue is held.
        True when one goes out (another answer is about to run)."""
        queue = self.queued_prompts
        if not len(queue):
            return False
        if status == "done":
            self.call_later(self.send_queued)
            return True
        queue.hold(_HELD_BECAUSE.get(status, "the answer failed"))
        return False
