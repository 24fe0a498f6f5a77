"""An opt-in cache of answers: an identical request (endpoint, model, messages, parameters)
is answered from a small SQLite file instead of the server."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from tui_chat.models import Message, RequestParams


def request_key(base_url: str, messages: Sequence[Message], params: RequestParams) -> str:
    """A digest of everything that decides the answer (never the key)."""
    payload = json.dumps({
        "base_url": base_url.rstrip("/"), "model": params.model,
        "temperature": params.temperature, "max_tokens": params.max_tokens,
        # Attached files by digest; a message without any keeps the key it always had.
        "messages": [[m.role, m.content, *([[a.name, a.sha256] for a in m.attachments]
                                           if m.attachments else [])] for m in messages],
    }, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseCache:
    """Answers by request digest, in one owner-only SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, "
                         "content TEXT NOT NULL, finish_reason TEXT, created_at REAL NOT NULL)")

    def get(self, key: str) -> tuple[str, str | None] | None:
        row = self._db.execute("SELECT content, finish_reason FROM answers WHERE key = ?",
                               (key,)).fetchone()
        return (row[0], row[1]) if row else None

    def put(self, key: str, content: str, finish_reason: str | None) -> None:
        self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
                         (key, content, finish_reason, time.time()))

    def close(self) -> None:
        self._db.close()
