"""Command line: parse flags, build Settings, set up logging, run the app."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tui_chat import __version__
from tui_chat.ask_command import add_ask_parser, ask_command
from tui_chat.command_line import (
    APP_ONLY_FLAGS,
    BROKEN_PIPE_STATUS,
    add_shared_options,
    fail,
    open_store,
    relay_provider,
    settings_for_relay,
    settings_from_args,
    setup_logging,
    silence,
    subcommand_options,
)
from tui_chat.config import ConfigError, Settings
from tui_chat.history_cli import add_history_parsers, run_history_command
from tui_chat.pacing import PACING
from tui_chat.relay.server import add_serve_parser, serve_command
from tui_chat.web import add_web_parser, web_command

if TYPE_CHECKING:
    from tui_chat.local import Engine
    from tui_chat.store import ConversationStore

# The names other modules and tests used when these lived here.
__all__ = ["build_parser", "main", "open_store", "run_app", "settings_from_args",
           "setup_logging"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-chat",
        description="A terminal chat client for OpenAI-compatible LLM endpoints. The shared "
                    "options work before or after a command.",
    )
    parser.add_argument("--version", action="version", version=f"tui-chat {__version__}")
    add_shared_options(parser)
    app = parser.add_argument_group("app options (without a command)")
    app.add_argument("--full-redraw", action="store_true",
                     help="send the terminal whole rows instead of only the cells that "
                          "changed (try it if the screen shows garbage)")
    start = app.add_mutually_exclusive_group()
    start.add_argument("--continue", "-c", dest="continue_last", action="store_true",
                       help="reopen the last conversation")
    start.add_argument("--conversation", type=int, metavar="ID",
                       help="open the conversation with this id (see `tui-chat list`)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     title="commands (without one, the app starts)")
    add_history_parsers(commands, subcommand_options)
    add_web_parser(commands, subcommand_options)
    add_ask_parser(commands, subcommand_options)
    add_serve_parser(commands, subcommand_options)
    from tui_chat.local.cli import add_local_parser

    add_local_parser(commands)
    return parser


def run_app(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command is not None:
        for name, flag in APP_ONLY_FLAGS.items():
            if getattr(args, name, None) not in (None, False):
                return fail(f"{flag} is for the app; it does nothing with `{args.command}`")
    try:
        # Every command checks the settings first: a bad --config is one line and status 2,
        # whether or not the command needs a model.
        settings = settings_from_args(args)
    except ConfigError as error:
        return fail(str(error))
    if getattr(args, "serve_command", False):
        return serve_command(args)
    if getattr(args, "ask_command", False):
        return ask_command(args)
    if getattr(args, "web_command", False):
        return web_command(args)
    if getattr(args, "history_command", None):
        return run_history_command(args)
    if getattr(args, "local_command", False):
        from tui_chat.local.cli import local_command

        return local_command(args)
    setup_logging()
    from tui_chat.store import StoreError

    try:
        store = open_store(args.db)
    except StoreError as error:
        return fail(str(error))
    engine = None
    if not args.relay:
        from tui_chat.local import EngineError, prepare

        try:
            # The local model, when it is wanted; started by the app after its first frame.
            settings, engine = prepare(settings, start=False)
        except EngineError as error:
            store.close()
            return fail(str(error))
    try:
        return _run_app(args, settings, store, engine)
    finally:
        if engine is not None:
            engine.stop()


def _run_app(args: argparse.Namespace, settings: Settings, store: ConversationStore,
             engine: Engine | None) -> int:
    from tui_chat.providers import missing_key_message

    with store:
        conversation_id = args.conversation
        if args.continue_last:
            conversation_id = store.latest_conversation_id()
        if conversation_id is not None and store.get_conversation(conversation_id) is None:
            return fail(f"no conversation {conversation_id} (see `tui-chat list`)")
        from tui_chat.app import make_app

        notices = []
        settings = settings_for_relay(args, settings)
        provider = relay_provider(args, settings)
        if engine is not None:
            from tui_chat.local import make_local_provider

            provider = make_local_provider(settings, engine)
        elif provider is None and settings.needs_key and settings.api_key is None:
            notices.append(missing_key_message(settings))
            if not settings.given & {"base_url", "local"}:  # a first start, nothing set
                from tui_chat.local import local_engine_hint

                notices.append(local_engine_hint())
        app = make_app(settings, provider, startup_notices=notices, store=store,
                       conversation_id=conversation_id, engine=engine)
        # Keys are read by Textual's input thread, which needs the GIL to pass each one on; while
        # an answer floods in, the UI thread holds it for the whole switch interval (5 ms).
        sys.setswitchinterval(PACING.switch_interval)
        from tui_chat.flow_control import flow_control_off

        with flow_control_off():  # Ctrl+S / Ctrl+Q reach the app, not the terminal
            app.run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return run_app(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`tui-chat list | head -1`): like any Unix filter,
        # no message, the status SIGPIPE would give.
        silence(sys.stdout)
        return BROKEN_PIPE_STATUS
