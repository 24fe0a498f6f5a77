"""ConversationStore: conversations and messages in one SQLite file (stdlib sqlite3, WAL).

Every method is synchronous and each write is one short transaction, so the UI thread can call
them directly. SQLite errors come out as `StoreError`, with a message fit to show the user.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args

from tui_chat.attachments import describe, fenced
from tui_chat.models import (
    IMAGE_TYPES,
    TEXT_TYPE,
    Attachment,
    ConversationSettings,
    Message,
    MessageRole,
    Metrics,
    StoredStatus,
)
from tui_chat.sanitize import sanitize, sanitize_line
from tui_chat.store import migrations

EXPORT_FORMAT = "tui-chat.conversation"
EXPORT_VERSION = 1
TITLE_LENGTH = 60
BUSY_TIMEOUT = 2.0
"""Seconds to wait for another process's write; short, because the UI thread is waiting."""

_ROLES: tuple[str, ...] = get_args(MessageRole)
_STATUSES: tuple[str, ...] = get_args(StoredStatus)
_ANSWER_ROLES = ("assistant", "error")
_TRIGRAM = 3
"""Shortest term the trigram index can find; shorter terms are matched by scanning."""
_MESSAGE_HITS = (
    "SELECT m.conversation_id, m.id, c.title, m.role, m.content FROM messages m"
    " JOIN conversations c ON c.id = m.conversation_id"
)
"""The columns a message search hit is made from (see `search`)."""
_SNIPPET_BEFORE = 40
_SNIPPET_LENGTH = 140


class StoreError(Exception):
    """The database could not be read or written. `str(error)` is one line for the user."""


class SchemaTooNew(StoreError):
    """The file was written by a newer tui-chat; opening it could lose data."""


class NotFound(StoreError, LookupError):
    """No conversation or message has that id."""


class BadExport(StoreError, ValueError):
    """The data given to `import_json` is not a conversation export this version can read."""


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One conversation's own fields, with how many messages it shows."""

    id: int
    title: str
    model: str
    system: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    """Current messages only: previous versions of retried answers are not counted."""
    temperature: float | None = None
    max_tokens: int | None = None
    params_saved: bool = False
    """False for a conversation stored before its temperature and max tokens were (they are
    unknown then, not the server's defaults)."""

    def settings(self, defaults: ConversationSettings) -> ConversationSettings:
        """The conversation's own settings; what it never stored comes from `defaults`."""
        return ConversationSettings(
            model=self.model or defaults.model,
            system=self.system,
            temperature=self.temperature if self.params_saved else defaults.temperature,
            max_tokens=self.max_tokens if self.params_saved else defaults.max_tokens,
        )


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One row of a conversation, as saved."""

    id: int
    conversation_id: int
    position: int
    """Slot in the conversation; every version of one answer shares it."""
    version: int
    """Numbers the rows at one position, whatever their branch: 1, then 2, 3, … for each
    retry or edit (which of its alternatives a row is: `version_numbers`)."""
    is_current: bool
    """On the path shown: False for an earlier version that a retry replaced, and for the
    messages of a branch not shown."""
    role: MessageRole
    content: str
    status: StoredStatus
    model: str
    created_at: datetime
    updated_at: datetime
    ttft: float | None
    total_time: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    tokens_estimated: bool
    error: str | None
    reasoning: str = ""
    """The model's thinking before the answer; never part of the context sent."""
    thinking_time: float | None = None
    reasoning_tokens: int | None = None
    attachments: tuple[Attachment, ...] = ()
    """Files attached to a user message, in the order they were attached."""
    parent_id: int | None = None
    """The message this one follows (None for the first). Alternatives (retries of an
    answer, edits of a question) share their parent."""
    chosen: bool = True
    """The alternative its parent shows, when the parent is shown."""
    finish_reason: str | None = None
    """How the server said the answer ended ("stop", "length", ...); None when unknown (it
    broke off, was stopped, or predates the column). "length": cut at max tokens."""

    @property
    def cut_at_max_tokens(self) -> bool:
        return self.role == "assistant" and self.finish_reason == "length"

    def to_message(self) -> Message | None:
        """The turn as sent to a model, or None for an error row (never sent)."""
        if self.role == "error":
            return None
        return Message(self.role, self.content, self.attachments)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A conversation title or message that matches a search, with where the match is."""

    conversation_id: int
    message_id: int | None
    """None when the conversation's title matched."""
    title: str
    role: MessageRole | None
    snippet: str
    """One line of text around the first match, "…" where it was cut; sanitised."""
    highlights: tuple[tuple[int, int], ...]
    """(start, end) offsets into `snippet` of every matched term."""


_MESSAGE_COLUMNS = (
    "id, conversation_id, position, version, is_current, role, content, status, model,"
    " created_at, updated_at, ttft, total_time, prompt_tokens, completion_tokens,"
    " tokens_estimated, error, reasoning, thinking_time, reasoning_tokens, parent_id, chosen,"
    " finish_reason"
)
_CONVERSATION_COLUMNS = (
    "c.id, c.title, c.model, c.system_prompt, c.created_at, c.updated_at,"
    " (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.is_current = 1),"
    " c.temperature, c.max_tokens, c.params_saved"
)
# Export field name -> accepted JSON types and whether null is allowed; the export writes
# exactly these, in this order, after the row's id.
_EXPORTED_MESSAGE_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "position": ((int,), False),
    "version": ((int,), False),
    "is_current": ((bool,), False),
    "role": ((str,), False),
    "content": ((str,), False),
    "status": ((str,), False),
    "model": ((str,), False),
    "created_at": ((str,), False),
    "updated_at": ((str,), False),
    "ttft": ((int, float), True),
    "total_time": ((int, float), True),
    "prompt_tokens": ((int,), True),
    "completion_tokens": ((int,), True),
    "tokens_estimated": ((bool,), False),
    "error": ((str,), True),
    # Since schema 5; optional on import, so older exports still load.
    "reasoning": ((str,), True),
    "thinking_time": ((int, float), True),
    "reasoning_tokens": ((int,), True),
    # Since schema 6; optional on import. `parent_id` is an exported `id`, renumbered on import.
    "parent_id": ((int,), True),
    "chosen": ((bool,), True),
    "finish_reason": ((str,), True),
}


