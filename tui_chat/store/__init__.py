"""The conversation database: ConversationStore and the records it returns."""

from __future__ import annotations

from tui_chat.store.database import (
    BadExport,
    ConversationStore,
    ConversationSummary,
    NotFound,
    SchemaTooNew,
    SearchHit,
    StoredMessage,
    StoredRole,
    StoredStatus,
    StoreError,
    title_from,
)

__all__ = [
    "BadExport",
    "ConversationStore",
    "ConversationSummary",
    "NotFound",
    "SchemaTooNew",
    "SearchHit",
    "StoreError",
    "StoredMessage",
    "StoredRole",
    "StoredStatus",
    "title_from",
]
