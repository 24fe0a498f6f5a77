"""AnswerVersions: switching between the stored versions of a retried answer.

Ctrl+R asks again and keeps the earlier answer as another version; the version marker of a
message (or the palette) steps through them. The chosen one becomes the current version: sent to
the model from then on, exported and shown on reopen. A mixin of ChatScreen, on top of its
ConversationStorage (the screen routes a marker's VersionRequested to `show_version`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui_chat.models import BUSY_PHASES
from tui_chat.screens.chat_storage import ConversationStorage
from tui_chat.widgets.message_view import MessageView


class AnswerVersions(ConversationStorage):
    """Older and newer versions of a retried answer, shown in its place, and of an edited
    question, shown with the branch that follows it."""

    if TYPE_CHECKING:  # chat_branches.py's
        async def show_branch(self, message_id: int, *, at_end: bool = False) -> None: ...

    async def action_older_version(self) -> None:
        await self._step_version(-1)

    async def action_newer_version(self) -> None:
        await self._step_version(1)

    async def _step_version(self, step: int) -> None:
        """The palette's way: the focused message, or else the last answer with versions."""
        focused = self.focused
        view = focused if isinstance(focused, MessageView) and focused.versions else next(
            (v for v in reversed(list(self.query(MessageView))) if v.versions), None)
        if view is None:
            self.notify("No answer here has other versions (Ctrl+R asks again and keeps the "
                        "earlier one).", markup=False, timeout=4)
            return
        await self.show_version(view, step)

    async def show_version(self, view: MessageView, step: int) -> None:
        """Show the older (`step` -1) or newer (1) version of a retried answer in its place.
        It becomes the current one: sent to the model from now on, exported, shown on reopen."""
        store, message_id = self.store, view.message_id
        if store is None or message_id is None or view.versions is None:
            return
        if self.phase in BUSY_PHASES:
            self.notify("Versions can be switched once the answer has ended (Esc stops it).",
                        severity="warning", markup=False, timeout=4)
            return
        versions = self._store_call("versions", lambda: store.answer_versions(message_id)) or []
        index = next((i for i, row in enumerate(versions) if row.id == message_id), None)
        if index is None or not 0 <= index + step < len(versions):
            self.app.bell()
            return
        row = versions[index + step]

        def choose() -> bool:
            store.set_current_version(row.id)
            return True

        if not self._store_call("version", choose):
            return
        if row.role == "user":  # an edited question: its own branch follows it
            await self.show_branch(row.id)
            return
        shown = MessageView.from_stored(row, self.render_style(),
                                        (index + step + 1, len(versions)),
                                        reasoning_mode=self.options.reasoning)
        self._versions.pop(message_id, None)
        self._versions[row.id] = (index + step + 1, len(versions))
        focused = self.focused is view
        await self.transcript.replace(view, shown, row=row)
        if focused:
            shown.focus(scroll_visible=False)
        self._reload_history()

    def _versions_of(self, message_id: int | None) -> tuple[int, int] | None:
        """(n, n) for an answer just started in place of another: the newest of n versions."""
        store = self.store
        if store is None or message_id is None:
            return None
        versions = self._store_call("versions", lambda: store.answer_versions(message_id)) or []
        if len(versions) < 2:
            return None
        self._versions[message_id] = (len(versions), len(versions))
        return self._versions[message_id]
