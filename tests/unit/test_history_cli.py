"""The list / export / import subcommands against a real database file and text streams."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
from itertools import count
from pathlib import Path

import pytest

from tui_chat.history_cli import (
    add_history_parsers,
    export_command,
    import_command,
    list_command,
    run_history_command,
)
from tui_chat.models import Metrics
from tui_chat.store import ConversationStore

START = 1_767_225_600  # 2026-01-01 00:00 UTC


def clock():
    minutes = count(START, 60)
    return lambda: float(next(minutes))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "chat.db"


@pytest.fixture
def store(db: Path):
    with ConversationStore(db, clock=clock()) as opened:
        yield opened


def fill(store: ConversationStore) -> tuple[int, int]:
    """A conversation with a retried answer, CJK text and figures; and an untitled one."""
    chat = store.create_conversation("Trip to 北京", model="m1", system="Be brief.")
    store.add_message(chat, "user", "我们明天去北京看长城吗？\n\n```py\nprint('x')\n```")
    first = store.start_answer(chat, model="m1")
    store.finish_answer(first, "Maybe.", "cancelled")
    second = store.start_answer(chat, model="m1", replaces=first)
    store.finish_answer(second, "Yes — take the 8:00 train.", "done",
                        metrics=Metrics(started_at=1.0, first_token_at=1.25, ended_at=3.0,
                                        completion_tokens=9, prompt_tokens=20))
    empty = store.create_conversation()
    return chat, empty


class Streams:
    def __init__(self) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def assert_one_error_line(err: io.StringIO, *words: str) -> None:
    lines = err.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("tui-chat: ")
    for word in words:
        assert word in lines[0]


def without_ids(export: dict) -> dict:
    copy = json.loads(json.dumps(export))
    del copy["conversation"]["id"]
    index = {message["id"]: number for number, message in enumerate(copy["messages"])}
    for message in copy["messages"]:
        del message["id"]
        message["parent_id"] = index.get(message["parent_id"])  # by place, not by id
    return copy


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tui-chat")
    add_history_parsers(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


class TestList:
    def test_a_table_newest_first_in_local_time(self, store) -> None:
        chat, empty = fill(store)
        streams = Streams()
        assert list_command(store, streams.out, err=streams.err) == 0
        lines = streams.out.getvalue().splitlines()
        assert lines[0].split() == ["ID", "UPDATED", "MESSAGES", "TITLE"]
        # The untitled one was created after the last message, so it is the newest.
        summaries = {s.id: s for s in store.list_conversations()}
        for line, cid, messages, title in (
            (lines[1], empty, "0", "(untitled)"), (lines[2], chat, "2", "Trip to 北京"),
        ):
            local = summaries[cid].updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
            assert line.split(maxsplit=4) == [str(cid), *local.split(), messages, title]
        assert len(lines) == 3
        assert streams.err.getvalue() == ""

    def test_the_columns_line_up(self, store) -> None:
        for n in range(12):
            store.create_conversation(f"chat {n}")
        streams = Streams()
        list_command(store, streams.out)
        lines = streams.out.getvalue().splitlines()
        assert len({line.index("chat") for line in lines[1:]}) == 1
        assert lines[0].index("TITLE") == lines[1].index("chat")

    def test_an_empty_database_says_so(self, store) -> None:
        streams = Streams()
        assert list_command(store, streams.out) == 0
        assert streams.out.getvalue() == "No conversations yet.\n"


class TestExport:
    def test_markdown_to_standard_output(self, store) -> None:
        chat, _ = fill(store)
        streams = Streams()
        assert export_command(store, chat, "md", None, streams.out, err=streams.err) == 0
        text = streams.out.getvalue()
        assert text == store.export_markdown(chat)
        assert "我们明天去北京看长城吗？" in text and "Maybe." not in text

    def test_json_to_standard_output(self, store) -> None:
        chat, _ = fill(store)
        streams = Streams()
        assert export_command(store, chat, "json", None, streams.out) == 0
        assert json.loads(streams.out.getvalue()) == store.export_json(chat)

    @pytest.mark.parametrize("fmt", ["md", "json"])
    def test_a_file_is_written_owner_only(self, store, tmp_path: Path, fmt) -> None:
        chat, _ = fill(store)
        target = tmp_path / f"export.{fmt}"
        streams = Streams()
        assert export_command(store, chat, fmt, target, streams.out, err=streams.err) == 0
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
        assert streams.out.getvalue() == ""
        written = target.read_text(encoding="utf-8")
        if fmt == "md":
            assert written == store.export_markdown(chat)
        else:
            assert json.loads(written) == store.export_json(chat)

    def test_an_existing_file_is_replaced_and_made_private(self, store, tmp_path: Path) -> None:
        chat, _ = fill(store)
        target = tmp_path / "old.md"
        target.write_text("x" * 100_000)
        os.chmod(target, 0o644)
        assert export_command(store, chat, "md", target, io.StringIO()) == 0
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
        assert target.read_text(encoding="utf-8") == store.export_markdown(chat)

    def test_control_characters_do_not_reach_a_terminal(self, store) -> None:
        chat = store.create_conversation("t")
        store.add_message(chat, "assistant", "before \x1b]52;c;ZXZpbA==\x07 after")
        terminal, pipe = Terminal(), io.StringIO()
        export_command(store, chat, "md", None, terminal)
        export_command(store, chat, "md", None, pipe)
        assert "\x1b" not in terminal.getvalue() and "\x07" not in terminal.getvalue()
        assert "before ␛]52;c;ZXZpbA==" in terminal.getvalue()
        assert "\x1b]52;" in pipe.getvalue()  # a pipe or file gets the text as stored

    def test_an_unknown_id_is_one_line_on_stderr(self, store) -> None:
        fill(store)
        streams = Streams()
        assert export_command(store, 999, "md", None, streams.out, err=streams.err) == 2
        assert_one_error_line(streams.err, "999")
        assert streams.out.getvalue() == ""

    def test_an_unwritable_file_is_one_line_on_stderr(self, store, tmp_path: Path) -> None:
        chat, _ = fill(store)
        streams = Streams()
        target = tmp_path / "missing" / "out.md"
        assert export_command(store, chat, "md", target, streams.out, err=streams.err) == 2
        assert_one_error_line(streams.err, str(target))
        assert not target.exists()


class TestImport:
    def test_json_round_trips_exactly(self, store, tmp_path: Path) -> None:
        chat, _ = fill(store)
        target = tmp_path / "chat.json"
        export_command(store, chat, "json", target, io.StringIO())
        streams = Streams()
        assert import_command(store, target, streams.out, err=streams.err) == 0
        new_id = int(streams.out.getvalue())
        assert new_id != chat
        assert without_ids(store.export_json(new_id)) == without_ids(store.export_json(chat))
        assert store.export_markdown(new_id) == store.export_markdown(chat)
        assert len(store.messages(new_id, current_only=False)) == 3

    def test_into_another_database(self, store, tmp_path: Path) -> None:
        chat, _ = fill(store)
        target = tmp_path / "chat.json"
        export_command(store, chat, "json", target, io.StringIO())
        with ConversationStore(tmp_path / "other.db") as other:
            out = io.StringIO()
            assert import_command(other, target, out) == 0
            new_id = int(out.getvalue())
            assert [s.id for s in other.list_conversations()] == [new_id]
            assert without_ids(other.export_json(new_id)) == without_ids(store.export_json(chat))

    @pytest.mark.parametrize(
        ("content", "word"),
        [
            (b"{not json", "not a JSON file"),
            (b"\xff\xfe\x00", "not a JSON file"),
            (b'{"format": "something else"}', "not a tui-chat conversation export"),
            (b'{"format": "tui-chat.conversation", "version": 99}', "version 99"),
            (b"[" * 100_000, "not a JSON file"),
        ],
    )
    def test_a_bad_file_is_one_line_on_stderr(self, store, tmp_path, content, word) -> None:
        target = tmp_path / "bad.json"
        target.write_bytes(content)
        streams = Streams()
        assert import_command(store, target, streams.out, err=streams.err) == 2
        assert_one_error_line(streams.err, word)
        assert streams.out.getvalue() == ""
        assert store.list_conversations() == []

    def test_a_missing_file_is_one_line_on_stderr(self, store, tmp_path: Path) -> None:
        streams = Streams()
        assert import_command(store, tmp_path / "nope.json", streams.out, err=streams.err) == 2
        assert_one_error_line(streams.err, "nope.json")


class TestParsers:
    """The subcommands parse as documented and run against the `--db` file."""

    def test_export_then_import_through_the_parsers(self, db: Path, store, tmp_path) -> None:
        fill_ids = fill(store)
        chat = fill_ids[0]
        target = tmp_path / "x.json"
        args = parse("export", str(chat), "--format", "json", "-o", str(target), "--db", str(db))
        assert (args.history_command, args.conversation_id, args.fmt) == ("export", chat, "json")
        assert run_history_command(args, out=io.StringIO(), err=io.StringIO()) == 0
        out = io.StringIO()
        assert run_history_command(parse("import", str(target), "--db", str(db)), out=out) == 0
        new_id = int(out.getvalue())
        listing = io.StringIO()
        assert run_history_command(parse("list", "--db", str(db)), out=listing) == 0
        listed = [int(line.split()[0]) for line in listing.getvalue().splitlines()[1:]]
        assert sorted(listed) == sorted([*fill_ids, new_id])
        # The import keeps the export's times, so it sorts where the original did.
        assert listed == [s.id for s in store.list_conversations()]

    def test_the_default_format_is_markdown(self, db: Path, store) -> None:
        chat, _ = fill(store)
        out = io.StringIO()
        assert run_history_command(parse("export", str(chat), "--db", str(db)), out=out) == 0
        assert out.getvalue() == store.export_markdown(chat)

    def test_an_unknown_format_is_refused(self, capsys) -> None:
        with pytest.raises(SystemExit) as exit_info:
            parse("export", "1", "--format", "xml")
        assert exit_info.value.code == 2
        assert "invalid choice" in capsys.readouterr().err

    def test_a_file_that_is_not_a_database_is_one_line_on_stderr(self, tmp_path: Path) -> None:
        bogus = tmp_path / "bogus.db"
        bogus.write_bytes(b"this is not sqlite" * 100)
        streams = Streams()
        code = run_history_command(parse("list", "--db", str(bogus)), out=streams.out,
                                   err=streams.err)
        assert code == 2
        assert_one_error_line(streams.err, "bogus.db")

    def test_without_db_the_platform_data_dir_is_used(self, tmp_path: Path) -> None:
        # The autouse fixture points XDG_DATA_HOME into tmp_path.
        out = io.StringIO()
        assert run_history_command(parse("list"), out=out) == 0
        assert out.getvalue() == "No conversations yet.\n"
        assert (tmp_path / "xdg" / "data" / "tui-chat" / "conversations.db").exists()

