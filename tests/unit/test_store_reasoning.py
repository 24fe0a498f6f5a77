"""Reasoning in the store (a real SQLite file): its own field, partial saves, retry versions,
export and import, and a file from before it existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tui_chat.models import Metrics
from tui_chat.store import ConversationStore
from tui_chat.store.migrations import MIGRATIONS, upgrade


def answered(store: ConversationStore, reasoning: str = "Two and two.",
             answer: str = "Four.") -> tuple[int, int]:
    conversation = store.create_conversation(title="sums", model="m")
    store.add_message(conversation, "user", "2+2?")
    message = store.start_answer(conversation, model="m")
    metrics = Metrics(started_at=0.0, first_token_at=1.0, first_answer_at=13.4, ended_at=14.0,
                      estimated_tokens=2000, reasoning_tokens=1830)
    store.finish_answer(message, answer, "done", metrics=metrics, reasoning=reasoning)
    return conversation, message


def test_reasoning_is_stored_apart_from_the_answer_with_its_figures(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "c.db") as store:
        conversation, _ = answered(store)
    with ConversationStore(tmp_path / "c.db") as store:
        row = store.messages(conversation)[-1]
        assert (row.content, row.reasoning) == ("Four.", "Two and two.")
        assert row.thinking_time == 12.4 and row.reasoning_tokens == 1830
        assert row.to_message() is not None and row.to_message().content == "Four."


def test_partial_saves_keep_the_reasoning_while_it_streams(tmp_path: Path) -> None:
    """What a kill -9 leaves: the last partial save, reasoning included."""
    store = ConversationStore(tmp_path / "c.db")
    conversation = store.create_conversation(title="t", model="m")
    message = store.start_answer(conversation, model="m")
    assert store.save_partial(message, "", "Thinking so f")
    assert store.save_partial(message, "An", None)  # reasoning done: left as it was
    store.close()
    reopened = ConversationStore(tmp_path / "c.db")
    assert reopened.mark_interrupted() == 1
    row = reopened.messages(conversation)[-1]
    assert (row.reasoning, row.content, row.status) == ("Thinking so f", "An", "interrupted")


def test_retry_versions_each_keep_their_own_reasoning(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    conversation, first = answered(store, "first thought", "first answer")
    second = store.start_answer(conversation, model="m", replaces=first)
    store.finish_answer(second, "second answer", "done", reasoning="second thought")
    assert [(v.reasoning, v.content) for v in store.answer_versions(second)] == [
        ("first thought", "first answer"), ("second thought", "second answer")]


def test_markdown_export_folds_the_reasoning_into_a_details_block(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    conversation, _ = answered(store)
    text = store.export_markdown(conversation)
    assert ("<details><summary>Thinking</summary>\n\nTwo and two.\n\n</details>\n\nFour."
            in text)


def test_json_export_has_the_field_and_import_round_trips_it(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    conversation, _ = answered(store)
    data = store.export_json(conversation)
    assert data["messages"][-1]["reasoning"] == "Two and two."
    copy = store.import_json(data)
    row = store.messages(copy)[-1]
    assert (row.reasoning, row.content, row.thinking_time) == ("Two and two.", "Four.", 12.4)


def test_an_export_from_before_reasoning_still_imports(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    conversation, _ = answered(store)
    data = store.export_json(conversation)
    for message in data["messages"]:
        for name in ("reasoning", "thinking_time", "reasoning_tokens"):
            del message[name]
    row = store.messages(store.import_json(data))[-1]
    assert (row.content, row.reasoning) == ("Four.", "")


def test_a_file_from_schema_4_gets_the_column_and_keeps_its_answers(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:4]:
        for statement in migration.statements:
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {migration.version}")
    connection.execute("INSERT INTO conversations (title, model, system_prompt, created_at,"
                       " updated_at) VALUES ('t', 'm', '', '2026-01-01T00:00:00+00:00',"
                       " '2026-01-01T00:00:00+00:00')")
    connection.execute("INSERT INTO messages (conversation_id, position, version, role,"
                       " content, status, model, created_at, updated_at) VALUES (1, 0, 1,"
                       " 'assistant', 'old', 'done', 'm', '2026-01-01T00:00:00+00:00',"
                       " '2026-01-01T00:00:00+00:00')")
    assert upgrade(connection)[0] == 5  # then any later steps
    connection.close()
    with ConversationStore(path) as store:
        row = store.messages(1)[-1]
        assert (row.content, row.reasoning) == ("old", "")