class ConversationStore:
    """The conversation database: one SQLite file, opened (and upgraded) on construction.

    Args:
        path: The database file. It and any missing parent directories are created owner-only
            (0600 / 0700); an existing file or directory keeps its mode.
        clock: Wall-clock seconds for timestamps (tests inject their own).

    Raises:
        SchemaTooNew: The file was written by a newer version.
        StoreError: The file cannot be opened or is not a database.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        try:
            _create_private_file(path)
            self._connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except OSError as error:
            raise StoreError(f"cannot open {path}: {error.strerror or error}") from error
        except sqlite3.Error as error:
            raise StoreError(f"cannot open {path}: {error}") from error
        try:
            with _translated_errors(path):
                self._connection.execute("PRAGMA foreign_keys = ON")
                self._connection.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL still survives a killed process; it skips an fsync per commit.
                self._connection.execute("PRAGMA synchronous = NORMAL")
                found = migrations.schema_version(self._connection)
                if found > migrations.LATEST_VERSION:
                    raise SchemaTooNew(
                        f"{path} has schema version {found}; this tui-chat reads up to "
                        f"{migrations.LATEST_VERSION}. Upgrade tui-chat to open it."
                    )
                migrations.upgrade(self._connection)
        except BaseException:
            self._connection.close()
            raise

    def close(self) -> None:
        """Close the file; the write-ahead log is folded back into it when this is the last user."""
        self._connection.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Conversations

    def create_conversation(
        self,
        title: str = "",
        model: str = "",
        system: str = "",
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> int:
        """Start an empty conversation with its settings and return its id."""
        now = self._now()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, model, system_prompt, temperature, max_tokens,"
                " params_saved, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                (_clean_title(title), model, system, temperature, max_tokens, now, now),
            )
        return _last_id(cursor)

    def set_conversation_settings(
        self, conversation_id: int, settings: ConversationSettings
    ) -> None:
        """Keep the model, system prompt and parameters the conversation now uses. Raises
        NotFound."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE conversations SET model = ?, system_prompt = ?, temperature = ?,"
                " max_tokens = ?, params_saved = 1 WHERE id = ?",
                (settings.model, settings.system, settings.temperature, settings.max_tokens,
                 conversation_id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no conversation {conversation_id}")

    def get_conversation(self, conversation_id: int) -> ConversationSummary | None:
        rows = self._read(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?",
            (conversation_id,),
        )
        return _conversation(rows[0]) if rows else None

    def list_conversations(self, limit: int = 200) -> list[ConversationSummary]:
        """Conversations, the most recently active first."""
        rows = self._read(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c"
            " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
            (limit,),
        )
        return [_conversation(row) for row in rows]

    def latest_conversation_id(self) -> int | None:
        rows = self._read(
            "SELECT id FROM conversations ORDER BY updated_at DESC, id DESC LIMIT 1", ()
        )
        return int(rows[0][0]) if rows else None

    def rename(self, conversation_id: int, title: str) -> None:
        """Set the title (made one line and terminal-safe). Raises NotFound."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                (_clean_title(title), conversation_id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no conversation {conversation_id}")

    def set_title_if_empty(self, conversation_id: int, text: str) -> str | None:
        """Title an untitled conversation from `text` (its first user message).

        Returns:
            The new title, or None if the conversation already had one or `text` is blank.
        """
        title = title_from(text)
        if not title:
            return None
        with self._write() as db:
            cursor = db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND title = ''",
                (title, conversation_id),
            )
        return title if cursor.rowcount else None

    def replace_title(self, conversation_id: int, old: str, new: str) -> bool:
        """Set the title to `new` only if it is still `old`: a title made in the background
        (by the model) must not undo a rename made meanwhile. Returns whether it was set."""
        title = _clean_title(new)
        if not title:
            return False
        with self._write() as db:
            cursor = db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND title = ?",
                (title, conversation_id, old),
            )
        return cursor.rowcount > 0

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation with all its messages. Raises NotFound."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cursor.rowcount == 0:
                raise NotFound(f"no conversation {conversation_id}")

    # Messages

    def add_message(
        self,
        conversation_id: int,
        role: MessageRole,
        content: str,
        *,
        status: StoredStatus = "done",
        model: str = "",
        error: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> int:
        """Append a finished message (a prompt, a system note, an error) and return its id.

        Each attached file is stored once, however many messages carry it."""
        _check(role, _ROLES, "role")
        _check(status, _STATUSES, "status")
        now = self._now()
        with self._write() as db:
            parent, position = self._tail(db, conversation_id)
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, position, version, parent_id, role,"
                " content, status, model, created_at, updated_at, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, position, self._next_version(db, conversation_id, position),
                 parent, role, content, status, model, now, now, error),
            )
            message_id = _last_id(cursor)
            _link_files(db, message_id, attachments)
            self._touch(db, conversation_id, now)
        return message_id

    def edit_message(self, message_id: int, content: str, *, model: str = "",
                     attachments: Sequence[Attachment] | None = None) -> int:
        """Branch the conversation at a sent question: a new version of it with `content`,
        shown from now on in its place, with nothing after it yet (the answer to it comes
        next). What followed the old text stays, as an earlier branch (`set_current_version`
        shows it again). The new version carries `attachments`, or (None) the old one's.
        Returns the new message's id.

        Raises:
            NotFound: No user message has that id.
        """
        now = self._now()
        with self._write() as db:
            row = db.execute(
                "SELECT conversation_id, position, parent_id, is_current FROM messages"
                " WHERE id = ? AND role = 'user'", (message_id,)).fetchone()
            if row is None:
                raise NotFound(f"no question {message_id}")
            conversation_id, position, parent, shown = row
            if shown:  # the old text and everything after it leave the path shown
                db.execute("UPDATE messages SET is_current = 0 WHERE conversation_id = ?"
                           " AND is_current = 1 AND position >= ?", (conversation_id, position))
            db.execute("UPDATE messages SET chosen = 0 WHERE conversation_id = ?"
                       " AND position = ? AND parent_id IS ?", (conversation_id, position, parent))
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, position, version, parent_id, is_current,"
                " role, content, status, model, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'user', ?, 'done', ?, ?, ?)",
                (conversation_id, position, self._next_version(db, conversation_id, position),
                 parent, shown, content, model, now, now),
            )
            edited = _last_id(cursor)
            if attachments is None:
                db.execute("INSERT INTO message_files (message_id, ordinal, sha256, name)"
                           " SELECT ?, ordinal, sha256, name FROM message_files"
                           " WHERE message_id = ?", (edited, message_id))
            else:
                _link_files(db, edited, attachments)
            self._touch(db, conversation_id, now)
        return edited

    def stored_file_count(self) -> int:
        """How many distinct files the database holds (each once, however often attached)."""
        return int(self._read("SELECT count(*) FROM files", ())[0][0])

    def start_answer(
        self, conversation_id: int, *, model: str, replaces: int | None = None
    ) -> int:
        """Add an empty assistant message in status 'streaming' and return its id.

        Args:
            conversation_id: The conversation the answer belongs to.
            model: The model asked.
            replaces: An earlier answer (or error row) this one retries. It stays in the
                database as a previous version, and the new answer takes its slot.

        Raises:
            NotFound: No such conversation, or `replaces` is not an answer in it.
        """
        now = self._now()
        with self._write() as db:
            shown = True
            if replaces is None:
                parent, position = self._tail(db, conversation_id)
            else:
                row = db.execute(
                    "SELECT position, parent_id FROM messages WHERE id = ? AND conversation_id = ?"
                    " AND role IN ('assistant', 'error')",
                    (replaces, conversation_id),
                ).fetchone()
                if row is None:
                    raise NotFound(f"no answer {replaces} in conversation {conversation_id}")
                position, parent = row
                siblings = ("conversation_id = ? AND position = ? AND parent_id IS ?",
                            (conversation_id, position, parent))
                shown = bool(db.execute(f"SELECT count(*) FROM messages WHERE {siblings[0]}"
                                        " AND is_current = 1", siblings[1]).fetchone()[0])
                db.execute(f"UPDATE messages SET is_current = 0, chosen = 0 WHERE {siblings[0]}",
                           siblings[1])
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, position, version, parent_id, is_current,"
                " role, status, model, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'assistant', 'streaming', ?, ?, ?)",
                (conversation_id, position, self._next_version(db, conversation_id, position),
                 parent, shown, model, now, now),
            )
            answer = _last_id(cursor)
            if replaces is not None:
                # An answer's versions share what follows it: it now follows the new one.
                db.execute(
                    f"UPDATE messages SET parent_id = ? WHERE parent_id IN (SELECT id FROM"
                    f" messages WHERE {siblings[0]} AND id != ?)",
                    (answer, *siblings[1], answer))
            self._touch(db, conversation_id, now)
        return answer

    def resume_answer(self, message_id: int) -> int:
        """Make an ended answer 'streaming' again, to continue it in place (an answer cut at
        max tokens, interrupted or cancelled): its text grows through `save_partial` and it
        ends again with `finish_answer`. Its error and finish reason are cleared. Returns
        its conversation's id.

        Raises:
            NotFound: No answer has that id.
        """
        with self._write() as db:
            cursor = db.execute(
                "UPDATE messages SET status = 'streaming', error = NULL, finish_reason = NULL,"
                " updated_at = ? WHERE id = ? AND role = 'assistant' RETURNING conversation_id",
                (self._now(), message_id))
            rows = cursor.fetchall()
            if not rows:
                raise NotFound(f"no answer {message_id}")
        return int(rows[0][0])

    def save_partial(self, message_id: int, content: str, reasoning: str | None = None) -> bool:
        """Save the text of an answer still streaming (the app does so twice a second), and
        its reasoning when given.

        Returns:
            False if the message is not streaming any more (finished, or marked interrupted),
            in which case nothing is written.
        """
        with self._write() as db:
            cursor = db.execute(
                "UPDATE messages SET content = ?, reasoning = coalesce(?, reasoning),"
                " updated_at = ? WHERE id = ? AND status = 'streaming'",
                (content, reasoning, self._now(), message_id),
            )
        return cursor.rowcount > 0

    def finish_answer(
        self,
        message_id: int,
        content: str,
        status: StoredStatus,
        *,
        metrics: Metrics | None = None,
        error: str | None = None,
        reasoning: str = "",
        finish_reason: str | None = None,
    ) -> None:
        """Save an answer's final text and reasoning, how it ended (and the server's finish
        reason, if it gave one), its figures and any error.

        Raises:
            NotFound: No message has that id.
            ValueError: `status` is 'streaming' or unknown.
        """
        _check(status, _STATUSES, "status")
        if status == "streaming":
            raise ValueError("an answer cannot finish as 'streaming'")
        figures: tuple[float | int | None, ...] = (None, None, None, None)
        thinking: tuple[float | int | None, ...] = (None, None)
        estimated = False
        if metrics is not None:
            figures = (metrics.ttft, metrics.total_time, metrics.prompt_tokens, metrics.tokens)
            estimated = metrics.tokens_estimated
            if reasoning:
                thinking = (metrics.thinking_time, metrics.reasoning_tokens or None)
        now = self._now()
        with self._write() as db:
            cursor = db.execute(
                "UPDATE messages SET content = ?, status = ?, updated_at = ?, ttft = ?,"
                " total_time = ?, prompt_tokens = ?, completion_tokens = ?,"
                " tokens_estimated = ?, error = ?, reasoning = ?, thinking_time = ?,"
                " reasoning_tokens = ?, finish_reason = ? WHERE id = ? RETURNING conversation_id",
                (content, status, now, *figures, estimated, error, reasoning, *thinking,
                 finish_reason, message_id),
            )
            rows = cursor.fetchall()  # finishes the statement before COMMIT
            if not rows:
                raise NotFound(f"no message {message_id}")
            self._touch(db, rows[0][0], now)

    def mark_interrupted(self) -> int:
        """Mark every answer left 'streaming' (its app was killed) as 'interrupted'.

        Call once after opening. Returns how many answers were marked.
        """
        with self._write() as db:
            cursor = db.execute(
                "UPDATE messages SET status = 'interrupted', updated_at = ?"
                " WHERE status = 'streaming'",
                (self._now(),),
            )
        return cursor.rowcount

    def messages(
        self, conversation_id: int, *, current_only: bool = True
    ) -> list[StoredMessage]:
        """A conversation's messages in order; with `current_only=False`, every version too."""
        current = " AND is_current = 1" if current_only else ""
        rows = self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?{current}"
            " ORDER BY position, version",
            (conversation_id,),
        )
        return self._with_files([_message(row) for row in rows])

    def answer_versions(self, message_id: int) -> list[StoredMessage]:
        """Every version of this message, oldest first ([] if unknown): the retries of an
        answer, or the edits of a question (each the start of its own branch)."""
        rows = self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE (conversation_id, position) ="
            " (SELECT conversation_id, position FROM messages WHERE id = ?)"
            " AND parent_id IS (SELECT parent_id FROM messages WHERE id = ?) ORDER BY version",
            (message_id, message_id),
        )
        return self._with_files([_message(row) for row in rows])

    def _with_files(self, messages: list[StoredMessage]) -> list[StoredMessage]:
        """The messages with their attached files (only user messages have any)."""
        wanted = [m.id for m in messages if m.role == "user"]
        if not wanted:
            return messages
        found: dict[int, list[Attachment]] = {}
        for start in range(0, len(wanted), 500):  # under SQLite's limit of bound values
            chunk = wanted[start:start + 500]
            rows = self._read(
                "SELECT l.message_id, l.name, f.mime, f.data, f.width, f.height, f.sha256"
                " FROM message_files l JOIN files f ON f.sha256 = l.sha256"
                f" WHERE l.message_id IN ({', '.join('?' * len(chunk))})"
                " ORDER BY l.message_id, l.ordinal", chunk)
            for message_id, name, mime, data, width, height, digest in rows:
                found.setdefault(message_id, []).append(
                    Attachment(name, mime, bytes(data), width, height, digest))
        if not found:
            return messages
        return [replace(m, attachments=tuple(found[m.id])) if m.id in found else m
                for m in messages]

    def recent_prompts(self, conversation_id: int | None = None,
                       limit: int = 500) -> list[str]:
        """What the person sent, newest first: this conversation's prompts first, then the
        other conversations', each text once (prompt recall with Up in an empty input)."""
        rows = self._read(
            "SELECT content FROM messages WHERE role = 'user' AND content != ''"
            " ORDER BY conversation_id IS ? DESC, id DESC LIMIT ?",
            (conversation_id, limit * 2),
        )
        return list(dict.fromkeys(row[0] for row in rows))[:limit]

    def set_current_version(self, message_id: int) -> None:
        """Show this message from now on: in the transcript, in what is sent to the model, in
        the Markdown export. The other versions stay. A version of an answer takes the place
        of the one shown, and what followed stays; a version of a question shows its own
        branch (what followed it when it was last shown). A message in a branch not shown
        (a search hit) brings its whole branch. Raises NotFound."""
        with self._write() as db:
            chain = []
            node: int | None = message_id
            while node is not None:
                row = db.execute("SELECT parent_id, is_current FROM messages WHERE id = ?",
                                 (node,)).fetchone()
                if row is None:
                    raise NotFound(f"no message {message_id}")
                if row[1]:
                    break
                chain.append(node)
                node = row[0]
            for node in reversed(chain):  # from the first message not shown down
                self._show_alternative(db, node)

    @staticmethod
    def _show_alternative(db: sqlite3.Connection, message_id: int) -> None:
        """Put a message whose parent is shown (or that has none) on the path shown."""
        (conversation_id, position, parent, current, role) = db.execute(
            "SELECT conversation_id, position, parent_id, is_current, role FROM messages"
            " WHERE id = ?", (message_id,)).fetchone()
        if current:
            return
        siblings = ("conversation_id = ? AND position = ? AND parent_id IS ?",
                    (conversation_id, position, parent))
        shown = db.execute(f"SELECT id FROM messages WHERE {siblings[0]} AND is_current = 1",
                           siblings[1]).fetchone()
        # Row by row, in this order: the one-current-row index is checked at each statement.
        if shown is not None and role in _ANSWER_ROLES:
            db.execute("UPDATE messages SET is_current = 0, chosen = 0 WHERE id = ?", shown)
            db.execute("UPDATE messages SET parent_id = ? WHERE parent_id = ?",
                       (message_id, shown[0]))
            db.execute("UPDATE messages SET is_current = 1, chosen = 1 WHERE id = ?",
                       (message_id,))
            return
        if shown is not None:
            db.execute("UPDATE messages SET is_current = 0 WHERE conversation_id = ?"
                       " AND is_current = 1 AND position >= ?", (conversation_id, position))
        db.execute(f"UPDATE messages SET chosen = 0 WHERE {siblings[0]}", siblings[1])
        node: int | None = message_id
        while node is not None:  # down the branch, by the alternatives last shown
            db.execute("UPDATE messages SET is_current = 1, chosen = 1 WHERE id = ?", (node,))
            child = db.execute("SELECT id FROM messages WHERE parent_id = ?"
                               " ORDER BY chosen DESC, version DESC LIMIT 1", (node,)).fetchone()
            node = child[0] if child else None

    def version_numbers(self, conversation_id: int) -> dict[int, tuple[int, int]]:
        """For each current message with other versions (retries of an answer, edits of a
        question): its message id -> (which version it is, counting from 1, how many)."""
        rows = self._read(
            "SELECT c.id, sum(o.version <= c.version), count(*)"
            " FROM messages c JOIN messages o"
            " ON o.conversation_id = c.conversation_id AND o.position = c.position"
            " AND o.parent_id IS c.parent_id"
            " WHERE c.conversation_id = ? AND c.is_current = 1 GROUP BY c.id",
            (conversation_id,),
        )
        return {mid: (number, total) for mid, number, total in rows if total > 1}

    # Search

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Find conversations whose title, or messages whose text, hold every word: messages
        of every branch and version, not only those shown (opening one shows its branch).

        Words are matched as literal, case-insensitive substrings, so any typed text is a valid
        query (FTS operators and quotes are taken literally) and Chinese or Japanese text needs
        no spaces. Title hits come first, then message hits, each best match first.
        """
        terms = _terms(query)
        if not terms:
            return []
        found = self._matches("title", terms, limit)
        found += self._streaming_matches(terms, limit - len(found))
        found += self._matches("message", terms, limit - len(found))
        pattern = re.compile("|".join(map(re.escape, terms)), re.IGNORECASE)
        hits = []
        for conversation_id, message_id, title, role, text in found:
            snippet, highlights = _snippet(text, pattern)
            hits.append(
                SearchHit(conversation_id, message_id, title, role, snippet, highlights)
            )
        return hits

    def _streaming_matches(self, terms: list[str], limit: int) -> list[tuple[Any, ...]]:
        """Answers still streaming: not in the index yet (see migration 3), and few."""
        if limit <= 0:
            return []
        rows = self._read(
            f"{_MESSAGE_HITS} WHERE m.status = 'streaming'"
            " ORDER BY m.id DESC", ())
        folded = [term.casefold() for term in terms]
        return [row for row in rows
                if all(term in row[4].casefold() for term in folded)][:limit]

    def _matches(
        self, kind: Literal["title", "message"], terms: list[str], limit: int
    ) -> list[tuple[Any, ...]]:
        if limit <= 0:
            return []
        indexed = [term for term in terms if len(term) >= _TRIGRAM]
        scanned = [term for term in terms if len(term) < _TRIGRAM]
        if kind == "title":
            select = "SELECT c.id, NULL, c.title, NULL, c.title FROM conversations c"
            index, join, text, where = "title_search", "c.id = title_search.rowid", "c.title", []
        else:
            select = _MESSAGE_HITS
            index, join, text = "message_search", "m.id = message_search.rowid", "m.content"
            where = ["m.status != 'streaming'"]
        params: list[object] = []
        if indexed:
            select += f" JOIN {index} ON {join}"
            where.append(f"{index} MATCH ?")
            # Each word as an FTS5 string (quotes doubled): nothing typed is read as syntax.
            params.append(" AND ".join('"' + term.replace('"', '""') + '"' for term in indexed))
        for term in scanned:
            where.append(f"instr(lower({text}), lower(?)) > 0")
            params.append(term)
        order = "m.is_current DESC, " if kind == "message" else ""  # the path shown first
        order += f"{index}.rank, " if indexed else ""
        newest = "m.id" if kind == "message" else "c.updated_at"
        sql = f"{select} WHERE {' AND '.join(where)} ORDER BY {order}{newest} DESC LIMIT ?"
        return self._read(sql, (*params, limit))

    # Export and import

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        """The conversation and every message, previous versions included. Raises NotFound.

        Holds no API key or setting beyond the conversation's own model and system prompt.
        """
        row = self._read(
            "SELECT id, title, model, system_prompt, created_at, updated_at, temperature,"
            " max_tokens, params_saved FROM conversations WHERE id = ?",
            (conversation_id,),
        )
        if not row:
            raise NotFound(f"no conversation {conversation_id}")
        cid, title, model, system, created_at, updated_at, temperature, max_tokens, saved = row[0]
        messages = []
        files: dict[str, dict[str, Any]] = {}
        for message in self.messages(conversation_id, current_only=False):
            fields: dict[str, Any] = {"id": message.id}
            for name in _EXPORTED_MESSAGE_FIELDS:
                value = getattr(message, name)
                fields[name] = _timestamp(value) if isinstance(value, datetime) else value
            if message.attachments:
                # Each file's bytes once, under "files"; a message names the ones it carries.
                fields["attachments"] = [{"name": a.name, "sha256": a.sha256}
                                         for a in message.attachments]
                for a in message.attachments:
                    files.setdefault(a.sha256, {
                        "mime": a.mime, "size": a.size, "width": a.width, "height": a.height,
                        "data": base64.b64encode(a.data).decode("ascii")})
            messages.append(fields)
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "conversation": {
                "id": cid, "title": title, "model": model, "system": system,
                "created_at": created_at, "updated_at": updated_at,
                # Only when known (see migration 4); an older reader ignores them.
                **({"temperature": temperature, "max_tokens": max_tokens} if saved else {}),
            },
            "messages": messages,
            **({"files": files} if files else {}),
        }

    def import_json(self, data: Any) -> int:
        """Add a conversation from `export_json` output and return its new id.

        Ids are new; everything else is kept, except that text is made terminal-safe (it came
        from a file) and an answer exported mid-stream arrives as 'interrupted'.

        Raises:
            BadExport: `data` is not a version-1 tui-chat conversation export.
        """
        conversation, rows, attached, old_ids = _validated_export(data)
        linked = any(isinstance(m, dict) and "parent_id" in m for m in data["messages"])
        parent_at = list(_EXPORTED_MESSAGE_FIELDS).index("parent_id")
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, model, system_prompt, created_at, updated_at,"
                " temperature, max_tokens, params_saved) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                conversation,
            )
            new_id = _last_id(cursor)
            names = ", ".join(_EXPORTED_MESSAGE_FIELDS)
            insert = (f"INSERT INTO messages (conversation_id, {names})"
                      f" VALUES (?{', ?' * len(_EXPORTED_MESSAGE_FIELDS)})")
            try:
                new_ids: dict[int, tuple[int, int]] = {}  # exported id -> (new id, position)
                added = []
                for old_id, row, files in zip(old_ids, rows, attached, strict=True):
                    row_id = _last_id(db.execute(insert, (new_id, *row)))
                    _link_files(db, row_id, files)
                    added.append(row_id)
                    if old_id is not None:
                        new_ids[old_id] = (row_id, row[0])
                for row_id, row in zip(added, rows, strict=True):
                    parent = new_ids.get(row[parent_at]) if row[parent_at] is not None else None
                    if row[parent_at] is not None and (parent is None or parent[1] >= row[0]):
                        raise BadExport(f"a message follows message {row[parent_at]}, which is "
                                        "not an earlier message of the export")
                    db.execute("UPDATE messages SET parent_id = ? WHERE id = ?",
                               (parent[0] if parent else None, row_id))
                if not linked:  # an export from before branches: as migration 6 links them
                    db.execute(
                        "UPDATE messages SET parent_id = (SELECT p.id FROM messages p"
                        " WHERE p.conversation_id = messages.conversation_id AND p.is_current = 1"
                        " AND p.position < messages.position ORDER BY p.position DESC LIMIT 1)"
                        " WHERE conversation_id = ?", (new_id,))
            except sqlite3.IntegrityError as error:
                raise BadExport(f"inconsistent messages in the export: {error}") from error
        return new_id

    def export_markdown(self, conversation_id: int) -> str:
        """The conversation as it reads on screen (current versions only). Raises NotFound."""
        summary = self.get_conversation(conversation_id)
        if summary is None:
            raise NotFound(f"no conversation {conversation_id}")
        lines = [f"# {summary.title or 'Untitled conversation'}", ""]
        if summary.model:
            lines.append(f"- Model: {summary.model}")
        lines += [f"- Started: {summary.created_at:%Y-%m-%d %H:%M} UTC", ""]
        if summary.system:
            lines += ["## System", "", summary.system, ""]
        versions = self.version_numbers(conversation_id)
        for message in self.messages(conversation_id):
            heading = message.role.capitalize()
            if message.role == "assistant" and message.model:
                heading += f" ({message.model})"
            lines += [f"## {heading}", ""]
            for attachment in message.attachments:
                lines += _markdown_attachment(attachment)
            if message.reasoning:
                # Collapsed where Markdown is rendered (GitHub, most editors' previews).
                lines += ["<details><summary>Thinking</summary>", "", message.reasoning.strip(),
                          "", "</details>", ""]
            lines += [message.content, ""]
            if message.id in versions:
                number, total = versions[message.id]
                lines += [f"_Version {number} of {total} (the one shown in the app); the JSON "
                          "export holds every version._", ""]
            if message.status != "done":
                note = f"_{message.status.capitalize()}"
                note += f": {message.error}_" if message.error else "._"
                lines += [note, ""]
        return "\n".join(lines).rstrip("\n") + "\n"

    # Internals

    def _now(self) -> str:
        return _timestamp(datetime.fromtimestamp(self._clock(), UTC))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, taking the write lock up front so it cannot fail half way."""
        with _translated_errors(self.path):
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                if self._connection.in_transaction:  # some errors (disk full) end it already
                    self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        with _translated_errors(self.path):
            return self._connection.execute(sql, params).fetchall()

    @staticmethod
    def _tail(db: sqlite3.Connection, conversation_id: int) -> tuple[int | None, int]:
        """The last message shown (None in an empty conversation) and the position after it:
        where a new message goes."""
        row = db.execute(
            "SELECT (SELECT id FROM messages WHERE conversation_id = ? AND is_current = 1"
            " ORDER BY position DESC LIMIT 1) FROM conversations WHERE id = ?",
            (conversation_id, conversation_id),
        ).fetchone()
        if row is None:
            raise NotFound(f"no conversation {conversation_id}")
        if row[0] is None:
            return None, 1
        (position,) = db.execute("SELECT position FROM messages WHERE id = ?", row).fetchone()
        return int(row[0]), int(position) + 1

    @staticmethod
    def _next_version(db: sqlite3.Connection, conversation_id: int, position: int) -> int:
        (version,) = db.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM messages"
            " WHERE conversation_id = ? AND position = ?", (conversation_id, position)).fetchone()
        return int(version)

    @staticmethod
    def _touch(db: sqlite3.Connection, conversation_id: int, now: str) -> None:
        db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))


