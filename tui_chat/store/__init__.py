"""The conversation database: ConversationStore and the records it returns."""

from __future__ import annotations

from tui_chat.models import MessageRole, StoredStatus
from tui_chat.store.database import (
    BadExport,
    ConversationStore,
    ConversationSummary,
    NotFound,
    SchemaTooNew,
    SearchHit,
    StoredMessage,
    StoreError,
    title_from,
)

__all__ = [
    "BadExport",
    "ConversationStore",
    "ConversationSummary",
    "MessageRole",
    "NotFound",
    "SchemaTooNew",
    "SearchHit",
    "StoreError",
    "StoredMessage",
    "StoredStatus",
    "title_from",
]
