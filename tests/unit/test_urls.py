"""Endpoint URLs: what may be shown, and credentials taken out of them for sending."""

from __future__ import annotations

import base64

import pytest

from tui_chat.urls import shown_url, split_credentials, url_password


@pytest.mark.parametrize(("url", "shown"), [
    ("https://api.example.com/v1", "https://api.example.com/v1"),
    ("https://bob:hunter22@proxy.example.com:8443/v1", "https://proxy.example.com:8443/v1"),
    ("https://proxy.example.com/v1?key=hunter22", "https://proxy.example.com/v1"),
    ("http://tok@[::1]:8080/v1", "http://[::1]:8080/v1"),
    ("http://u:p@host:notaport/v1", "http://host:notaport/v1"),
])
def test_the_shown_url_has_no_user_info_or_query(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_credentials_become_the_basic_header_httpx_would_send() -> None:
    bare, header = split_credentials("https://al%40ice:p%C3%A4ss%3Aw@proxy.example.com:8443/v1")
    assert bare == "https://proxy.example.com:8443/v1"
    assert header == "Basic " + base64.b64encode("al@ice:päss:w".encode()).decode()
    assert url_password("https://al%40ice:p%C3%A4ss%3Aw@proxy.example.com/v1") == "päss:w"


def test_a_user_alone_is_sent_with_an_empty_password() -> None:
    bare, header = split_credentials("http://token@127.0.0.1:8080/v1")
    assert (bare, header) == ("http://127.0.0.1:8080/v1",
                              "Basic " + base64.b64encode(b"token:").decode())


def test_a_url_without_credentials_is_left_as_it_is() -> None:
    assert split_credentials("http://127.0.0.1:8080/v1?x=1") == ("http://127.0.0.1:8080/v1?x=1",
                                                                 None)
    assert url_password("http://127.0.0.1:8080/v1") == ""
