"""The history subcommands: `list`, `export` and `import` of stored conversations."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal, TextIO

from tui_chat.command_line import subcommand_options
from tui_chat.sanitize import sanitize, sanitize_line
from tui_chat.store import BadExport, ConversationStore, NotFound, StoreError

ExportFormat = Literal["md", "json"]

DATE_FORMAT = "%Y-%m-%d %H:%M"
UNTITLED = "(untitled)"
MAX_IMPORT_BYTES = 256 * 1024 * 1024
"""An export larger than this is refused instead of read into memory."""


def add_history_parsers(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    add_options: Callable[[argparse.ArgumentParser], None] = subcommand_options,
) -> None:
    """Add `list`, `export` and `import`; each sets `history_command` for `run_history_command`."""
    listing = subparsers.add_parser(
        "list", help="print the stored conversations, newest first",
        description="Print the stored conversations, newest first.",
    )
    add_options(listing)
    listing.set_defaults(history_command="list")

    export = subparsers.add_parser(
        "export", help="write a conversation as Markdown or JSON",
        description="Write a conversation as Markdown (to read) or JSON (to import again).",
    )
    export.add_argument("conversation_id", type=int, metavar="ID",
                        help="the conversation's id, as `tui-chat list` shows it")
    export.add_argument("--format", "-f", choices=("md", "json"), default="md", dest="fmt",
                        help="md (default) or json")
    export.add_argument("--output", "-o", type=Path, metavar="FILE",
                        help="file to write (created owner-only); default: standard output")
    add_options(export)
    export.set_defaults(history_command="export")

    importing = subparsers.add_parser(
        "import", help="add a conversation from a JSON export",
        description="Add a conversation from a file written by `tui-chat export --format json`.",
    )
    importing.add_argument("path", type=Path, metavar="FILE", help="the JSON export")
    add_options(importing)
    importing.set_defaults(history_command="import")


def run_history_command(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Open the database named by `--db` (or the default one) and run the chosen subcommand."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    path: Path | None = getattr(args, "db", None)
    if path is None:
        from tui_chat import locations

        path = locations.database_file()
    try:
        store = ConversationStore(path)
    except StoreError as error:
        return _fail(str(error), err)
    with store:
        match args.history_command:
            case "list":
                return list_command(store, out, err=err)
            case "export":
                return export_command(store, args.conversation_id, args.fmt, args.output, out,
                                      err=err)
            case "import":
                return import_command(store, args.path, out, err=err)
            case other:
                raise ValueError(f"unknown history command {other!r}")


def list_command(store: ConversationStore, out: TextIO, *, err: TextIO | None = None) -> int:
    """Print a table of conversations (id, last update in local time, messages, title)."""
    try:
        conversations = store.list_conversations(limit=-1)
    except StoreError as error:
        return _fail(str(error), err)
    if not conversations:
        print("No conversations yet.", file=out)
        return 0
    rows = [
        (str(c.id), _local(c.updated_at), str(c.message_count),
         " ".join(sanitize_line(c.title).split()) or UNTITLED)
        for c in conversations
    ]
    header = ("ID", "UPDATED", "MESSAGES", "TITLE")
    id_width = max(len(header[0]), *(len(row[0]) for row in rows))
    count_width = len(header[2])
    for cid, updated, messages, title in (header, *rows):
        print(f"{cid:>{id_width}}  {updated:<16}  {messages:>{count_width}}  {title}", file=out)
    return 0


def export_command(
    store: ConversationStore,
    conversation_id: int,
    fmt: ExportFormat,
    output: Path | None,
    out: TextIO,
    *,
    err: TextIO | None = None,
) -> int:
    """Write one conversation as Markdown or JSON to `output` (made owner-only) or to `out`."""
    try:
        if fmt == "json":
            text = json.dumps(store.export_json(conversation_id), ensure_ascii=False, indent=2)
            text += "\n"
        elif fmt == "md":
            text = store.export_markdown(conversation_id)
        else:
            return _fail(f"unknown export format {fmt!r}; use md or json", err)
    except NotFound:
        return _fail(f"no conversation with id {conversation_id} (see `tui-chat list`)", err)
    except StoreError as error:
        return _fail(str(error), err)
    if output is None:
        # JSON escapes control characters itself; Markdown is raw text, so a terminal is
        # protected from anything that slipped into the database.
        if fmt == "md" and out.isatty():
            text = sanitize(text)
        try:
            out.write(text)
            out.flush()
        except BrokenPipeError:
            raise  # the reader left: quiet, as for every command (cli.main)
        except (OSError, UnicodeError) as error:
            return _fail(f"cannot write the export: {error}", err)
        return 0
    try:
        _write_private(output, text)
    except OSError as error:
        return _fail(f"cannot write {output}: {error.strerror or error}", err)
    return 0


def import_command(
    store: ConversationStore, path: Path, out: TextIO, *, err: TextIO | None = None
) -> int:
    """Add the conversation in a JSON export file and print its new id."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_IMPORT_BYTES + 1)
    except OSError as error:
        return _fail(f"cannot read {path}: {error.strerror or error}", err)
    if len(raw) > MAX_IMPORT_BYTES:
        return _fail(f"{path} is larger than {MAX_IMPORT_BYTES // 2**20} MiB", err)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        return _fail(f"{path} is not a JSON file: {_one_line(error)}", err)
    try:
        new_id = store.import_json(data)
    except BadExport as error:
        return _fail(f"{path}: {error}", err)
    except StoreError as error:
        return _fail(str(error), err)
    print(new_id, file=out)
    return 0


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by the owner only, replacing any earlier file."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
        # An existing file keeps its mode on open, and an export holds private chats, so it
        # is tightened; not a device or pipe such as /dev/stdout, which is not ours to change.
        if stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.fchmod(descriptor, 0o600)
        file.write(text)


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime(DATE_FORMAT)


def _one_line(error: Exception) -> str:
    return sanitize_line(str(error))


def _fail(message: str, err: TextIO | None) -> int:
    print(f"tui-chat: {sanitize_line(message)}", file=sys.stderr if err is None else err)
    return 2
