"""Model-made titles: which endpoints are asked, the request sent (to the loopback server), the
cleaning of what comes back, the setting, and storing without undoing a rename."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.config import ConfigError, load_settings
from tui_chat.providers.openai_compat import OpenAICompatible
from tui_chat.store import ConversationStore
from tui_chat.titles import (
    INSTRUCTION,
    TITLE_CHARS,
    TITLE_TOKENS,
    ask_for_title,
    clean_title,
    wants_titles,
)


@pytest.mark.parametrize(("raw", "title"), [
    ("Paris travel tips", "Paris travel tips"),
    ('"Paris travel tips"', "Paris travel tips"),
    ("“Reise nach Paris”.", "Reise nach Paris"),
    ("Title: Sorting lists in Python", "Sorting lists in Python"),
    ("**Title:** Sorting *lists* in `Python`", "Sorting lists in Python"),
    ("## Sorting lists\n\nThis conversation is about…", "Sorting lists"),
    ("<think>They ask about sorting.\nShort title.</think>\n\nSorting by length",
     "Sorting by length"),
    ("the user wants a title</think>Stable sorts", "Stable sorts"),
    ("<think>still thinking when the tokens ran out", ""),
    ("   \n\n", ""),
    ("- 'Bash loops'\n- other", "Bash loops"),
    ("A\x1b[31m red\x07 title", "A[31m red title"),
    # Lead-ins on a line of their own (SmolLM2 writes these when asked in the conversation).
    ("Here's a title for our conversation:\n\nSorting by second item in Python\n\nIn this",
     "Sorting by second item in Python"),
    ("**Title:**\n**Stable sorts**", "Stable sorts"),
    ("Title:", ""),
])
def test_the_title_is_cleaned_of_what_models_wrap_it_in(raw: str, title: str) -> None:
    assert clean_title(raw) == title


def test_a_long_title_is_cut_at_a_word() -> None:
    title = clean_title("An extremely long title that goes on and on about sorting algorithms")
    assert len(title) <= TITLE_CHARS and title.endswith("…")
    assert title.removesuffix("…").split()[-1] in "An extremely long title that goes on and on"


@pytest.mark.parametrize(("mode", "url", "relay", "asked"), [
    ("local", "http://127.0.0.1:8080/v1", False, True),
    ("local", "http://localhost:11434/v1", False, True),
    ("local", "http://[::1]:8000/v1", False, True),
    ("local", "https://api.example.com/v1", False, False),
    ("local", "http://192.168.1.20:8080/v1", False, False),
    ("local", "http://127.0.0.1:3000", True, False),  # a relay may forward to a paid endpoint
    ("always", "https://api.example.com/v1", False, True),
    ("always", "http://127.0.0.1:3000", True, True),
    ("never", "http://127.0.0.1:8080/v1", False, False),
])
def test_which_endpoints_are_asked(mode, url, relay, asked) -> None:  # type: ignore[no-untyped-def]
    assert wants_titles(mode, url, via_relay=relay) is asked


def test_the_setting_defaults_to_local_and_refuses_other_values(tmp_path: Path) -> None:
    assert load_settings(None, {}).auto_title == "local"
    path = tmp_path / "config.toml"
    path.write_text('auto_title = "never"\n', encoding="utf-8")
    assert load_settings(path, {}).auto_title == "never"
    path.write_text('model = "m"\nauto_title = "yes"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "line 2" in str(caught.value) and "local, always, never" in str(caught.value)


async def test_one_small_request_with_the_exchange_as_quoted_text(fake_openai: FakeOpenAI,
                                                                  ) -> None:
    fake_openai.script_titles(Reply(text='"Sorting Lists by Length"'))
    provider = OpenAICompatible(fake_openai.url, "sk-test", connect_timeout=2.0)
    try:
        title = await ask_for_title(provider, "small-model", "How do I sort by length?",
                                    "Use sorted(items, key=len).")
    finally:
        await provider.aclose()
    assert title == "Sorting Lists by Length"
    [request] = fake_openai.title_requests
    assert fake_openai.chat_requests == []
    assert request.model == "small-model"
    assert request.body["max_tokens"] == TITLE_TOKENS
    assert request.body["stream"] is True  # closing it stops a server at once
    system, user = request.messages
    assert (system["role"], system["content"]) == ("system", INSTRUCTION)
    assert user["role"] == "user"
    assert "How do I sort by length?" in user["content"]
    assert "Use sorted(items, key=len)." in user["content"]


async def test_reasoning_is_not_the_title(fake_openai: FakeOpenAI) -> None:
    fake_openai.script_titles(Reply(reasoning="A title about sorting, then.", text="Sorting"))
    provider = OpenAICompatible(fake_openai.url, "sk-test", connect_timeout=2.0)
    try:
        assert await ask_for_title(provider, "m", "q", "a") == "Sorting"
    finally:
        await provider.aclose()


@pytest.mark.parametrize("reply", [Reply.error(500), Reply.error(401), Reply(text="<think>")])
async def test_a_failure_is_logged_never_raised(fake_openai: FakeOpenAI, reply: Reply,
                                                caplog: pytest.LogCaptureFixture) -> None:
    fake_openai.script_titles(reply)
    provider = OpenAICompatible(fake_openai.url, "sk-test", connect_timeout=2.0)
    caplog.set_level(logging.INFO, logger="tui_chat.titles")
    try:
        assert await ask_for_title(provider, "m", "q", "a") is None
    finally:
        await provider.aclose()
    assert any("title request" in record.getMessage() for record in caplog.records)


async def test_a_title_that_takes_too_long_is_given_up(fake_openai: FakeOpenAI) -> None:
    fake_openai.script_titles(Reply(text="Late", delay=5.0))
    provider = OpenAICompatible(fake_openai.url, "sk-test", connect_timeout=2.0)
    try:
        assert await ask_for_title(provider, "m", "q", "a", timeout=0.3) is None
    finally:
        await provider.aclose()


def test_the_model_title_replaces_the_first_line_but_not_a_rename(tmp_path: Path) -> None:
    with ConversationStore(tmp_path / "chat.db") as store:
        first = store.create_conversation(model="m")
        store.set_title_if_empty(first, "how do I sort a list by length in python?")
        line = store.get_conversation(first).title
        assert store.replace_title(first, line, "Sorting by length") is True
        renamed = store.create_conversation(model="m")
        store.set_title_if_empty(renamed, "hello")
        store.rename(renamed, "My own name")
        assert store.replace_title(renamed, "hello", "Greeting") is False
        assert store.replace_title(first, "Sorting by length", "  ") is False
    with ConversationStore(tmp_path / "chat.db") as store:  # on disk, after reopening
        assert store.get_conversation(first).title == "Sorting by length"
        assert store.get_conversation(renamed).title == "My own name"
