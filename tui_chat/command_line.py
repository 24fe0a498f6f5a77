"""The command line's shared pieces: the options every command takes, and what they turn into.

`cli.py` (the app and the dispatcher), `ask_command.py` (`ask`), `history_cli.py` (`list`,
`export`, `import`), `relay/server.py` (`serve`) and `web.py` all import this module and none of
them imports another, so the command line has no import cycle.

A shared option means the same before or after the subcommand: `tui-chat --model m ask x` and
`tui-chat ask --model m x` are one command. The top-level parser gives the options their real
defaults; each subcommand's parser declares them again with `argparse.SUPPRESS` as the default,
so a subcommand that was not given an option leaves the value from before it in place (and one
given after the subcommand wins, being parsed last).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tui_chat.config import Settings, load_settings

if TYPE_CHECKING:
    from tui_chat.providers.base import Provider
    from tui_chat.store import ConversationStore

SETTINGS_FLAGS = ("base_url", "model", "system", "temperature", "max_tokens", "theme",
                  "api_key_env", "profile", "local", "local_model")
"""Options that are Settings fields of the same name."""

RELAY_TOKEN_ENV = "TUI_CHAT_RELAY_TOKEN"

APP_ONLY_FLAGS = {"continue_last": "--continue", "conversation": "--conversation",
                  "full_redraw": "--full-redraw"}
"""Top-level options that only the app (no subcommand) uses; given with a subcommand they are
refused rather than ignored."""

SHARED_TITLE = "shared options (the same before or after a command)"


def add_shared_options(parser: argparse.ArgumentParser, *, in_subcommand: bool = False) -> None:
    """Add the options every command shares.

    `in_subcommand`: the parser is a subcommand's, so an option not given there must not
    overwrite one given before the subcommand (default `argparse.SUPPRESS`).
    """
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if in_subcommand else value

    group = parser.add_argument_group(SHARED_TITLE)
    group.add_argument("--config", type=Path, metavar="PATH", default=default(None),
                       help="config file (default: the platform config dir's config.toml)")
    group.add_argument("--base-url", metavar="URL", default=default(None),
                       help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1")
    group.add_argument("--model", "-m", metavar="NAME", default=default(None), help="model id")
    group.add_argument("--system", metavar="TEXT", default=default(None), help="system prompt")
    group.add_argument("--temperature", type=float, metavar="T", default=default(None),
                       help="sampling temperature")
    group.add_argument("--max-tokens", type=int, metavar="N", default=default(None),
                       help="cap on answer length")
    group.add_argument("--theme", metavar="NAME", default=default(None), help="colour theme")
    group.add_argument("--api-key-env", metavar="VAR", default=default(None),
                       help="environment variable that holds the API key "
                            "(default OPENAI_API_KEY)")
    group.add_argument("--profile", metavar="NAME", default=default(None),
                       help="endpoint profile from the config file's [profiles.NAME]")
    group.add_argument("--no-stream", action="store_true", default=default(False),
                       help="one non-streaming request per answer")
    group.add_argument("--local", action="store_true", default=default(None),
                       help="run the embedded local model (needs the `local` extra; the default "
                            "model is fetched once, then nothing touches the network)")
    group.add_argument("--model-file", dest="local_model", metavar="PATH.gguf",
                       default=default(None), help="run this GGUF file with the embedded engine")
    group.add_argument("--db", type=Path, metavar="PATH", default=default(None),
                       help="conversation database (default: the platform data dir)")
    group.add_argument("--relay", metavar="URL", default=default(None),
                       help="stream from a tui-chat relay (tui-chat serve) instead of the "
                            "endpoint, e.g. http://127.0.0.1:3000")
    group.add_argument("--relay-token", metavar="TOKEN", default=default(None),
                       help=f"bearer token for the relay (or {RELAY_TOKEN_ENV})")


def subcommand_options(parser: argparse.ArgumentParser) -> None:
    """`add_shared_options` for a subcommand's parser (what subcommand modules are handed)."""
    add_shared_options(parser, in_subcommand=True)


def shared_argv(args: argparse.Namespace) -> list[str]:
    """The shared options in `args` as command-line words (the relay token is left out: it
    must not show in a process list; pass it in the environment)."""
    words: list[str] = []
    for name in ("config", *SETTINGS_FLAGS, "db", "relay"):
        value = getattr(args, name, None)
        if name == "local":
            words += ["--local"] if value else []
        elif name == "local_model" and value is not None:
            words += ["--model-file", str(value)]
        elif value is not None:
            words += [f"--{name.replace('_', '-')}", str(value)]
    if getattr(args, "no_stream", False):
        words.append("--no-stream")
    return words


def settings_from_args(args: argparse.Namespace,
                       environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    """Defaults < config file < environment < these options. Raises ConfigError."""
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


def relay_token(args: argparse.Namespace) -> str | None:
    return getattr(args, "relay_token", None) or os.environ.get(RELAY_TOKEN_ENV) or None


def relay_provider(args: argparse.Namespace, settings: Settings,
                   max_connections: int | None = None) -> Provider | None:
    """The relay provider when `--relay` was given, else None."""
    url = getattr(args, "relay", None)
    if not url:
        return None
    from tui_chat.providers import make_relay_provider

    return make_relay_provider(url, settings, token=relay_token(args),
                               max_connections=max_connections)


VIA_RELAY = "via relay"
"""The model shown and stored with `--relay` when the relay does not say which it uses."""

RELAY_PROBE_TIMEOUT = 3.0


def relay_health_model(url: str, token: str | None, timeout: float) -> str | None:
    """The model a relay reports on `GET /api/health`, or None (no answer, or it does not say).
    Plain urllib: this runs before any event loop, at start-up."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{url.rstrip('/')}/api/health",
                                     headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read(64 * 1024).decode("utf-8"))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    model = body.get("model") if isinstance(body, dict) else None
    return model.strip() if isinstance(model, str) and model.strip() else None


def settings_for_relay(args: argparse.Namespace, settings: Settings) -> Settings:
    """With `--relay`, the relay chooses the model: show and store the one it reports (or
    "via relay"), and offer only that in the model picker, not this machine's list."""
    url = getattr(args, "relay", None)
    if not url:
        return settings
    model = relay_health_model(url, relay_token(args),
                               min(RELAY_PROBE_TIMEOUT, settings.connect_timeout))
    return replace(settings, model=model or VIA_RELAY, models=())


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


def open_store(path: Path | None) -> ConversationStore:
    """Open the conversation database; answers left streaming by a killed app get marked."""
    from tui_chat import locations
    from tui_chat.store import ConversationStore

    store = ConversationStore(path or locations.database_file())
    store.mark_interrupted()
    return store


def fail(message: str, code: int = 2, err: TextIO | None = None) -> int:
    """One line on stderr; returns `code` (2: bad input or settings)."""
    print(f"tui-chat: {message}", file=sys.stderr if err is None else err)
    return code


BROKEN_PIPE_STATUS = 141
"""What a shell reports for a process killed by SIGPIPE: the status of `cmd | head` when the
reader left early. Python ignores SIGPIPE, so it is returned instead."""


def silence(out: TextIO) -> None:
    """Point a closed pipe's descriptor at /dev/null so the exit flush cannot complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