def _link_files(db: sqlite3.Connection, message_id: int,
                attachments: Sequence[Attachment]) -> None:
    """Store each file once (by its SHA-256) and link it to the message, in order."""
    for ordinal, attachment in enumerate(attachments):
        db.execute(
            "INSERT OR IGNORE INTO files (sha256, mime, size, width, height, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (attachment.sha256, attachment.mime, attachment.size, attachment.width,
             attachment.height, attachment.data),
        )
        db.execute(
            "INSERT INTO message_files (message_id, ordinal, sha256, name) VALUES (?, ?, ?, ?)",
            (message_id, ordinal, attachment.sha256, attachment.name),
        )


def _markdown_attachment(attachment: Attachment) -> list[str]:
    """A line naming the file (and its size); a text file's content in its fenced block."""
    lines = [f"📎 {describe(attachment)}", ""]
    if not attachment.is_image:
        lines += [fenced(attachment), ""]
    return lines


def title_from(text: str) -> str:
    """A title from a message: its first non-blank line, one line, at most TITLE_LENGTH chars."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    title = " ".join(sanitize_line(line).split())
    if len(title) > TITLE_LENGTH:
        title = title[: TITLE_LENGTH - 1].rstrip() + "…"
    return title


def _clean_title(title: str) -> str:
    return " ".join(sanitize_line(title).split())


def _create_private_file(path: Path) -> None:
    """Create the file and missing directories owner-only before SQLite opens it.

    SQLite gives the -wal and -shm files the database file's mode, so they follow.
    """
    missing = []
    directory = path.parent
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)


@contextmanager
def _translated_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        raise StoreError(f"conversation database {path}: {error}") from error


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


def _last_id(cursor: sqlite3.Cursor) -> int:
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _timestamp(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _conversation(row: tuple[Any, ...]) -> ConversationSummary:
    cid, title, model, system, created_at, updated_at, count, temperature, max_tokens, saved = row
    return ConversationSummary(
        cid, title, model, system,
        datetime.fromisoformat(created_at), datetime.fromisoformat(updated_at), count,
        temperature, max_tokens, bool(saved),
    )


def _message(row: tuple[Any, ...]) -> StoredMessage:
    (mid, cid, position, version, current, role, content, status, model, created_at,
     updated_at, ttft, total_time, prompt_tokens, completion_tokens, estimated, error,
     reasoning, thinking_time, reasoning_tokens, parent_id, chosen, finish_reason) = row
    return StoredMessage(
        mid, cid, position, version, bool(current), role, content, status, model,
        datetime.fromisoformat(created_at), datetime.fromisoformat(updated_at),
        ttft, total_time, prompt_tokens, completion_tokens, bool(estimated), error,
        reasoning, thinking_time, reasoning_tokens, parent_id=parent_id, chosen=bool(chosen),
        finish_reason=finish_reason,
    )


def _terms(query: str) -> list[str]:
    """The query's words, each once (case-insensitively), NULs dropped."""
    terms: dict[str, str] = {}
    for word in query.replace("\x00", " ").split():
        terms.setdefault(word.casefold(), word)
    return list(terms.values())


