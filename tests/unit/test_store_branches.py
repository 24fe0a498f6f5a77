"""Branches in the store: an edited question starts a new branch and the old one stays,
reachable as a version; export/import, search and reopening keep every branch; a file from
before branches is linked; an ended answer can be made 'streaming' again to continue it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tui_chat.models import Attachment
from tui_chat.store import ConversationStore
from tui_chat.store.database import BadExport, NotFound
from tui_chat.store.migrations import MIGRATIONS, upgrade


def answer(store: ConversationStore, cid: int, text: str, replaces: int | None = None) -> int:
    message = store.start_answer(cid, model="m", replaces=replaces)
    store.finish_answer(message, text, "done")
    return message


def shown(store: ConversationStore, cid: int) -> list[str]:
    return [m.content for m in store.messages(cid)]


def two_turns(store: ConversationStore) -> tuple[int, list[int]]:
    cid = store.create_conversation()
    q1 = store.add_message(cid, "user", "q1")
    a1 = answer(store, cid, "a1")
    q2 = store.add_message(cid, "user", "q2")
    a2 = answer(store, cid, "a2")
    return cid, [q1, a1, q2, a2]


def test_an_edit_branches_and_each_branch_comes_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with ConversationStore(path) as store:
        cid, (_q1, _a1, q2, a2) = two_turns(store)

        edited = store.edit_message(q2, "q2 edited")

        assert shown(store, cid) == ["q1", "a1", "q2 edited"]
        assert store.version_numbers(cid) == {edited: (2, 2)}
        assert [m.id for m in store.answer_versions(edited)] == [q2, edited]
        answer(store, cid, "a2 in the new branch")
        q3 = store.add_message(cid, "user", "q3")
        answer(store, cid, "a3")
        assert shown(store, cid) == ["q1", "a1", "q2 edited", "a2 in the new branch", "q3", "a3"]
        assert store.get_conversation(cid).message_count == 6

        store.set_current_version(q2)  # the earlier branch, with what followed it

        assert shown(store, cid) == ["q1", "a1", "q2", "a2"]
        assert store.version_numbers(cid) == {q2: (1, 2)}
        newer = answer(store, cid, "a2 retried", replaces=a2)  # a retry in the old branch
        assert shown(store, cid) == ["q1", "a1", "q2", "a2 retried"]
        assert store.version_numbers(cid) == {q2: (1, 2), newer: (2, 2)}

    with ConversationStore(path) as store:  # reopened: as it was left
        assert shown(store, cid) == ["q1", "a1", "q2", "a2 retried"]
        store.set_current_version(edited)
        assert shown(store, cid) == ["q1", "a1", "q2 edited", "a2 in the new branch", "q3", "a3"]
        assert q3 in {m.id for m in store.messages(cid)}
        assert len(store.messages(cid, current_only=False)) == 9
        assert store.version_numbers(cid) == {edited: (2, 2)}
        assert "_Version 2 of 2" in store.export_markdown(cid)
        assert "a2 retried" not in store.export_markdown(cid)


def test_the_first_message_can_be_edited(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c.db") as store:
        cid, (q1, *_rest) = two_turns(store)
        first = store.edit_message(q1, "another start")
        answer(store, cid, "another answer")
        assert shown(store, cid) == ["another start", "another answer"]
        store.set_current_version(q1)
        assert shown(store, cid) == ["q1", "a1", "q2", "a2"]
        assert store.version_numbers(cid) == {q1: (1, 2)}
        store.set_current_version(first)
        assert shown(store, cid) == ["another start", "another answer"]


def test_answer_versions_share_what_follows_them(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c.db") as store:
        cid, (_q1, a1, _q2, _a2) = two_turns(store)
        again = answer(store, cid, "a1 again", replaces=a1)
        assert shown(store, cid) == ["q1", "a1 again", "q2", "a2"]
        store.set_current_version(a1)
        assert shown(store, cid) == ["q1", "a1", "q2", "a2"]
        assert store.version_numbers(cid) == {a1: (1, 2)}
        store.set_current_version(again)
        assert shown(store, cid) == ["q1", "a1 again", "q2", "a2"]


def test_search_finds_every_branch_and_opening_a_hit_shows_its_branch(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c.db") as store:
        cid, (q1, _a1, q2, a2) = two_turns(store)
        store.finish_answer(a2, "an answer about narwhals", "done")
        store.edit_message(q2, "ask about walruses instead")
        answer(store, cid, "walruses answer")
        store.edit_message(q1, "a whole new start")  # the narwhal is two branches away now

        [hit] = store.search("narwhal")
        assert hit.message_id == a2
        assert a2 not in [h.message_id for h in store.search("walrus")]

        store.set_current_version(hit.message_id)

        assert shown(store, cid) == ["q1", "a1", "q2", "an answer about narwhals"]
        assert store.version_numbers(cid) == {q1: (1, 2), q2: (1, 2)}


def test_export_and_import_keep_every_branch(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c.db") as store:
        cid, (_q1, _a1, q2, _a2) = two_turns(store)
        store.edit_message(q2, "q2 edited")
        answer(store, cid, "a2 edited")

        copy = store.import_json(store.export_json(cid))

        assert shown(store, copy) == ["q1", "a1", "q2 edited", "a2 edited"]
        old_q2 = next(m for m in store.messages(copy, current_only=False) if m.content == "q2")
        store.set_current_version(old_q2.id)
        assert shown(store, copy) == ["q1", "a1", "q2", "a2"]
        assert shown(store, cid) == ["q1", "a1", "q2 edited", "a2 edited"]  # the original

        data = store.export_json(cid)
        data["messages"][3]["parent_id"] = 999_999
        with pytest.raises(BadExport, match="follows message 999999"):
            store.import_json(data)
        data = store.export_json(cid)
        data["messages"][0]["parent_id"] = data["messages"][3]["id"]  # a loop
        with pytest.raises(BadExport, match="not an earlier message"):
            store.import_json(data)
        assert len(store.list_conversations()) == 2


def test_an_export_from_before_branches_is_linked_on_import(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c.db") as store:
        cid, (_q1, a1, _q2, _a2) = two_turns(store)
        answer(store, cid, "a1 again", replaces=a1)
        data = store.export_json(cid)
        for message in data["messages"]:
            for name in ("parent_id", "chosen", "finish_reason"):
                del message[name]

        copy = store.import_json(data)

        assert shown(store, copy) == ["q1", "a1 again", "q2", "a2"]
        first = next(m for m in store.messages(copy, current_only=False) if m.content == "a1")
        store.set_current_version(first.id)
        assert shown(store, copy) == ["q1", "a1", "q2", "a2"]


def test_a_file_from_schema_6_is_linked(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:6]:
        for statement in migration.statements:
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {migration.version}")
    now = "'2026-01-01T00:00:00+00:00'"
    connection.execute("INSERT INTO conversations (title, created_at, updated_at)"
                       f" VALUES ('t', {now}, {now})")
    rows = [(1, 1, 1, "user", "q"), (2, 2, 1, "assistant", "old answer"),
            (3, 2, 2, "assistant", "new answer"), (4, 3, 1, "user", "next")]
    for mid, position, version, role, content in rows:
        current = int(mid != 2)
        connection.execute(
            "INSERT INTO messages (id, conversation_id, position, version, is_current, role,"
            f" content, created_at, updated_at) VALUES (?, 1, ?, ?, ?, ?, ?, {now}, {now})",
            (mid, position, version, current, role, content))
    assert upgrade(connection)[0] == 7
    connection.close()

    with ConversationStore(path) as store:
        parents = {m.id: m.parent_id for m in store.messages(1, current_only=False)}
        assert parents == {1: None, 2: 1, 3: 1, 4: 3}
        assert store.version_numbers(1) == {3: (2, 2)}
        store.set_current_version(2)
        assert shown(store, 1) == ["q", "old answer", "next"]


def test_an_ended_answer_streams_again_to_be_continued(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c.db") as store:
        cid = store.create_conversation()
        store.add_message(cid, "user", "q")
        message = store.start_answer(cid, model="m")
        store.finish_answer(message, "The start of a long", "done", finish_reason="length")
        row = store.messages(cid)[-1]
        assert (row.finish_reason, row.cut_at_max_tokens) == ("length", True)

        store.resume_answer(message)

        row = store.messages(cid)[-1]
        assert (row.status, row.finish_reason, row.content) == (
            "streaming", None, "The start of a long")
        assert store.save_partial(message, "The start of a long answer")
        store.finish_answer(message, "The start of a long answer, now whole.", "done",
                            finish_reason="stop")
        row = store.messages(cid)[-1]
        assert (row.status, row.content, row.cut_at_max_tokens) == (
            "done", "The start of a long answer, now whole.", False)
        assert [h.message_id for h in store.search("now whole")] == [message]
        with pytest.raises(NotFound):
            store.resume_answer(store.messages(cid)[0].id)  # a question


def test_an_edit_keeps_the_questions_files_unless_given_others(tmp_path: Path) -> None:
    code = Attachment("a.py", "text/plain", b"x = 1\n")
    other = Attachment("b.py", "text/plain", b"y = 2\n")
    with ConversationStore(tmp_path / "c.db") as store:
        cid = store.create_conversation()
        question = store.add_message(cid, "user", "explain", attachments=[code])
        kept = store.edit_message(question, "explain briefly")
        assert store.messages(cid)[-1].attachments == (code,)
        store.edit_message(kept, "explain this one", attachments=[other])
        assert store.messages(cid)[-1].attachments == (other,)
        store.set_current_version(question)
        assert store.messages(cid)[-1].attachments == (code,)
