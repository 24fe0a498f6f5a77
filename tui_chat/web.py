"""`tui-chat web`: serve the same app to a browser on 127.0.0.1 with textual-serve."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any

from tui_chat.command_line import RELAY_TOKEN_ENV, relay_token, shared_argv

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_web_parser(subparsers: Any, add_settings_arguments: Any) -> None:
    web = subparsers.add_parser(
        "web", help="serve the app to a browser (needs the 'web' extra)",
        description="Serve tui-chat to a web browser. Each browser tab runs its own app, with "
                    "this machine's settings and keys, so it only listens on 127.0.0.1.",
    )
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback only)")
    web.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_settings_arguments(web)
    web.set_defaults(web_command=True)


def app_command(args: argparse.Namespace) -> str:
    """The command each browser session runs: this app, with the same shared options."""
    return shlex.join([sys.executable, "-m", "tui_chat", *shared_argv(args)])


def web_command(args: argparse.Namespace) -> int:
    if args.host not in _LOOPBACK:
        # textual-serve has no authentication and every session carries the API key.
        print("tui-chat: `web` listens on loopback only (127.0.0.1); put an authenticating "
              "reverse proxy in front of it to share it", file=sys.stderr)
        return 2
    try:
        from textual_serve.server import Server
    except ImportError:
        print("tui-chat: `web` needs textual-serve: pip install 'tui-chat[web]'", file=sys.stderr)
        return 2
    if token := relay_token(args):
        # Each session is a child of this process: the token reaches it by the environment,
        # not on a command line that `ps` shows.
        os.environ[RELAY_TOKEN_ENV] = token
    server = Server(app_command(args), host=args.host, port=args.port, title="tui-chat")
    server.serve()
    return 0
