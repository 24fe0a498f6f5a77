"""Settings: precedence, validation with file and line, and the API key kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_chat.config import PLACEHOLDER_KEY, ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_then_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = write(tmp_path, 'model = "from-file"\ntemperature = 0.1\nmax_tokens = 100\n'
                           'base_url = "http://127.0.0.1:1/v1"\n')
    env = {"OPENAI_MODEL": "from-env", "TEMPERATURE": "0.2"}

    settings = load_settings(path, env, model="from-flag")

    assert settings.model == "from-flag"
    assert settings.temperature == 0.2
    assert settings.max_tokens == 100
    assert settings.base_url == "http://127.0.0.1:1/v1"
    assert settings.config_path == path


def test_openai_base_url_and_max_tokens_from_environment() -> None:
    settings = load_settings(None, {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
                                    "MAX_TOKENS": "64"})
    assert settings.base_url == "http://127.0.0.1:9/v1"
    assert settings.max_tokens == 64


def test_missing_default_file_is_fine_but_missing_explicit_file_is_not(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "absent.toml", {}).model
    with pytest.raises(ConfigError, match=r"absent\.toml: config file not found"):
        load_settings(tmp_path / "absent.toml", {}, path_is_explicit=True)


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'model = "ok"\ntemperature = = 3\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = str(caught.value)
    assert str(path) in message and "line 2" in message and "\n" not in message


def test_unknown_key_names_the_line_and_the_known_keys(tmp_path: Path) -> None:
    path = write(tmp_path, 'model = "ok"\n\nmodle = "typo"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "line 3" in str(caught.value)
    assert "unknown setting 'modle'" in str(caught.value)
    assert "model" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('temperature = "hot"\n', "'temperature' must be a number"),
        ("temperature = 7\n", "between 0 and 2"),
        ("max_tokens = -3\n", "positive whole number"),
        ('base_url = "localhost:11434"\n', "http(s) URL"),
        ("stream = 1\n", "true or false"),
    ],
)
def test_bad_values_are_refused_with_a_reason(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="line 1") as caught:
        load_settings(write(tmp_path, text), {})
    assert problem in str(caught.value)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="TEMPERATURE"):
        load_settings(None, {"TEMPERATURE": "warm"})


def test_a_key_in_the_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="api_key_env"):
        load_settings(write(tmp_path, 'api_key = "sk-secret"\n'), {})


def test_the_key_comes_from_the_named_variable_and_never_shows_in_repr(tmp_path: Path) -> None:
    path = write(tmp_path, 'api_key_env = "MY_KEY"\n')
    settings = load_settings(path, {"MY_KEY": "sk-test-secret-123", "OPENAI_API_KEY": "other"})
    assert settings.api_key == "sk-test-secret-123"
    assert "sk-test-secret-123" not in repr(settings)


def test_local_servers_get_a_placeholder_key_hosted_ones_need_a_real_one() -> None:
    local = load_settings(None, {}, base_url="http://127.0.0.1:11434/v1")
    assert not local.needs_key
    assert local.effective_api_key == PLACEHOLDER_KEY
    hosted = load_settings(None, {})
    assert hosted.needs_key and hosted.api_key is None


def test_keymap_table(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[keys]\n"chat.cancel" = "f8"\n'), {})
    assert settings.keymap == {"chat.cancel": "f8"}


PROFILES = '''
models = ["llama3.2", "qwen2.5"]

[presets]
terse = "Answer in one sentence."

[profiles.local]
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.2"

[profiles.hosted]
base_url = "https://api.openai.com/v1"
api_key_env = "HOSTED_KEY"
model = "gpt-4o-mini"
'''


def test_profiles_presets_and_models(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, PROFILES), {"OPENAI_API_KEY": "k1"},
                             profile="local")
    assert settings.base_url == "http://127.0.0.1:11434/v1"
    assert settings.model == "llama3.2"
    assert settings.profile == "local"
    assert settings.models == ("llama3.2", "qwen2.5")
    assert settings.presets == {"terse": "Answer in one sentence."}


def test_switching_profile_never_carries_another_endpoints_key(tmp_path: Path) -> None:
    from tui_chat.config import apply_profile

    env = {"OPENAI_API_KEY": "key-for-openai"}
    settings = load_settings(write(tmp_path, PROFILES), env)
    hosted = apply_profile(settings, "hosted", env)
    assert hosted.base_url == "https://api.openai.com/v1"
    assert hosted.api_key is None  # HOSTED_KEY is not set; OPENAI_API_KEY is not borrowed
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'.*hosted, local"):
        apply_profile(settings, "nope", env)


def test_unknown_profile_setting_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.x]\nbase_url = "http://127.0.0.1:1/v1"\nmodle = "m"\n')
    with pytest.raises(ConfigError, match=r"line 3.*unknown profile setting 'modle'"):
        load_settings(path, {})
