"""Numbered, forward-only schema steps for the conversation database, tracked in user_version.

A step is never edited once released: a change to the schema is a new step at the end. Each
step runs in its own transaction together with the `user_version` bump, so a crash mid-upgrade
leaves the file at the previous version, and two processes opening an old file cannot both
apply the same step.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    """One step from version `version - 1` to `version`."""

    version: int
    purpose: str
    statements: tuple[str, ...]
    """Run one by one: `executescript` would commit the step's transaction half way."""


_INITIAL_SCHEMA = Migration(
    1,
    "conversations and messages, with answer versions",
    (
        """
        CREATE TABLE conversations (
            id            INTEGER PRIMARY KEY,
            title         TEXT NOT NULL DEFAULT '',
            model         TEXT NOT NULL DEFAULT '',
            system_prompt TEXT NOT NULL DEFAULT '',
            created_at    TEXT NOT NULL,
            updated_at    TEXT NOT NULL
        )
        """,
        "CREATE INDEX conversations_by_update ON conversations (updated_at, id)",
        # A retried answer keeps its slot (`position`) and gets the next `version`; only one
        # row per slot is current, so the transcript is "current rows by position".
        """
        CREATE TABLE messages (
            id                INTEGER PRIMARY KEY,
            conversation_id   INTEGER NOT NULL
                              REFERENCES conversations (id) ON DELETE CASCADE,
            position          INTEGER NOT NULL,
            version           INTEGER NOT NULL DEFAULT 1,
            is_current        INTEGER NOT NULL DEFAULT 1 CHECK (is_current IN (0, 1)),
            role              TEXT NOT NULL
                              CHECK (role IN ('user', 'assistant', 'system', 'error')),
            content           TEXT NOT NULL DEFAULT '',
            status            TEXT NOT NULL DEFAULT 'done'
                              CHECK (status IN ('done', 'streaming', 'cancelled',
                                                'interrupted', 'failed')),
            model             TEXT NOT NULL DEFAULT '',
            created_at        TEXT NOT NULL,
            updated_at        TEXT NOT NULL,
            ttft              REAL,
            total_time        REAL,
            prompt_tokens     INTEGER,
            completion_tokens INTEGER,
            tokens_estimated  INTEGER NOT NULL DEFAULT 0 CHECK (tokens_estimated IN (0, 1)),
            error             TEXT,
            UNIQUE (conversation_id, position, version)
        )
        """,
        """
        CREATE UNIQUE INDEX messages_current_slot
            ON messages (conversation_id, position) WHERE is_current = 1
        """,
        # mark_interrupted runs at every start; keep it from scanning every message.
        "CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming'",
    ),
)

# The trigram tokenizer matches any substring of three or more characters, so Chinese or
# Japanese text (no spaces between words) is searchable too; unicode61 would index a whole
# sentence as one token. Needs SQLite 3.34 or newer.
_FULL_TEXT_SEARCH = Migration(
    2,
    "full-text search over message content and conversation titles",
    (
        """
        CREATE VIRTUAL TABLE message_search USING fts5 (
            content, content = 'messages', content_rowid = 'id', tokenize = 'trigram'
        )
        """,
        """
        CREATE VIRTUAL TABLE title_search USING fts5 (
            title, content = 'conversations', content_rowid = 'id', tokenize = 'trigram'
        )
        """,
        """
        CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
            INSERT INTO message_search (rowid, content) VALUES (new.id, new.content);
        END
        """,
        """
        CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
            INSERT INTO message_search (message_search, rowid, content)
                VALUES ('delete', old.id, old.content);
        END
        """,
        """
        CREATE TRIGGER message_search_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO message_search (message_search, rowid, content)
                VALUES ('delete', old.id, old.content);
            INSERT INTO message_search (rowid, content) VALUES (new.id, new.content);
        END
        """,
        """
        CREATE TRIGGER title_search_insert AFTER INSERT ON conversations BEGIN
            INSERT INTO title_search (rowid, title) VALUES (new.id, new.title);
        END
        """,
        """
        CREATE TRIGGER title_search_delete AFTER DELETE ON conversations BEGIN
            INSERT INTO title_search (title_search, rowid, title)
                VALUES ('delete', old.id, old.title);
        END
        """,
        """
        CREATE TRIGGER title_search_update AFTER UPDATE OF title ON conversations BEGIN
            INSERT INTO title_search (title_search, rowid, title)
                VALUES ('delete', old.id, old.title);
            INSERT INTO title_search (rowid, title) VALUES (new.id, new.title);
        END
        """,
        # Index what a version-1 file already holds.
        "INSERT INTO message_search (message_search) VALUES ('rebuild')",
        "INSERT INTO title_search (title_search) VALUES ('rebuild')",
    ),
)

# Indexing a message costs time in proportion to its length (the trigram tokenizer writes an
# entry per character), and version 2 indexed a streaming answer again at every partial save:
# 81-91 ms per save for a 1 MB answer (store_bench), twice a second, on the UI thread. Now a
# message is in the index once it has stopped streaming; `search` scans the (few) streaming
# ones directly.
_INDEX_ENDED_ANSWERS = Migration(
    3,
    "search index holds only messages that have stopped streaming",
    (
        "DROP TRIGGER message_search_insert",
        "DROP TRIGGER message_search_delete",
        "DROP TRIGGER message_search_update",
        # Version 2 indexed streaming rows; take them out, with the text they were indexed with.
        """
        INSERT INTO message_search (message_search, rowid, content)
            SELECT 'delete', id, content FROM messages WHERE status = 'streaming'
        """,
        """
        CREATE TRIGGER message_search_insert AFTER INSERT ON messages
            WHEN new.status != 'streaming' BEGIN
            INSERT INTO message_search (rowid, content) VALUES (new.id, new.content);
        END
        """,
        """
        CREATE TRIGGER message_search_delete AFTER DELETE ON messages
            WHEN old.status != 'streaming' BEGIN
            INSERT INTO message_search (message_search, rowid, content)
                VALUES ('delete', old.id, old.content);
        END
        """,
        # One trigger, so the old entry always goes before the new one is written; while an
        # answer streams both statements select nothing.
        """
        CREATE TRIGGER message_search_update AFTER UPDATE OF content, status ON messages BEGIN
            INSERT INTO message_search (message_search, rowid, content)
                SELECT 'delete', old.id, old.content WHERE old.status != 'streaming';
            INSERT INTO message_search (rowid, content)
                SELECT new.id, new.content WHERE new.status != 'streaming';
        END
        """,
    ),
)

