"""AnswerRecorder on a real SQLite file: the running answer's row, its growing text, its end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_chat.models import Metrics
from tui_chat.store import ConversationStore, NotFound, StoreError
from tui_chat.store.recorder import AnswerRecorder


@pytest.fixture
def store(tmp_path: Path):
    with ConversationStore(tmp_path / "chat.db") as opened:
        yield opened


def test_begin_stores_an_empty_streaming_answer(store: ConversationStore) -> None:
    conversation = store.create_conversation(model="m")
    store.add_message(conversation, "user", "hi")
    recorder = AnswerRecorder.begin(store, conversation, model="m")
    assert recorder.message_id is not None
    answer = store.messages(conversation)[-1]
    assert (answer.id, answer.role, answer.content, answer.status) == (
        recorder.message_id, "assistant", "", "streaming")


def test_partial_saves_write_only_when_the_text_grew(store: ConversationStore) -> None:
    conversation = store.create_conversation(model="m")
    recorder = AnswerRecorder.begin(store, conversation, model="m")
    parts = ["Hel", "lo"]
    assert recorder.save_partial(parts) is True
    assert store.messages(conversation)[-1].content == "Hello"
    assert recorder.save_partial(parts) is False  # nothing new: no write
    parts.append(", world")
    assert recorder.save_partial(parts) is True
    answer = store.messages(conversation)[-1]
    assert (answer.content, answer.status) == ("Hello, world", "streaming")


def test_a_reopened_file_has_the_last_partial_save(tmp_path: Path) -> None:
    """What a crash leaves: the text of the last save, still marked streaming."""
    path = tmp_path / "chat.db"
    store = ConversationStore(path)
    conversation = store.create_conversation(model="m")
    recorder = AnswerRecorder.begin(store, conversation, model="m")
    recorder.save_partial(["half an ", "answer"])
    store.close()
    with ConversationStore(path) as reopened:
        answer = reopened.messages(conversation)[-1]
        assert answer.content == "half an answer"


def test_finish_keeps_text_status_figures_and_error(store: ConversationStore) -> None:
    conversation = store.create_conversation(model="m")
    recorder = AnswerRecorder.begin(store, conversation, model="m")
    recorder.save_partial(["partial"])
    metrics = Metrics(started_at=10.0, first_token_at=10.5, ended_at=12.0,
                      completion_tokens=7)
    recorder.finish("partial text", "interrupted", metrics=metrics, error="stream broke")
    answer = store.messages(conversation)[-1]
    assert (answer.content, answer.status, answer.error) == (
        "partial text", "interrupted", "stream broke")
    assert answer.completion_tokens == 7
    assert answer.ttft == pytest.approx(0.5)
    # Once finished, nothing more is written: a late timer tick cannot reopen it.
    assert recorder.save_partial(["partial text and more"]) is False
    recorder.finish("other", "done")
    answer = store.messages(conversation)[-1]
    assert (answer.content, answer.status) == ("partial text", "interrupted")


@pytest.mark.parametrize("status", ["waiting", "streaming"])
def test_an_answer_ending_unfinished_is_stored_as_failed(store: ConversationStore,
                                                          status: str) -> None:
    conversation = store.create_conversation(model="m")
    recorder = AnswerRecorder.begin(store, conversation, model="m")
    recorder.finish("", status)  # type: ignore[arg-type]
    assert store.messages(conversation)[-1].status == "failed"


def test_a_retry_replaces_the_earlier_answer_and_keeps_it_as_a_version(
        store: ConversationStore) -> None:
    conversation = store.create_conversation(model="m")
    first = AnswerRecorder.begin(store, conversation, model="m")
    first.finish("first", "done")
    assert first.message_id is not None
    second = AnswerRecorder.begin(store, conversation, model="m", replaces=first.message_id)
    second.finish("second", "done")
    assert [m.content for m in store.messages(conversation)] == ["second"]
    assert len(store.answer_versions(first.message_id)) == 2


def test_a_failing_store_is_reported_once_per_call_and_never_raised(
        store: ConversationStore) -> None:
    failures: list[tuple[str, StoreError]] = []
    recorder = AnswerRecorder.begin(store, 999, model="m",
                                    on_failure=lambda what, error: failures.append((what, error)))
    assert recorder.message_id is None
    assert [what for what, _ in failures] == ["start"]
    assert isinstance(failures[0][1], NotFound)
    # Without a row, the later calls write nothing and fail nothing.
    assert recorder.save_partial(["text"]) is False
    recorder.finish("text", "done")
    assert len(failures) == 1


def test_a_save_that_fails_on_disk_reaches_on_failure(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "chat.db")
    conversation = store.create_conversation(model="m")
    failures: list[str] = []
    recorder = AnswerRecorder.begin(store, conversation, model="m",
                                    on_failure=lambda what, _error: failures.append(what))
    store.close()  # the file is gone from under the recorder
    assert recorder.save_partial(["text"]) is False
    recorder.finish("text", "done")
    assert failures == ["save", "finish"]


def test_a_resumed_answer_grows_after_its_earlier_text(store: ConversationStore) -> None:
    conversation = store.create_conversation(model="m")
    first = AnswerRecorder.begin(store, conversation, model="m")
    first.finish("The start", "done", reasoning="Hmm.", finish_reason="length")
    assert store.messages(conversation)[-1].cut_at_max_tokens
    assert first.message_id is not None

    recorder = AnswerRecorder.resume(store, first.message_id, text="The start",
                                     reasoning="Hmm.")

    assert recorder.message_id == first.message_id
    assert store.messages(conversation)[-1].status == "streaming"
    assert recorder.save_partial([" and"], [" More."])
    assert store.messages(conversation)[-1].content == "The start and"
    recorder.finish(" and the end.", "done", reasoning=" More.", finish_reason="stop")
    answer = store.messages(conversation)[-1]
    assert (answer.content, answer.reasoning, answer.status, answer.finish_reason) == (
        "The start and the end.", "Hmm. More.", "done", "stop")
    failures: list[str] = []
    missing = AnswerRecorder.resume(store, 9999, text="x",
                                    on_failure=lambda what, _error: failures.append(what))
    assert (missing.message_id, failures) == (None, ["resume"])