def _snippet(text: str, pattern: re.Pattern[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    first = pattern.search(text)
    start = max(0, first.start() - _SNIPPET_BEFORE) if first else 0
    end = min(len(text), start + _SNIPPET_LENGTH)
    snippet = sanitize_line(text[start:end]).strip()
    snippet = ("…" if start > 0 else "") + snippet + ("…" if end < len(text) else "")
    # Spans are found again in the cleaned text, so they index what the UI shows.
    return snippet, tuple(match.span() for match in pattern.finditer(snippet))


def _validated_export(
    data: Any,
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], list[list[Attachment]],
           list[int | None]]:
    """Check an export and return the conversation row, the message rows to insert, each
    message's attached files and its exported id (which `parent_id` refers to)."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise BadExport("not a tui-chat conversation export")
    if data.get("version") != EXPORT_VERSION:
        raise BadExport(f"export version {data.get('version')!r} is not supported")
    conversation, messages = data.get("conversation"), data.get("messages")
    if not isinstance(conversation, dict) or not isinstance(messages, list):
        raise BadExport("an export needs a 'conversation' object and a 'messages' list")
    head = []
    for name in ("title", "model", "system", "created_at", "updated_at"):
        value = conversation.get(name)
        if not isinstance(value, str):
            raise BadExport(f"conversation.{name} must be a string")
        head.append(value)
    head[0], head[2] = _clean_title(head[0]), sanitize(head[2])
    head[3], head[4] = _imported_time(head[3], "created_at"), _imported_time(head[4], "updated_at")
    head += _imported_parameters(conversation)
    files = _imported_files(data.get("files"))
    rows = []
    attached: list[list[Attachment]] = []
    old_ids: list[int | None] = []
    for number, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BadExport(f"messages[{number}] must be an object")
        row: list[Any] = []
        for name, (types, nullable) in _EXPORTED_MESSAGE_FIELDS.items():
            value = message.get(name)
            fits = isinstance(value, types) and (bool in types or not isinstance(value, bool))
            if not (fits or (value is None and nullable)):
                raise BadExport(f"messages[{number}].{name} is missing or of the wrong type")
            row.append(value)
        fields: dict[str, Any] = dict(zip(_EXPORTED_MESSAGE_FIELDS, row, strict=True))
        if fields["role"] not in _ROLES or fields["status"] not in _STATUSES:
            raise BadExport(f"messages[{number}] has an unknown role or status")
        if fields["status"] == "streaming":
            fields["status"] = "interrupted"
        if fields["chosen"] is None:
            fields["chosen"] = fields["is_current"]
        old_id = message.get("id")
        if fields["parent_id"] is not None and not (isinstance(old_id, int)
                                                    and not isinstance(old_id, bool)):
            raise BadExport(f"messages[{number}].id must be a whole number")
        old_ids.append(old_id if isinstance(old_id, int) else None)
        if isinstance(fields["finish_reason"], str):
            fields["finish_reason"] = sanitize_line(fields["finish_reason"])
        fields["content"] = sanitize(fields["content"])
        fields["reasoning"] = sanitize(fields["reasoning"] or "")
        if fields["error"] is not None:
            fields["error"] = sanitize(fields["error"])
        for name in ("created_at", "updated_at"):
            fields[name] = _imported_time(fields[name], f"messages[{number}].{name}")
        rows.append(tuple(fields.values()))
        attached.append(_imported_links(message.get("attachments"), files, number))
    return tuple(head), rows, attached, old_ids


def _imported_files(files: Any) -> dict[str, tuple[str, bytes, int | None, int | None]]:
    """The export's files by SHA-256, each checked: base64 that decodes to bytes with that
    digest, a type we attach, whole-number dimensions."""
    if files is None:
        return {}
    if not isinstance(files, dict):
        raise BadExport("'files' must be an object")
    checked: dict[str, tuple[str, bytes, int | None, int | None]] = {}
    for digest, entry in files.items():
        where = f"files[{str(digest)[:16]!r}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("data"), str):
            raise BadExport(f"{where} needs its data as a base64 string")
        try:
            blob = base64.b64decode(entry["data"], validate=True)
        except (binascii.Error, ValueError):
            raise BadExport(f"{where}: the data is not valid base64") from None
        if hashlib.sha256(blob).hexdigest() != digest:
            raise BadExport(f"{where}: the data does not match its SHA-256")
        mime = entry.get("mime")
        if mime not in (TEXT_TYPE, *IMAGE_TYPES):
            raise BadExport(f"{where}: unknown type {mime!r}")
        width, height = entry.get("width"), entry.get("height")
        for value in (width, height):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise BadExport(f"{where}: width and height must be whole numbers or null")
        checked[digest] = (mime, blob, width, height)
    return checked


def _imported_links(links: Any, files: dict[str, tuple[str, bytes, int | None, int | None]],
                    number: int) -> list[Attachment]:
    if links is None:
        return []
    if not isinstance(links, list):
        raise BadExport(f"messages[{number}].attachments must be a list")
    attachments = []
    for link in links:
        if not (isinstance(link, dict) and isinstance(link.get("name"), str)
                and link.get("sha256") in files):
            raise BadExport(f"messages[{number}].attachments names a file the export "
                            "does not hold")
        mime, blob, width, height = files[link["sha256"]]
        attachments.append(Attachment(sanitize_line(link["name"]), mime, blob, width, height,
                                      link["sha256"]))
    return attachments


def _imported_parameters(conversation: dict[str, Any]) -> list[Any]:
    """temperature, max_tokens and params_saved from an export (older ones have neither)."""
    if "temperature" not in conversation and "max_tokens" not in conversation:
        return [None, None, 0]
    temperature, max_tokens = conversation.get("temperature"), conversation.get("max_tokens")
    if temperature is not None and (isinstance(temperature, bool)
                                    or not isinstance(temperature, int | float)):
        raise BadExport("conversation.temperature must be a number or null")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
        raise BadExport("conversation.max_tokens must be a whole number or null")
    return [temperature, max_tokens, 1]


def _imported_time(text: str, where: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadExport(f"{where} is not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _timestamp(moment)
