"""ConversationStore on a real SQLite file: schema upgrades, streaming saves, answer versions,
search, export/import, file modes, a second connection, and an app killed mid-answer."""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import stat
import subprocess
import sys
from itertools import count
from pathlib import Path

import pytest

from tui_chat.models import ConversationSettings, Message, Metrics
from tui_chat.store import (
    BadExport,
    ConversationStore,
    NotFound,
    SchemaTooNew,
    StoreError,
    title_from,
)
from tui_chat.store import database as store_database
from tui_chat.store.migrations import LATEST_VERSION, MIGRATIONS


def ticking_clock():
    """One second later at every call, so time order never depends on the machine."""
    seconds = count(1_700_000_000)
    return lambda: float(next(seconds))


@pytest.fixture
def store(tmp_path: Path):
    with ConversationStore(tmp_path / "chat.db", clock=ticking_clock()) as opened:
        yield opened


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection, to look at the file without the store."""
    return sqlite3.connect(path, isolation_level=None)


def indexed(path: Path, word: str) -> int:
    """How many messages the full-text index itself holds `word` in."""
    with raw(path) as db:
        return db.execute("SELECT count(*) FROM message_search WHERE message_search MATCH ?",
                          (f'"{word}"',)).fetchone()[0]


def check_index(path: Path) -> None:
    """Raises unless the index is whole and matches the messages (all of them ended)."""
    with raw(path) as db:
        db.execute("INSERT INTO message_search (message_search, rank)"
                   " VALUES ('integrity-check', 1)")


def metrics() -> Metrics:
    return Metrics(started_at=10.0, first_token_at=10.5, ended_at=13.0,
                   completion_tokens=42, prompt_tokens=7)


class TestFile:
    """The file, its directory and its journal are private; the schema is versioned."""

    def test_new_file_directories_and_journal_are_owner_only(self, tmp_path: Path) -> None:
        path = tmp_path / "data" / "tui-chat" / "chat.db"

        with ConversationStore(path) as opened:
            opened.create_conversation("hello")
            journal = [Path(f"{path}-wal"), Path(f"{path}-shm")]
            assert all(part.exists() for part in journal)
            assert [mode(part) for part in journal] == [0o600, 0o600]

        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        assert mode(path.parent.parent) == 0o700

    def test_existing_directory_keeps_its_mode(self, tmp_path: Path) -> None:
        tmp_path.chmod(0o755)

        ConversationStore(tmp_path / "chat.db").close()

        assert mode(tmp_path) == 0o755
        assert mode(tmp_path / "chat.db") == 0o600

    def test_new_file_is_wal_at_the_latest_version(self, tmp_path: Path) -> None:
        ConversationStore(tmp_path / "chat.db").close()

        with raw(tmp_path / "chat.db") as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert db.execute("PRAGMA user_version").fetchone() == (LATEST_VERSION,)

    def test_hand_made_version_1_file_is_upgraded_and_searchable(self, tmp_path: Path) -> None:
        path = tmp_path / "old.db"
        with raw(path) as db:
            for statement in VERSION_1_SCHEMA:
                db.execute(statement)
            db.execute("INSERT INTO conversations VALUES (1, 'Pelican facts', '', 'Be brief.',"
                       " '2024-01-01T00:00:00.000000+00:00', '2024-01-01T00:00:05.000000+00:00')")
            db.execute("INSERT INTO messages (conversation_id, position, role, content, status,"
                       " created_at, updated_at) VALUES (1, 1, 'user', 'How far do pelicans fly?',"
                       " 'done', '2024-01-01T00:00:01.000000+00:00',"
                       " '2024-01-01T00:00:01.000000+00:00')")
            db.execute("PRAGMA user_version = 1")

        with ConversationStore(path) as opened:
            [hit] = opened.search("pelicans fly")
            assert hit.conversation_id == 1
            assert [hit.title for hit in opened.search("pelican facts")] == ["Pelican facts"]
            assert opened.get_conversation(1).system == "Be brief."
            new = opened.add_message(1, "assistant", "Hundreds of kilometres.")
            assert [hit.message_id for hit in opened.search("kilometres")] == [new]

        with raw(path) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (LATEST_VERSION,)

    def test_version_2_file_keeps_a_streaming_answer_findable_once(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "v2.db"
        with raw(path) as db:  # version 2 indexed answers while they streamed
            for migration in MIGRATIONS[:2]:
                for statement in migration.statements:
                    db.execute(statement)
            db.execute("INSERT INTO conversations VALUES (1, 'Sea life', '', '',"
                       " '2024-01-01T00:00:00.000000+00:00', '2024-01-01T00:00:05.000000+00:00')")
            db.execute("INSERT INTO messages (conversation_id, position, role, content, status,"
                       " created_at, updated_at) VALUES (1, 1, 'assistant', 'half a story about"
                       " otters', 'streaming', '2024-01-01T00:00:01.000000+00:00',"
                       " '2024-01-01T00:00:01.000000+00:00')")
            db.execute("PRAGMA user_version = 2")
        assert indexed(path, "otters") == 1

        with ConversationStore(path) as opened:
            assert indexed(path, "otters") == 0
            assert [hit.message_id for hit in opened.search("otters")] == [1]
            assert opened.mark_interrupted() == 1
            assert indexed(path, "otters") == 1
            assert [hit.message_id for hit in opened.search("otters")] == [1]
        check_index(path)

    def test_version_3_conversations_take_unsaved_parameters_from_the_settings(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "v3.db"
        with raw(path) as db:  # version 3 kept model and prompt, not temperature or max tokens
            for migration in MIGRATIONS[:3]:
                for statement in migration.statements:
                    db.execute(statement)
            db.execute("INSERT INTO conversations VALUES (1, 'Old', '', 'Old prompt.',"
                       " '2024-01-01T00:00:00.000000+00:00', '2024-01-01T00:00:05.000000+00:00')")
            db.execute("PRAGMA user_version = 3")
        defaults = ConversationSettings("default-model", "Default.", 0.7, 100)

        with ConversationStore(path) as opened:
            old = opened.get_conversation(1)
            assert old.settings(defaults) == ConversationSettings(
                "default-model", "Old prompt.", 0.7, 100)
            new = opened.create_conversation(model="m", system="")
            assert opened.get_conversation(new).settings(defaults) == ConversationSettings(
                "m", "", None, None)  # saved as the server's defaults, not "unknown"
            opened.set_conversation_settings(1, ConversationSettings("m2", "P.", 0.2, None))
            assert opened.get_conversation(1).settings(defaults) == ConversationSettings(
                "m2", "P.", 0.2, None)
            exported = opened.export_json(1)
            assert (exported["conversation"]["temperature"],
                    exported["conversation"]["max_tokens"]) == (0.2, None)
            copy = opened.import_json(exported)
            assert opened.get_conversation(copy).settings(defaults) == ConversationSettings(
                "m2", "P.", 0.2, None)

    def test_newer_schema_is_refused_and_left_alone(self, tmp_path: Path) -> None:
        path = tmp_path / "future.db"
        with raw(path) as db:
            db.execute("PRAGMA user_version = 99")

        with pytest.raises(SchemaTooNew, match="99"):
            ConversationStore(path)

        with raw(path) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (99,)

    def test_a_file_that_is_not_a_database_is_a_store_error(self, tmp_path: Path) -> None:
        path = tmp_path / "notes.db"
        path.write_bytes(b"this is not sqlite" * 100)

        with pytest.raises(StoreError, match=r"notes\.db"):
            ConversationStore(path)


# The schema as the first release wrote it, typed out rather than taken from migrations.py.
VERSION_1_SCHEMA = (
    "CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT NOT NULL DEFAULT '',"
    " model TEXT NOT NULL DEFAULT '', system_prompt TEXT NOT NULL DEFAULT '',"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE INDEX conversations_by_update ON conversations (updated_at, id)",
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL"
    " REFERENCES conversations (id) ON DELETE CASCADE, position INTEGER NOT NULL,"
    " version INTEGER NOT NULL DEFAULT 1, is_current INTEGER NOT NULL DEFAULT 1,"
    " role TEXT NOT NULL, content TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'done',"
    " model TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " ttft REAL, total_time REAL, prompt_tokens INTEGER, completion_tokens INTEGER,"
    " tokens_estimated INTEGER NOT NULL DEFAULT 0, error TEXT,"
    " UNIQUE (conversation_id, position, version))",
    "CREATE UNIQUE INDEX messages_current_slot ON messages (conversation_id, position)"
    " WHERE is_current = 1",
    "CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming'",
)


class TestAnswers:
    """An answer is saved while it streams and ends with its status and figures."""

    def test_partial_saves_then_finish_with_figures(self, store: ConversationStore) -> None:
        cid = store.create_conversation(model="m")
        store.add_message(cid, "user", "hi")
        answer = store.start_answer(cid, model="m")
        assert store.messages(cid)[-1].status == "streaming"

        assert store.save_partial(answer, "Hel")
        assert store.save_partial(answer, "Hello")
        assert store.messages(cid)[-1].content == "Hello"

        store.finish_answer(answer, "Hello there", "done", metrics=metrics())

        saved = store.messages(cid)[-1]
        assert (saved.role, saved.content, saved.status, saved.model) == (
            "assistant", "Hello there", "done", "m")
        assert (saved.ttft, saved.total_time) == (0.5, 3.0)
        assert (saved.prompt_tokens, saved.completion_tokens, saved.tokens_estimated) == (
            7, 42, False)
        assert saved.updated_at > saved.created_at

    def test_late_partial_save_does_not_overwrite_the_final_text(
        self, store: ConversationStore
    ) -> None:
        cid = store.create_conversation()
        answer = store.start_answer(cid, model="m")
        store.finish_answer(answer, "final", "cancelled")

        assert not store.save_partial(answer, "stale")
        assert store.messages(cid)[-1].content == "final"

    def test_failed_answer_keeps_error_and_estimated_tokens(
        self, store: ConversationStore
    ) -> None:
        cid = store.create_conversation()
        answer = store.start_answer(cid, model="m")
        guess = Metrics(started_at=0.0, first_token_at=1.0, ended_at=2.0, estimated_tokens=5)

        store.finish_answer(answer, "half an ans", "failed", metrics=guess,
                            error="the answer stopped before the server said it was finished")

        saved = store.messages(cid)[-1]
        assert saved.status == "failed"
        assert saved.error.startswith("the answer stopped")
        assert (saved.completion_tokens, saved.tokens_estimated) == (5, True)

    def test_finishing_as_streaming_or_an_unknown_id_is_refused(
        self, store: ConversationStore
    ) -> None:
        cid = store.create_conversation()
        answer = store.start_answer(cid, model="m")

        with pytest.raises(ValueError, match="streaming"):
            store.finish_answer(answer, "x", "streaming")
        with pytest.raises(NotFound):
            store.finish_answer(answer + 100, "x", "done")
        with pytest.raises(NotFound):
            store.add_message(cid + 100, "user", "to nowhere")
        with pytest.raises(ValueError, match="role"):
            store.add_message(cid, "robot", "beep")  # type: ignore[arg-type]

    def test_mark_interrupted_marks_only_streaming_answers(
        self, store: ConversationStore
    ) -> None:
        first, second = store.create_conversation(), store.create_conversation()
        left_a = store.start_answer(first, model="m")
        store.save_partial(left_a, "partial a")
        left_b = store.start_answer(second, model="m")
        done = store.start_answer(second, model="m")
        store.finish_answer(done, "complete", "done")

        assert store.mark_interrupted() == 2
        assert store.mark_interrupted() == 0

        statuses = {m.id: (m.status, m.content)
                    for cid in (first, second) for m in store.messages(cid)}
        assert statuses == {left_a: ("interrupted", "partial a"),
                            left_b: ("interrupted", ""), done: ("done", "complete")}

    def test_to_message_gives_model_turns_and_skips_error_rows(
        self, store: ConversationStore
    ) -> None:
        cid = store.create_conversation()
        store.add_message(cid, "user", "hi")
        store.add_message(cid, "error", "429: rate limited by the server", status="failed")

        turns = [m.to_message() for m in store.messages(cid)]

        assert turns == [Message("user", "hi"), None]


class TestVersions:
    """Retry keeps the earlier answer as a previous version in the same slot."""

    def test_retry_replaces_the_answer_and_keeps_the_old_one(
        self, store: ConversationStore
    ) -> None:
        cid = store.create_conversation()
        question = store.add_message(cid, "user", "Name a colour")
        first = store.start_answer(cid, model="a")
        store.finish_answer(first, "Red", "done")

        second = store.start_answer(cid, model="b", replaces=first)
        store.finish_answer(second, "Blue", "done")
        third = store.start_answer(cid, model="c", replaces=second)

        assert [m.id for m in store.messages(cid)] == [question, third]
        everything = store.messages(cid, current_only=False)
        assert [(m.content, m.version, m.is_current) for m in everything] == [
            ("Name a colour", 1, True), ("Red", 1, False), ("Blue", 2, False), ("", 3, True)]
        versions = store.answer_versions(first)
        assert [m.id for m in versions] == [first, second, third]
        assert store.answer_versions(third) == versions
        assert store.get_conversation(cid).message_count == 2

    def test_retrying_an_earlier_answer_keeps_its_place(self, store: ConversationStore) -> None:
        cid = store.create_conversation()
        store.add_message(cid, "user", "one")
        early = store.start_answer(cid, model="m")
        store.add_message(cid, "user", "two")

        again = store.start_answer(cid, model="m", replaces=early)

        assert [m.content or m.id for m in store.messages(cid)] == ["one", again, "two"]

    def test_only_answers_in_the_same_conversation_can_be_replaced(
        self, store: ConversationStore
    ) -> None:
        cid, other = store.create_conversation(), store.create_conversation()
        question = store.add_message(cid, "user", "q")
        elsewhere = store.start_answer(other, model="m")

        with pytest.raises(NotFound):
            store.start_answer(cid, model="m", replaces=question)
        with pytest.raises(NotFound):
            store.start_answer(cid, model="m", replaces=elsewhere)
        assert [m.id for m in store.messages(cid)] == [question]

    def test_an_error_row_can_be_retried(self, store: ConversationStore) -> None:
        cid = store.create_conversation()
        store.add_message(cid, "user", "q")
        failure = store.add_message(cid, "error", "503 from the server", status="failed")

        answer = store.start_answer(cid, model="m", replaces=failure)

        assert [m.role for m in store.messages(cid)] == ["user", "assistant"]
        assert [m.id for m in store.answer_versions(answer)] == [failure, answer]


    def test_an_earlier_version_can_be_made_current_again(
        self, store: ConversationStore
    ) -> None:
        cid = store.create_conversation()
        store.add_message(cid, "user", "Name a colour")
        first = store.start_answer(cid, model="m")
        store.finish_answer(first, "Red", "done")
        second = store.start_answer(cid, model="m", replaces=first)
        store.finish_answer(second, "Blue", "done")
        store.add_message(cid, "user", "Why?")
        assert store.version_numbers(cid) == {second: (2, 2)}

        store.set_current_version(first)

        assert [m.content for m in store.messages(cid)] == ["Name a colour", "Red", "Why?"]
        assert store.version_numbers(cid) == {first: (1, 2)}
        assert store.get_conversation(cid).message_count == 3
        assert "Red\n\n_Version 1 of 2" in store.export_markdown(cid)
        third = store.start_answer(cid, model="m", replaces=first)  # a retry from there
        assert store.version_numbers(cid) == {third: (3, 3)}
        with pytest.raises(NotFound):
            store.set_current_version(9999)


class TestConversations:
    """Listing, titles, renaming and deleting."""

    def test_list_is_most_recently_active_first_with_counts(
        self, store: ConversationStore
    ) -> None:
        older = store.create_conversation("older")
        newer = store.create_conversation("newer")
        store.add_message(newer, "user", "a")
        store.add_message(older, "user", "b")
        store.add_message(older, "user", "c")

        listed = store.list_conversations()

        assert [(c.id, c.title, c.message_count) for c in listed] == [
            (older, "older", 2), (newer, "newer", 1)]
        assert store.latest_conversation_id() == older
        assert [c.id for c in store.list_conversations(limit=1)] == [older]

    def test_empty_store_has_no_latest_conversation(self, store: ConversationStore) -> None:
        assert store.latest_conversation_id() is None
        assert store.get_conversation(1) is None
        assert store.list_conversations() == []

    def test_title_is_set_once_from_the_first_line(self, store: ConversationStore) -> None:
        cid = store.create_conversation()
        text = "\n  \x1b[31mExplain\tthe   borrow checker " + "in great detail " * 5 + "\nmore"

        title = store.set_title_if_empty(cid, text)

        assert title == store.get_conversation(cid).title
        assert title.startswith("␛[31mExplain the borrow checker in great")
        assert len(title) == 60
        assert title.endswith("…")
        assert store.set_title_if_empty(cid, "Something else") is None
        assert store.set_title_if_empty(store.create_conversation(), " \n ") is None

    def test_short_title_is_kept_whole(self) -> None:
        assert title_from("What is WAL?") == "What is WAL?"

    def test_rename_makes_the_title_one_safe_line(self, store: ConversationStore) -> None:
        cid = store.create_conversation("draft")

        store.rename(cid, "Plans\nfor \x1b]0;owned\x07 May")

        assert store.get_conversation(cid).title == "Plans for ␛]0;owned� May"
        with pytest.raises(NotFound):
            store.rename(cid + 1, "nobody")

    def test_delete_removes_messages_and_their_search_entries(
        self, store: ConversationStore
    ) -> None:
        doomed, kept = store.create_conversation("doomed"), store.create_conversation("kept")
        store.add_message(doomed, "user", "unique zebra text")
        answer = store.start_answer(doomed, model="m")
        store.start_answer(doomed, model="m", replaces=answer)
        store.add_message(kept, "user", "zebra as well")

        store.delete(doomed)

        assert [c.id for c in store.list_conversations()] == [kept]
        assert store.messages(doomed, current_only=False) == []
        assert [hit.conversation_id for hit in store.search("zebra")] == [kept]
        with raw(store.path) as db:
            assert db.execute("SELECT count(*) FROM messages").fetchone() == (1,)
            db.execute("INSERT INTO message_search (message_search) VALUES ('integrity-check')")
            db.execute("INSERT INTO title_search (title_search) VALUES ('integrity-check')")
        with pytest.raises(NotFound):
            store.delete(doomed)


class TestSearch:
    """Full-text search over current messages and titles; any typed text is a valid query."""

    def test_words_match_anywhere_case_insensitively(self, store: ConversationStore) -> None:
        cid = store.create_conversation("Garden")
        wanted = store.add_message(cid, "user", "How do I prune TOMATO plants in July?")
        store.add_message(cid, "assistant", "Tomatoes like sun.")

        [hit] = store.search("tomato july")

        assert (hit.conversation_id, hit.message_id, hit.title, hit.role) == (
            cid, wanted, "Garden", "user")
        assert [hit.snippet[a:b] for a, b in hit.highlights] == ["TOMATO", "July"]

    def test_title_hits_come_first(self, store: ConversationStore) -> None:
        cid = store.create_conversation("Sourdough starter")
        message = store.add_message(cid, "user", "my sourdough is flat")

        hits = store.search("sourdough")

        assert [(h.message_id, h.role) for h in hits] == [(None, None), (message, "user")]
        assert hits[0].snippet[slice(*hits[0].highlights[0])] == "Sourdough"

    def test_chinese_and_japanese_text_without_spaces(self, store: ConversationStore) -> None:
        cid = store.create_conversation()
        chinese = store.add_message(cid, "user", "今天天气很好，我们去公园散步吧。")
        japanese = store.add_message(cid, "assistant", "東京の天気は晴れです")

        assert [h.message_id for h in store.search("公园散步")] == [chinese]
        assert [h.message_id for h in store.search("天气")] == [chinese]  # two characters
        assert [h.message_id for h in store.search("晴れ")] == [japanese]
        [hit] = store.search("天气很好")
        assert hit.snippet == "今天天气很好，我们去公园散步吧。"
        assert hit.highlights == ((2, 6),)

    def test_previous_versions_are_found_after_the_shown_one(
        self, store: ConversationStore
    ) -> None:
        cid = store.create_conversation()
        old = store.start_answer(cid, model="m")
        store.finish_answer(old, "first draft about walruses", "done")
        new = store.start_answer(cid, model="m", replaces=old)
        store.finish_answer(new, "second draft about walruses", "done")

        assert [h.message_id for h in store.search("walruses")] == [new, old]
        assert [h.message_id for h in store.search("first draft")] == [old]

    def test_partial_answers_are_searchable(self, store: ConversationStore) -> None:
        cid = store.create_conversation()
        answer = store.start_answer(cid, model="m")
        store.save_partial(answer, "an answer about narwhals")

        assert [h.message_id for h in store.search("narwhal")] == [answer]

    def test_a_streaming_answer_is_indexed_once_when_it_ends(
        self, store: ConversationStore
    ) -> None:
        cid = store.create_conversation()
        answer = store.start_answer(cid, model="m")
        for text in ("an answer", "an answer about", "an answer about narwhals"):
            store.save_partial(answer, text)

        assert indexed(store.path, "narwhal") == 0  # partial saves leave the index alone
        assert [h.message_id for h in store.search("narwhal")] == [answer]
        assert [h.message_id for h in store.search("ab")] == [answer]  # short: not the index

        store.finish_answer(answer, "an answer about narwhals and walruses", "cancelled")

        assert indexed(store.path, "narwhal") == 1
        assert [h.message_id for h in store.search("narwhal walrus")] == [answer]
        assert [h.message_id for h in store.search("ab")] == [answer]
        retry = store.start_answer(cid, model="m", replaces=answer)
        store.save_partial(retry, "narwhals again")
        assert [h.message_id for h in store.search("narwhal")] == [retry, answer]
        store.finish_answer(retry, "narwhals, finally", "done")
        store.delete(cid)
        assert store.search("narwhal") == []
        check_index(store.path)

    def test_long_message_snippet_is_cut_around_the_match(
        self, store: ConversationStore
    ) -> None:
        cid = store.create_conversation()
        store.add_message(cid, "user", "filler\n" * 100 + "the needle is here" + " padding" * 100)

        [hit] = store.search("needle")

        assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
        assert "\n" not in hit.snippet
        assert len(hit.snippet) <= 142
        assert hit.snippet[slice(*hit.highlights[0])] == "needle"

    @pytest.mark.parametrize("query", [
        '"', '"unbalanced', "a:b", "(x OR y", "NEAR(a b)", "*", "C++", "-x", "^start",
        "AND", 'foo" OR "bar', "content:evil", "'; DROP TABLE messages; --", "\\", "%_",
        "x AND NOT y", "{content}: z", "🙂 emoji", "a\x00b",
    ])
    def test_punctuation_is_matched_literally(
        self, store: ConversationStore, query: str
    ) -> None:
        cid = store.create_conversation()
        decoy = store.add_message(cid, "user", "nothing to see")
        wanted = store.add_message(cid, "user", f"before {query.replace(chr(0), ' ')} after")

        found = [h.message_id for h in store.search(query)]

        assert wanted in found
        assert decoy not in found

    def test_blank_query_finds_nothing(self, store: ConversationStore) -> None:
        store.add_message(store.create_conversation(), "user", "text")

        assert store.search("   ") == []
        assert store.search("") == []

    def test_limit_caps_the_hits(self, store: ConversationStore) -> None:
        cid = store.create_conversation("echo")
        for _ in range(5):
            store.add_message(cid, "user", "echo echo")

        assert len(store.search("echo", limit=3)) == 3


class TestExport:
    """JSON export holds everything and imports back; Markdown reads like the transcript."""

    def make_conversation(self, store: ConversationStore) -> int:
        cid = store.create_conversation("Trip to Kyoto", model="m1", system="Be concise.")
        store.add_message(cid, "user", "Where should I stay?\n\tNear 京都駅?")
        first = store.start_answer(cid, model="m1")
        store.save_partial(first, "Gion is")
        store.finish_answer(first, "Gion is", "failed", error="503: server error")
        second = store.start_answer(cid, model="m2", replaces=first)
        store.finish_answer(second, "Stay near **Kyoto Station**.", "done", metrics=metrics())
        store.add_message(cid, "user", "Thanks")
        cancelled = store.start_answer(cid, model="m2")
        store.finish_answer(cancelled, "You are", "cancelled")
        return cid

    def test_export_import_export_differs_only_in_ids(self, store: ConversationStore) -> None:
        cid = self.make_conversation(store)

        exported = json.loads(json.dumps(store.export_json(cid)))
        copy = store.import_json(exported)
        again = store.export_json(copy)

        assert copy != cid
        assert set(exported) == {"format", "version", "conversation", "messages"}
        assert len(exported["messages"]) == 5
        for data in (exported, again):
            data["conversation"].pop("id")
            index = {message["id"]: number for number, message in enumerate(data["messages"])}
            for message in data["messages"]:
                message.pop("id")
                # Each message still follows the same one, by its place in the export.
                message["parent_id"] = index.get(message["parent_id"])
        assert again == exported
        assert [m["parent_id"] for m in exported["messages"]] == [None, 0, 0, 2, 3]
        assert [m.content for m in store.messages(copy)] == [
            m.content for m in store.messages(cid)]

    def test_export_has_every_field_of_every_version(self, store: ConversationStore) -> None:
        cid = self.make_conversation(store)

        exported = store.export_json(cid)

        assert exported["conversation"]["system"] == "Be concise."
        failed = exported["messages"][1]
        assert (failed["status"], failed["error"], failed["is_current"], failed["version"]) == (
            "failed", "503: server error", False, 1)
        answer = exported["messages"][2]
        assert (answer["ttft"], answer["completion_tokens"], answer["tokens_estimated"]) == (
            0.5, 42, False)
        assert set(answer) == {
            "id", "position", "version", "is_current", "role", "content", "status", "model",
            "created_at", "updated_at", "ttft", "total_time", "prompt_tokens",
            "completion_tokens", "tokens_estimated", "error", "reasoning", "thinking_time",
            "reasoning_tokens", "parent_id", "chosen", "finish_reason"}

    def test_import_makes_text_safe_and_ends_streams(self, store: ConversationStore) -> None:
        exported = store.export_json(self.make_conversation(store))
        exported["conversation"]["title"] = "Evil\x1b]52;c;AAAA\x07"
        exported["messages"][-1]["status"] = "streaming"
        exported["messages"][-1]["content"] = "\x1b[2Jwiped"

        copy = store.import_json(exported)

        assert store.get_conversation(copy).title == "Evil␛]52;c;AAAA�"
        last = store.messages(copy)[-1]
        assert (last.status, last.content) == ("interrupted", "␛[2Jwiped")
        assert store.mark_interrupted() == 0

    @pytest.mark.parametrize(("change", "complaint"), [
        (lambda d: d.update(format="something-else"), "not a tui-chat"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.pop("messages"), "messages"),
        (lambda d: d["conversation"].update(title=None), "title"),
        (lambda d: d["messages"][0].pop("role"), "role"),
        (lambda d: d["messages"][0].update(role="robot"), "role"),
        (lambda d: d["messages"][0].update(position=True), "position"),
        (lambda d: d["messages"][0].update(created_at="yesterday"), "ISO 8601"),
        (lambda d: d["messages"][1].update(is_current=True), "inconsistent"),
    ])
    def test_bad_imports_are_refused_and_write_nothing(
        self, store: ConversationStore, change, complaint: str
    ) -> None:
        exported = store.export_json(self.make_conversation(store))
        change(exported)

        with pytest.raises(BadExport, match=complaint):
            store.import_json(exported)

        assert len(store.list_conversations()) == 1

    def test_markdown_shows_current_answers_and_how_they_ended(
        self, store: ConversationStore
    ) -> None:
        text = store.export_markdown(self.make_conversation(store))

        assert text.startswith("# Trip to Kyoto\n")
        assert "## System\n\nBe concise.\n" in text
        assert "## User\n\nWhere should I stay?\n\tNear 京都駅?\n" in text
        assert "## Assistant (m2)\n\nStay near **Kyoto Station**.\n" in text
        assert "_Cancelled._" in text
        assert "Gion is" not in text  # the failed first version was replaced

    def test_unknown_conversation_cannot_be_exported(self, store: ConversationStore) -> None:
        with pytest.raises(NotFound):
            store.export_json(9)
        with pytest.raises(NotFound):
            store.export_markdown(9)


class TestSharing:
    """Two connections to one file: readers are not blocked by a writer (WAL)."""

    def test_second_store_reads_while_another_connection_writes(self, tmp_path: Path) -> None:
        path = tmp_path / "chat.db"
        with ConversationStore(path) as first:
            cid = first.create_conversation("shared")
            first.add_message(cid, "user", "committed")
            writer = raw(path)
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE messages SET content = 'uncommitted'")
            try:
                with ConversationStore(path) as second:
                    assert [m.content for m in second.messages(cid)] == ["committed"]
                    writer.execute("COMMIT")
                    assert [m.content for m in second.messages(cid)] == ["uncommitted"]
                    second.add_message(cid, "assistant", "from the second")
                    assert [m.content for m in first.messages(cid)] == [
                        "uncommitted", "from the second"]
            finally:
                writer.close()

    def test_a_write_locked_too_long_is_a_store_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(store_database, "BUSY_TIMEOUT", 0.05)
        path = tmp_path / "chat.db"
        with ConversationStore(path) as opened:
            writer = raw(path)
            writer.execute("BEGIN IMMEDIATE")
            try:
                with pytest.raises(StoreError, match="locked"):
                    opened.create_conversation()
            finally:
                writer.close()
            assert opened.create_conversation() > 0  # usable again once the lock is gone


CHILD = """
import sys, time
from pathlib import Path
from tui_chat.store import ConversationStore

store = ConversationStore(Path(sys.argv[1]))
cid = store.create_conversation()
store.add_message(cid, "user", "Tell me a story")
answer = store.start_answer(cid, model="m")
text = ""
for piece in ("Once ", "upon ", "a time"):
    text += piece
    store.save_partial(answer, text)
print(answer, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_answer_of_a_killed_process_is_found_and_marked_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], 30)
        assert ready, "the child did not start streaming"
        line = child.stdout.readline()
        assert line.strip().isdigit(), child.stderr.read()
        answer = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert Path(f"{path}-wal").exists()  # the answer lives in the log the child never folded back

    with ConversationStore(path) as reopened:
        [left] = [m for m in reopened.messages(1) if m.id == answer]
        assert (left.status, left.content) == ("streaming", "Once upon a time")

        assert reopened.mark_interrupted() == 1

        assert reopened.messages(1)[-1].status == "interrupted"
        assert reopened.messages(1)[-1].content == "Once upon a time"
