"""Settings: built-in defaults → TOML config file → environment → command-line flags.

`load_settings` is the one pure function that builds the frozen `Settings` object the app gets.
The API key itself is read from the environment variable the settings name; it is never
written anywhere and never shown (it is left out of `repr`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tui_chat.attachments import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_MESSAGE_BYTES, Limits
from tui_chat.continuation import CONTINUE_MODES, ContinueSetting
from tui_chat.models import AUTO_TITLE_MODES, REASONING_MODES, AutoTitle, ReasoningMode

HTTP_TRANSPORTS = ("aiohttp", "httpx")
"""What `http_transport` may be (providers/openai_compat.py builds the SDK's client for it)."""
_CHOICES: dict[str, tuple[str, ...]] = {
    "http_transport": HTTP_TRANSPORTS,
    "reasoning": REASONING_MODES,
    "auto_title": AUTO_TITLE_MODES,
    "continue_mode": CONTINUE_MODES,
}
"""Settings that take one of a few words: the words."""

DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_KEY = "no-key-needed"
"""Sent to local servers (Ollama, vLLM, llama.cpp) that need no key: the SDK insists on one."""

_HOSTS_NEEDING_KEYS = ("openai.com", "openrouter.ai", "groq.com", "mistral.ai", "together.xyz",
                       "deepseek.com", "x.ai", "anthropic.com", "googleapis.com", "fireworks.ai")


class ConfigError(Exception):
    """The configuration cannot be used. `str(error)` is one line naming the file and problem."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app needs to run, decided once at start-up."""

    base_url: str = DEFAULT_BASE_URL
    """Any OpenAI-compatible endpoint, up to and including `/v1`."""
    model: str = "gpt-4o-mini"
    """Model id sent with each request."""
    system: str = "You are a helpful assistant."
    """System prompt sent first in every request; empty sends none."""
    temperature: float | None = None
    """Sampling temperature; None leaves it to the server."""
    max_tokens: int | None = None
    """Cap on answer length; None leaves it to the server."""
    stream: bool = True
    """False sends one non-streaming request per answer."""
    theme: str = "textual-dark"
    """Textual theme name (built-in or from a themes/ file)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable that holds the key. The key is never stored."""
    api_key: str | None = field(default=None, repr=False, compare=False)
    """The key itself, read from `api_key_env`; never printed, logged or stored."""
    retries: int = 3
    """Automatic retries of transient failures before the first token; 0 turns them off."""
    retry_max_wait: float = 60.0
    """Longest wait before a retry, whatever Retry-After says."""
    stall_timeout: float = 60.0
    """Seconds without a byte from the server before an answer is ended as stalled."""
    connect_timeout: float = 10.0
    """Seconds to wait for the connection to be made."""
    http_transport: str = "aiohttp"
    """How the SDK talks HTTP: "aiohttp" (its `DefaultAioHttpClient`: reads a flooding server
    in about half the CPU, many chunks per read) or "httpx" (the SDK's own default)."""
    max_input_chars: int = 200_000
    """Longest message the input will send."""
    max_attachment_bytes: int = DEFAULT_MAX_FILE_BYTES
    """Largest file that can be attached to a message (text or image)."""
    max_message_attachment_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    """Largest total of the files attached to one message."""
    context_messages: int = 20
    """At most this many recent messages are sent with each request."""
    context_tokens: int = 8000
    """Estimated token budget for the history sent with each request (system prompt included)."""
    keymap: Mapping[str, str] = field(default_factory=dict)
    """Binding id → keys, e.g. {"chat.cancel": "f8"}."""
    models: tuple[str, ...] = ()
    """Model names offered by the picker when the server does not list its own."""
    presets: Mapping[str, str] = field(default_factory=dict)
    """Named system prompts: [presets] name = "prompt"."""
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Named endpoints: [profiles.NAME] base_url, api_key_env, model."""
    profile: str | None = None
    """The profile in use, if any."""
    cache: bool = False
    """`tui-chat ask` answers an identical earlier request from a local cache."""
    reasoning: ReasoningMode = "folded"
    """A reasoning model's thinking: "show" it always, "folded" to one line once the answer
    starts (t or a click unfolds it), or "hidden"."""
    auto_title: AutoTitle = "local"
    """Ask the model for a short title after a new conversation's first answer: "local" only
    when the endpoint is on this machine (it costs nothing there), "always", or "never"."""
    continue_mode: ContinueSetting = "auto"
    """How Continue asks for the rest of an answer that stopped early: "prefill" sends the
    partial answer as the last message, for the model to go on (llama.cpp's server does);
    "instruct" adds a short request to go on where it stopped (any server); "auto" is
    prefill for the embedded engine and instruct elsewhere."""
    full_redraw: bool = False
    """Send the terminal whole rows, as Textual does, instead of only the cells that changed
    (and no scroll regions): for a terminal that shows garbage with the default."""
    local: bool = False
    """Run the embedded local model (`--local`; needs the `local` extra)."""
    local_model: str | None = None
    """A GGUF file for the embedded engine to run instead of its default model."""
    config_path: Path | None = None
    """The config file that was read, if any."""
    given: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    """Names of the settings set by the file, a profile, the environment or a flag (the rest
    are defaults): e.g. the local model starts on its own only when no base_url was given."""

    @property
    def needs_key(self) -> bool:
        """Whether the endpoint is a hosted service that will refuse requests without a key."""
        host = (urlparse(self.base_url).hostname or "").lower()
        return any(host == h or host.endswith("." + h) for h in _HOSTS_NEEDING_KEYS)

    @property
    def attachment_limits(self) -> Limits:
        return Limits(self.max_attachment_bytes, self.max_message_attachment_bytes)

    @property
    def effective_api_key(self) -> str:
        """The key to send: the configured one, or a placeholder for servers that need none."""
        return self.api_key or PLACEHOLDER_KEY


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "base_url": (str,),
    "model": (str,),
    "system": (str,),
    "temperature": (int, float),
    "max_tokens": (int,),
    "stream": (bool,),
    "theme": (str,),
    "api_key_env": (str,),
    "retries": (int,),
    "retry_max_wait": (int, float),
    "stall_timeout": (int, float),
    "connect_timeout": (int, float),
    "http_transport": (str,),
    "max_input_chars": (int,),
    "max_attachment_bytes": (int,),
    "max_message_attachment_bytes": (int,),
    "context_messages": (int,),
    "context_tokens": (int,),
    "cache": (bool,),
    "full_redraw": (bool,),
    "reasoning": (str,),
    "auto_title": (str,),
    "continue_mode": (str,),
    "local": (bool,),
    "local_model": (str,),
}
_TABLES = {"keys", "presets", "profiles", "models"}
_PROFILE_KEYS = ("base_url", "api_key_env", "model", "local", "local_model")
_ENV_NAMES = {
    "OPENAI_BASE_URL": "base_url",
    "OPENAI_MODEL": "model",
    "TEMPERATURE": "temperature",
    "MAX_TOKENS": "max_tokens",
    "TUI_CHAT_HTTP_TRANSPORT": "http_transport",
}


def _line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^[ \t]*\"?{re.escape(key)}\"?[ \t]*=", re.MULTILINE)
    if match := pattern.search(text):
        return text.count("\n", 0, match.start()) + 1
    return None


def _where(path: Path, text: str, key: str) -> str:
    line = _line_of(text, key)
    return f"{path}, line {line}" if line else str(path)


def _check_value(name: str, value: Any, where: str) -> Any:
    types = _FIELD_TYPES[name]
    if isinstance(value, bool) and bool not in types:
        raise ConfigError(f"{where}: '{name}' must be {_type_name(types)}, not {value!r}")
    if not isinstance(value, types):
        raise ConfigError(f"{where}: '{name}' must be {_type_name(types)}, not {value!r}")
    _check_range(name, value, where)
    if float in types and isinstance(value, int | float):
        return float(value)  # a whole number where a float is asked for
    return value


def _check_range(name: str, value: Any, where: str) -> None:
    if name == "temperature" and not 0 <= value <= 2:
        raise ConfigError(f"{where}: 'temperature' must be between 0 and 2, not {value}")
    if name in ("max_tokens", "max_input_chars", "context_messages", "context_tokens",
                "max_attachment_bytes", "max_message_attachment_bytes") and value <= 0:
        raise ConfigError(f"{where}: '{name}' must be a positive whole number, not {value}")
    if name in ("retries",) and value < 0:
        raise ConfigError(f"{where}: 'retries' must be 0 or more, not {value}")
    if name in ("stall_timeout", "connect_timeout", "retry_max_wait") and value <= 0:
        raise ConfigError(f"{where}: '{name}' must be more than 0 seconds, not {value}")
    choices = _CHOICES.get(name)
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: '{name}' must be one of {', '.join(choices)}, "
                          f"not {value!r}")
    if name == "base_url":
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"{where}: 'base_url' must be an http(s) URL such as "
                              f"http://127.0.0.1:11434/v1, not {value!r}")


def _type_name(types: tuple[type, ...]) -> str:
    if float in types:
        return "a number"
    if int in types:
        return "a whole number"
    if bool in types:
        return "true or false"
    return "a string"


def read_config_file(path: Path) -> dict[str, Any]:
    """Read and validate a TOML config file. Raises ConfigError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file ({error})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = _where(path, text, key)
        if key == "api_key":
            raise ConfigError(f"{where}: keys are not kept in the config file; put the key in an "
                              "environment variable and name it with api_key_env")
        if key == "keys":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f"{where}: [keys] must map binding ids to key names")
            values["keymap"] = dict(value)
            continue
        if key == "presets":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f"{where}: [presets] must map names to prompt strings")
            values["presets"] = dict(value)
            continue
        if key == "models":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: 'models' must be a list of model names")
            values["models"] = tuple(value)
            continue
        if key == "profiles":
            values["profiles"] = _check_profiles(value, path, text)
            continue
        if key == "profile":
            if not isinstance(value, str):
                raise ConfigError(f"{where}: 'profile' must be a string")
            values["profile"] = value
            continue
        if key not in _FIELD_TYPES:
            known = ", ".join(sorted([*_FIELD_TYPES, *_TABLES]))
            raise ConfigError(f"{where}: unknown setting '{key}' (known: {known})")
        values[key] = _check_value(key, value, where)
    return values


