"""Attached files in the SQLite store: once per distinct file, linked to their message, kept
through reopening, retry, export and import."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests import images
from tui_chat.context_window import history_from_stored
from tui_chat.models import Attachment
from tui_chat.store import BadExport, ConversationStore
from tui_chat.store.migrations import MIGRATIONS

PNG = Attachment("shot.png", "image/png", images.png(3, 2), 3, 2)
CODE = Attachment("src/a.py", "text/plain", b"x = '```'\n")


def conversation_with_files(store: ConversationStore) -> int:
    cid = store.create_conversation(model="m")
    store.add_message(cid, "user", "look", attachments=[PNG, CODE])
    answer = store.start_answer(cid, model="m")
    store.finish_answer(answer, "a picture", "done")
    store.add_message(cid, "user", "again", attachments=[
        Attachment("copy-of-shot.png", PNG.mime, PNG.data, 3, 2)])
    return cid


def test_files_survive_reopening_in_order_and_are_stored_once(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    with ConversationStore(path) as store:
        cid = conversation_with_files(store)
    with ConversationStore(path) as store:
        first, _answer, second = store.messages(cid)
        assert first.attachments == (PNG, CODE)
        assert second.attachments[0].name == "copy-of-shot.png"
        assert second.attachments[0].data == PNG.data
        assert store.stored_file_count() == 2  # the same picture twice is one file
        # What a retry or a reopened conversation sends carries the files again.
        history = history_from_stored(store.messages(cid))
        assert history[0].attachments == (PNG, CODE)


def test_a_file_goes_with_the_last_message_that_links_it(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "chat.db") as store:
        kept = store.create_conversation()
        store.add_message(kept, "user", "mine", attachments=[CODE])
        gone = conversation_with_files(store)
        assert store.stored_file_count() == 2
        store.delete(gone)
        assert store.stored_file_count() == 1
        assert store.messages(kept)[0].attachments == (CODE,)


def test_a_version_5_file_is_upgraded_and_keeps_its_messages(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for migration in MIGRATIONS[:5]:
            for statement in migration.statements:
                db.execute(statement)
        db.execute("PRAGMA user_version = 5")
        db.execute("INSERT INTO conversations (created_at, updated_at) VALUES ('2026-01-01',"
                   " '2026-01-01')")
        db.execute("INSERT INTO messages (conversation_id, position, role, content, created_at,"
                   " updated_at) VALUES (1, 1, 'user', 'old', '2026-01-01', '2026-01-01')")
    db.close()
    with ConversationStore(path) as store:
        (message,) = store.messages(1)
        assert message.content == "old" and message.attachments == ()
        store.add_message(1, "user", "new", attachments=[CODE])
        assert store.messages(1)[1].attachments == (CODE,)


def test_json_export_holds_the_data_once_and_imports_back(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "a.db") as store:
        exported = store.export_json(conversation_with_files(store))
    text = json.dumps(exported)
    assert len(exported["files"]) == 2
    assert exported["messages"][0]["attachments"] == [
        {"name": "shot.png", "sha256": PNG.sha256}, {"name": "src/a.py", "sha256": CODE.sha256}]
    with ConversationStore(tmp_path / "b.db") as other:
        cid = other.import_json(json.loads(text))
        first, _answer, second = other.messages(cid)
        assert first.attachments == (PNG, CODE)
        assert second.attachments[0].data == PNG.data
        assert other.stored_file_count() == 2
        assert other.export_json(cid)["files"] == exported["files"]


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda e, d: e["files"][d].update(data="not base64!"), "not valid base64"),
    (lambda e, d: e["files"][d].update(data="AAAA"), "does not match its SHA-256"),
    (lambda e, d: e["files"][d].update(mime="application/x-sh"), "unknown type"),
    (lambda e, d: e["messages"][0]["attachments"][0].update(sha256="0" * 64),
     "names a file the export does not hold"),
])
def test_a_damaged_export_is_refused_with_one_line(tmp_path: Path, spoil: object,
                                                   message: str) -> None:
    with ConversationStore(tmp_path / "a.db") as store:
        exported = store.export_json(conversation_with_files(store))
        spoil(exported, PNG.sha256)  # type: ignore[operator]
        with pytest.raises(BadExport, match=message):
            store.import_json(exported)
        assert len(store.list_conversations()) == 1  # nothing half imported


def test_an_export_without_files_still_imports(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "a.db") as store:
        cid = store.create_conversation()
        store.add_message(cid, "user", "plain")
        exported = store.export_json(cid)
        assert "files" not in exported and "attachments" not in exported["messages"][0]
        assert store.messages(store.import_json(exported))[0].content == "plain"


def test_markdown_names_each_file_and_shows_text_in_its_fence(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "a.db") as store:
        markdown = store.export_markdown(conversation_with_files(store))
    assert f"📎 shot.png · {len(PNG.data)} B · 3×2 · PNG" in markdown
    assert "📎 src/a.py · 10 B\n\n````src/a.py\nx = '```'\n````\n\nlook" in markdown
    assert "base64" not in markdown
