"""`tui-chat web`: serve the same app to a browser on this machine.

The server (`tui_chat.web.server`) needs the `web` extra (textual-serve's browser client); this
module only parses flags, so `tui-chat --help` works without it.
"""

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
        "web", help="serve the app to a browser on this machine (needs the 'web' extra)",
        description="Serve tui-chat to a web browser on this machine. Each browser tab runs its "
                    "own app, with this machine's settings and keys, so it listens on loopback "
                    "only and opens only from the address it prints (it carries a key made "
                    "for this run).",
    )
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback only)")
    web.add_argument("--port", type=int, default=8000,
                     help="port (default 8000; 0 picks a free one)")
    add_settings_arguments(web)
    web.set_defaults(web_command=True)


def app_argv(args: argparse.Namespace) -> list[str]:
    """The command each browser tab runs: this app, with the same flags, in a child that ends
    when the server ends."""
    return [sys.executable, "-m", "tui_chat.web.child", *shared_argv(args)]


def app_command(args: argparse.Namespace) -> str:
    """`app_argv` as one shell-quoted line, to show or log."""
    return shlex.join(app_argv(args))


def web_command(args: argparse.Namespace) -> int:
    if args.host not in _LOOPBACK:
        # Every session carries the API key: keep it on this machine.
        print("tui-chat: `web` listens on loopback only (127.0.0.1); put an authenticating "
              "reverse proxy in front of it to share it", file=sys.stderr)
        return 2
    try:
        from tui_chat.web.server import serve
    except ImportError:
        print("tui-chat: `web` needs textual-serve: pip install 'tui-chat[web]'", file=sys.stderr)
        return 2
    if token := relay_token(args):
        # Each session is a child of this process: the token reaches it by the environment,
        # not on a command line that `ps` shows.
        os.environ[RELAY_TOKEN_ENV] = token
    return serve(app_argv(args), args.host, args.port)