def _check_profiles(value: Any, path: Path, text: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{_where(path, text, 'profiles')}: [profiles.NAME] tables expected")
    profiles: dict[str, dict[str, Any]] = {}
    for name, table in value.items():
        where = _where(path, text, name) if _line_of(text, name) else str(path)
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [profiles.{name}] must be a table")
        for key, item in table.items():
            if key not in _PROFILE_KEYS:
                raise ConfigError(f"{_where(path, text, key)}: unknown profile setting '{key}' "
                                  f"in [profiles.{name}] (known: {', '.join(_PROFILE_KEYS)})")
            _check_value(key, item, where)
        profiles[name] = dict(table)
    return profiles


def apply_profile(settings: Settings, name: str, environ: Mapping[str, str]) -> Settings:
    """Settings switched to the named endpoint profile (its key read from its own variable)."""
    if name not in settings.profiles:
        known = ", ".join(sorted(settings.profiles)) or "none are configured"
        raise ConfigError(f"unknown profile '{name}' (profiles: {known})")
    profile = settings.profiles[name]
    changed = replace(settings, profile=name, **profile)
    # Never send one endpoint's key to another: the key comes from the profile's variable only.
    return replace(changed, api_key=environ.get(changed.api_key_env) or None)


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for env_name, name in _ENV_NAMES.items():
        raw = environ.get(env_name)
        if raw is None or raw == "":
            continue
        where = f"environment variable {env_name}"
        value: Any = raw
        if name == "temperature":
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{where}: must be a number, not {raw!r}") from None
        elif name == "max_tokens":
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{where}: must be a whole number, not {raw!r}") from None
        values[name] = _check_value(name, value, where)
    return values


def load_settings(
    path: Path | None,
    environ: Mapping[str, str] = os.environ,
    *,
    path_is_explicit: bool = False,
    **flags: Any,
) -> Settings:
    """Build the one Settings object: defaults < TOML file < environment < flags.

    Args:
        path: The config file; a missing default file is fine, a missing explicit one is not.
        environ: The environment to read (tests pass their own).
        path_is_explicit: The path came from `--config`, so it must exist.
        flags: Values from the command line; None means "not given".

    Raises:
        ConfigError: with one line that names the file, line and problem.
    """
    values: dict[str, Any] = {}
    if path is not None and (path_is_explicit or path.exists()):
        values.update(read_config_file(path))
        values["config_path"] = path
    profile = flags.pop("profile", None) or values.get("profile")
    if profile is not None:
        profiles = values.get("profiles", {})
        if profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none are configured"
            raise ConfigError(f"unknown profile '{profile}' (profiles: {known})")
        values.update(profiles[profile])
        values["profile"] = profile
    values.update(_from_environ(environ))
    for name, value in flags.items():
        if value is None:
            continue
        if name not in _FIELD_TYPES:
            raise ConfigError(f"unknown option {name}")
        values[name] = _check_value(name, value, f"--{name.replace('_', '-')}")
    settings = Settings(**values, given=frozenset(values) - {"config_path"})
    key = environ.get(settings.api_key_env) or None
    return replace(settings, api_key=key)


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings)]


def remember_setting(path: Path, name: str, value: str) -> None:
    """Set one top-level string setting in the config file, keeping the rest of it as written."""
    line = f"{name} = {_toml_string(value)}\n"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    pattern = re.compile(rf"^[ \t]*{re.escape(name)}[ \t]*=.*\n?", re.MULTILINE)
    first_table = re.search(r"^\s*\[", text, re.MULTILINE)
    match = pattern.search(text)
    if match and (first_table is None or match.start() < first_table.start()):
        text = text[:match.start()] + line + text[match.end():]
    else:
        text = line + text  # top-level keys must come before the first [table]
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".toml.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
