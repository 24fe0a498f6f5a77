"""Command line: parse flags, build Settings, set up logging, run the app."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_chat import __version__
from tui_chat.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from tui_chat.store import ConversationStore

SETTINGS_FLAGS = ("base_url", "model", "system", "temperature", "max_tokens", "theme",
                  "api_key_env", "profile")


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every command that talks to a model shares."""
    parser.add_argument("--config", type=Path, metavar="PATH",
                        help="config file (default: the platform config dir's config.toml)")
    parser.add_argument("--base-url", metavar="URL",
                        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
    parser.add_argument("--model", "-m", metavar="NAME", help="model id")
    parser.add_argument("--system", metavar="TEXT", help="system prompt")
    parser.add_argument("--temperature", type=float, metavar="T", help="sampling temperature")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="cap on answer length")
    parser.add_argument("--theme", metavar="NAME", help="colour theme")
    parser.add_argument("--api-key-env", metavar="VAR",
                        help="environment variable that holds the API key "
                             "(default OPENAI_API_KEY)")
    parser.add_argument("--profile", metavar="NAME",
                        help="endpoint profile from the config file's [profiles.NAME]")
    parser.add_argument("--no-stream", action="store_true",
                        help="one non-streaming request per answer")


def settings_from_args(args: argparse.Namespace,
                       environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    from tui_chat import locations

    env = os.environ if environ is None else environ
    flags: dict[str, Any] = {name: getattr(args, name, None) for name in SETTINGS_FLAGS}
    if getattr(args, "no_stream", False):
        flags["stream"] = False
    if getattr(args, "full_redraw", False):
        flags["full_redraw"] = True
    explicit = getattr(args, "config", None)
    path = explicit or locations.config_file()
    return load_settings(path, env, path_is_explicit=explicit is not None, **flags)


def setup_logging() -> Path | None:
    """Log to a file in the platform log dir; never to the screen."""
    from tui_chat import locations

    try:
        directory = locations.ensure_private_dir(locations.log_dir())
        path = directory / "tui-chat.log"
        handler = logging.FileHandler(path, encoding="utf-8")
        os.chmod(path, 0o600)
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # The HTTP stack logs request URLs and headers at debug level; keep it quiet.
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, metavar="PATH",
                        help="conversation database (default: the platform data dir)")


def open_store(path: Path | None) -> ConversationStore:
    """Open the conversation database; answers left streaming by a killed app get marked."""
    from tui_chat import locations
    from tui_chat.store import ConversationStore

    store = ConversationStore(path or locations.database_file())
    store.mark_interrupted()
    return store


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-chat",
        description="A terminal chat client for OpenAI-compatible LLM endpoints.",
    )
    parser.add_argument("--version", action="version", version=f"tui-chat {__version__}")
    add_settings_arguments(parser)
    add_db_argument(parser)
    parser.add_argument("--relay", metavar="URL",
                        help="stream from a tui-chat relay (tui-chat serve) instead of the "
                             "endpoint, e.g. http://127.0.0.1:3000")
    parser.add_argument("--relay-token", metavar="TOKEN",
                        help="bearer token for the relay (or TUI_CHAT_RELAY_TOKEN)")
    parser.add_argument("--full-redraw", action="store_true",
                        help="send the terminal whole rows instead of only the cells that "
                             "changed (try it if the screen shows garbage)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--continue", "-c", dest="continue_last", action="store_true",
                       help="reopen the last conversation")
    start.add_argument("--conversation", type=int, metavar="ID",
                       help="open the conversation with this id (see `tui-chat list`)")
    from tui_chat.history_cli import add_history_parsers

    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     title="commands (without one, the app starts)")
    add_history_parsers(commands)
    from tui_chat.web import add_web_parser

    add_web_parser(commands, add_settings_arguments)
    from tui_chat.pipe_mode import add_ask_parser

    add_ask_parser(commands, add_settings_arguments, add_db_argument)
    from tui_chat.relay.server import add_serve_parser

    add_serve_parser(commands, add_settings_arguments)
    return parser


def fail(message: str, code: int = 2) -> int:
    print(f"tui-chat: {message}", file=sys.stderr)
    return code


def run_app(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "serve_command", False):
        from tui_chat.relay.server import serve_command

        return serve_command(args)
    if getattr(args, "ask_command", False):
        from tui_chat.pipe_mode import ask_command

        return ask_command(args)
    if getattr(args, "web_command", False):
        from tui_chat.web import web_command

        return web_command(args)
    if getattr(args, "history_command", None):
        from tui_chat.history_cli import run_history_command

        return run_history_command(args)
    try:
        settings = settings_from_args(args)
    except ConfigError as error:
        return fail(str(error))
    setup_logging()
    from tui_chat.providers import missing_key_message
    from tui_chat.store import StoreError

    try:
        store = open_store(args.db)
    except StoreError as error:
        return fail(str(error))
    with store:
        conversation_id = args.conversation
        if args.continue_last:
            conversation_id = store.latest_conversation_id()
        if conversation_id is not None and store.get_conversation(conversation_id) is None:
            return fail(f"no conversation {conversation_id} (see `tui-chat list`)")
        from tui_chat.app import make_app

        notices = []
        provider = None
        if args.relay:
            from tui_chat.providers import make_relay_provider

            token = args.relay_token or os.environ.get("TUI_CHAT_RELAY_TOKEN") or None
            provider = make_relay_provider(args.relay, settings, token=token)
        elif settings.needs_key and settings.api_key is None:
            notices.append(missing_key_message(settings))
        app = make_app(settings, provider, startup_notices=notices, store=store,
                       conversation_id=conversation_id)
        # Keys are read by Textual's input thread, which needs the GIL to pass each one on; while
        # an answer floods in, the UI thread holds it for the whole switch interval (5 ms).
        sys.setswitchinterval(0.001)
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
