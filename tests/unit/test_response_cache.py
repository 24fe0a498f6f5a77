"""The response cache: which requests share a key, and answers kept in a private SQLite file."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from tui_chat.models import Message, RequestParams
from tui_chat.response_cache import ResponseCache, request_key

URL = "http://127.0.0.1:9/v1"
MESSAGES = [Message("system", "be brief"), Message("user", "what is 2+2?")]
PARAMS = RequestParams("m", temperature=0.2, max_tokens=50)


def test_the_same_request_gives_the_same_key() -> None:
    key = request_key(URL, MESSAGES, PARAMS)
    assert key == request_key(URL, list(MESSAGES), replace(PARAMS))
    assert len(key) == 64 and int(key, 16) >= 0  # a SHA-256 hex digest
    assert request_key(URL + "/", MESSAGES, PARAMS) == key  # a trailing slash is the same URL


@pytest.mark.parametrize("change", [
    "base_url", "model", "temperature", "max_tokens", "content", "role", "extra message"])
def test_anything_that_decides_the_answer_changes_the_key(change: str) -> None:
    url, messages, params = URL, list(MESSAGES), PARAMS
    if change == "base_url":
        url = "http://127.0.0.1:10/v1"
    elif change == "model":
        params = replace(PARAMS, model="other")
    elif change == "temperature":
        params = replace(PARAMS, temperature=0.3)
    elif change == "max_tokens":
        params = replace(PARAMS, max_tokens=None)
    elif change == "content":
        messages[-1] = Message("user", "what is 2+3?")
    elif change == "role":
        messages[0] = Message("user", "be brief")
    else:
        messages.append(Message("user", "and 3+3?"))
    assert request_key(url, messages, params) != request_key(URL, MESSAGES, PARAMS)


def test_an_answer_survives_reopening_and_a_miss_is_none(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "cache.db"
    cache = ResponseCache(path)
    key = request_key(URL, MESSAGES, PARAMS)
    assert cache.get(key) is None
    cache.put(key, "four 🙂", "stop")
    cache.close()
    again = ResponseCache(path)
    assert again.get(key) == ("four 🙂", "stop")
    assert again.get(request_key(URL, MESSAGES, replace(PARAMS, model="x"))) is None
    again.put(key, "4", None)  # a newer answer replaces the old one
    assert again.get(key) == ("4", None)
    again.close()


def test_the_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    ResponseCache(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