# Each conversation keeps its own model, system prompt and sampling parameters (the first two
# were stored from the start, but only as they were when it began). Conversations from before
# this step never had their parameters saved: `params_saved` = 0 says "take them from the
# settings", which a NULL temperature (the server's default) cannot say.
_CONVERSATION_PARAMETERS = Migration(
    4,
    "each conversation's temperature and max tokens",
    (
        "ALTER TABLE conversations ADD COLUMN temperature REAL",
        "ALTER TABLE conversations ADD COLUMN max_tokens INTEGER",
        "ALTER TABLE conversations ADD COLUMN params_saved INTEGER NOT NULL DEFAULT 0"
        " CHECK (params_saved IN (0, 1))",
    ),
)

# A reasoning model's thinking, kept with its answer but apart from it: the answer is what is
# sent back as context, the reasoning never is. Its time and token estimate make the folded
# "Thought for 12.4 s · 1,830 tokens" line when the conversation is opened again.
_REASONING = Migration(
    5,
    "the reasoning before an answer",
    (
        "ALTER TABLE messages ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE messages ADD COLUMN thinking_time REAL",
        "ALTER TABLE messages ADD COLUMN reasoning_tokens INTEGER",
    ),
)

# Files attached to user messages, content-addressed: one row per distinct file (by the
# SHA-256 of its bytes), however many messages carry it; each message links to its files
# under the name it was attached with. A file no message links to any more (its conversation
# was deleted) goes with its last link.
_ATTACHMENTS = Migration(
    6,
    "files attached to messages, each distinct file stored once",
    (
        """
        CREATE TABLE files (
            sha256 TEXT PRIMARY KEY,
            mime   TEXT NOT NULL,
            size   INTEGER NOT NULL,
            width  INTEGER,
            height INTEGER,
            data   BLOB NOT NULL
        )
        """,
        """
        CREATE TABLE message_files (
            message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            ordinal    INTEGER NOT NULL,
            sha256     TEXT NOT NULL REFERENCES files (sha256),
            name       TEXT NOT NULL,
            PRIMARY KEY (message_id, ordinal)
        )
        """,
        "CREATE INDEX message_files_by_file ON message_files (sha256)",
        """
        CREATE TRIGGER files_unlinked AFTER DELETE ON message_files
            WHEN NOT EXISTS (SELECT 1 FROM message_files WHERE sha256 = old.sha256) BEGIN
            DELETE FROM files WHERE sha256 = old.sha256;
        END
        """,
    ),
)

# Editing a sent message branches the conversation: the edited text starts a new line of
# turns and what followed the old text stays, as an earlier branch. So every message names the
# one it follows (`parent_id`), and `chosen` says which of a message's alternatives its parent
# shows. `is_current` keeps its meaning: on the path shown (one row per position), so every
# reader of "current rows by position" stays right. The alternatives of an answer (retries)
# share what follows them: it hangs off whichever version is chosen. Before this step every
# row followed the current row before it, and only current rows had followers.
# `finish_reason` is the server's word on how a finished answer ended: "length" marks an
# answer cut at max tokens, which can be continued.
_BRANCHES = Migration(
    7,
    "branches (each message follows a parent), and why an answer ended",
    (
        "ALTER TABLE messages ADD COLUMN parent_id INTEGER",
        "ALTER TABLE messages ADD COLUMN chosen INTEGER NOT NULL DEFAULT 1"
        " CHECK (chosen IN (0, 1))",
        "ALTER TABLE messages ADD COLUMN finish_reason TEXT",
        "UPDATE messages SET chosen = is_current",
        """
        UPDATE messages SET parent_id = (
            SELECT p.id FROM messages p
            WHERE p.conversation_id = messages.conversation_id AND p.is_current = 1
              AND p.position < messages.position
            ORDER BY p.position DESC LIMIT 1)
        """,
        "CREATE INDEX messages_by_parent ON messages (parent_id)",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    _INITIAL_SCHEMA, _FULL_TEXT_SEARCH, _INDEX_ENDED_ANSWERS, _CONVERSATION_PARAMETERS,
    _REASONING, _ATTACHMENTS, _BRANCHES,
)
LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(connection: sqlite3.Connection) -> int:
    """The version the file is at: 0 for a new, empty file."""
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    return int(version)


def upgrade(connection: sqlite3.Connection) -> list[int]:
    """Apply every step above the file's version, each in its own transaction.

    The connection must be in autocommit mode (`isolation_level=None`). A file newer than
    `LATEST_VERSION` is left alone; the caller refuses to open it.

    Returns:
        The versions applied, in order (empty when the file was up to date).
    """
    applied: list[int] = []
    for migration in MIGRATIONS:
        if schema_version(connection) >= migration.version:
            continue
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied this step while we waited for the lock.
            if schema_version(connection) >= migration.version:
                connection.execute("ROLLBACK")
                continue
            for statement in migration.statements:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {migration.version:d}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied
