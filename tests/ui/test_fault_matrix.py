"""Faults through the real app: real provider, loopback server, real SQLite store.

Each case asserts what the person sees (message status, text and footer; status bar) and what
is kept in the store. `docs/FAULTS.md` is the same matrix in prose.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual import events

from tests.fake_openai import Reply
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput
from tui_chat.widgets.status_bar import StatusBar

WORDS = [f"w{i} " for i in range(8)]


def make(fake, tmp_path: Path, **flags):
    settings = load_settings(None, {"OPENAI_API_KEY": "sk-test-FAKEKEY0123456789"},
                             base_url=flags.pop("base_url", None) or fake.url,
                             model="fake-model",
                             **{"retries": 0, "stall_timeout": 5.0, **flags})
    store = ConversationStore(tmp_path / "faults.db")
    return make_app(settings, store=store), store


async def ask(app, pilot, text: str = "q") -> MessageView:
    await pilot.press(*text, "enter")
    async with asyncio.timeout(15):
        await app.workers.wait_for_complete()
    await pilot.pause()
    return app.screen.query(MessageView).last()


@dataclass(frozen=True)
class Case:
    name: str
    reply: Reply
    status: str
    shown: str
    """Text the answer shows (a prefix for cut streams)."""
    footer: str
    """Part of the footer line under the answer."""
    flags: tuple[tuple[str, object], ...] = ()


CASES = [
    Case("cut after 3 chunks", Reply(chunks=WORDS, cut_after=3), "interrupted", "w0 w1 w2 ",
         "dropped"),
    Case("ended without finish", Reply(chunks=WORDS, end_after=3), "interrupted", "w0 w1 w2 ",
         "stopped"),
    Case("finish but no [DONE]", Reply(chunks=WORDS, no_done=True), "done", "".join(WORDS),
         "tokens"),
    Case("401", Reply.error(401), "failed", "", "401"),
    Case("404 unknown model", Reply.error(404, "The model `fake-model` does not exist",
                                          code="model_not_found"), "failed", "", "fake-model"),
    Case("400 context too long", Reply.context_too_long(), "failed", "", "context"),
    Case("500", Reply.error(500), "failed", "", "500"),
    Case("429 with retries off", Reply.error(429, retry_after=3), "failed", "", "429"),
    Case("malformed event", Reply(chunks=WORDS, malformed_after=2), "failed", "w0 w1 ",
         "malformed"),
    Case("stall", Reply(chunks=WORDS, stall_after=2), "interrupted", "w0 w1 ", "stall",
         (("stall_timeout", 0.5),)),
    Case("keep-alives are not a stall",
         Reply(chunks=WORDS, stall_after=2, stall_seconds=1.2, keepalive_every=0.2), "done",
         "".join(WORDS), "tokens", (("stall_timeout", 0.6),)),
    Case("split UTF-8", Reply(chunks=["你好", "世界", "🙂 ok"], split_utf8=True), "done",
         "你好世界🙂 ok", "tokens"),
    Case("one huge chunk", Reply(chunks=["x" * 200_000]), "done", "x" * 200_000, "tokens"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_fault(fake_openai, tmp_path: Path, case: Case) -> None:
    fake_openai.script(case.reply)
    app, store = make(fake_openai, tmp_path, **dict(case.flags))
    async with app.run_test() as pilot:
        answer = await ask(app, pilot)
        assert answer.status == case.status
        if case.status == "done":
            assert answer.text == case.shown
        else:
            assert answer.text.startswith(case.shown)
        footer = answer._footer_text()
        assert case.footer.lower() in footer.lower(), footer
        assert "\n" not in footer and "Traceback" not in footer
        assert "sk-test-FAKEKEY" not in footer
        if case.status != "done":
            assert case.footer.lower() in app.query_one(StatusBar).figures.message.lower()
        conversation = app.screen.conversation_id
    rows = store.messages(conversation)
    assert rows[-1].status == case.status
    assert rows[-1].content == answer.text  # what was shown is what was kept


async def test_a_cut_answer_is_kept_and_retry_replaces_it_keeping_the_old_version(
        fake_openai, tmp_path: Path) -> None:
    fake_openai.script(Reply(chunks=WORDS, cut_after=3), Reply(chunks=["whole answer"]))
    app, store = make(fake_openai, tmp_path)
    async with app.run_test() as pilot:
        first = await ask(app, pilot)
        assert first.status == "interrupted"
        await pilot.press("ctrl+r")
        async with asyncio.timeout(10):
            await app.workers.wait_for_complete()
        await pilot.pause()
        answer = app.screen.query(MessageView).last()
        assert (answer.text, answer.status) == ("whole answer", "done")
        conversation = app.screen.conversation_id
    rows = store.messages(conversation)
    assert [r.content for r in store.answer_versions(rows[-1].id)] == ["w0 w1 w2 ",
                                                                       "whole answer"]


async def test_429_retry_after_is_waited_out_with_a_countdown(fake_openai, tmp_path) -> None:
    fake_openai.script(Reply.error(429, retry_after=1), Reply(chunks=["after ", "waiting"]))
    app, _ = make(fake_openai, tmp_path, retries=2, retry_max_wait=5)
    seen: list[str] = []
    async with app.run_test() as pilot:
        await pilot.press(*"q", "enter")
        async with asyncio.timeout(10):
            while app.screen.phase != "done":
                figures = app.query_one(StatusBar).figures
                seen.append(figures.phase)
                if figures.phase == "retrying":
                    assert figures.retry_in is not None and figures.retry_in <= 1.0
                await pilot.pause(0.05)
        assert app.screen.query(MessageView).last().text == "after waiting"
    assert "retrying" in seen
    assert len(fake_openai.chat_requests) == 2


async def test_escape_during_a_retry_wait_stops_at_once(fake_openai, tmp_path: Path) -> None:
    fake_openai.script(Reply.error(503, retry_after=30), Reply(chunks=["never"]))
    app, _ = make(fake_openai, tmp_path, retries=3, retry_max_wait=30)
    async with app.run_test() as pilot:
        await pilot.press(*"q", "enter")
        async with asyncio.timeout(5):
            while app.screen.phase != "retrying":
                await pilot.pause(0.05)
        await pilot.press("escape")
        async with asyncio.timeout(3):
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query(MessageView).last().status == "cancelled"
    assert len(fake_openai.chat_requests) == 1


async def test_a_dead_server_says_which_url_could_not_be_reached(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app, _ = make(None, tmp_path, base_url=f"http://127.0.0.1:{port}/v1")
    async with app.run_test() as pilot:
        answer = await ask(app, pilot)
        assert answer.status == "failed"
        assert f"127.0.0.1:{port}" in answer._footer_text()


async def test_escape_sequences_in_an_answer_never_reach_the_terminal(fake_openai,
                                                                      tmp_path) -> None:
    payload = ("A\x1b]52;c;SGVsbG8=\x07B\x1b]0;PWNED\x1b\\C\x1b[2JD\x1b]8;;http://x\x1b\\E"
               "\x9b2J\x90qF\x07G\tH")
    fake_openai.script(Reply(chunks=[payload[:9], payload[9:]]))
    app, store = make(fake_openai, tmp_path)
    async with app.run_test() as pilot:
        answer = await ask(app, pilot)
        frame = app.screen._compositor.render_full_update().render_segments(app.console)
        conversation = app.screen.conversation_id
    for bad in ("\x1b]52", "\x1b]0;PWNED", "\x1b[2J", "\x1b]8;;http", "\x9b", "\x90", "\x07"):
        assert bad not in frame
        assert bad not in answer.text
    assert "␛]52;c;SGVsbG8=" in answer.text
    # Made safe where it becomes cells, not before: the store keeps what the model sent.
    assert store.messages(conversation)[-1].content == payload


async def test_a_one_megabyte_paste_stays_responsive_and_an_oversized_message_is_kept(
        tmp_path: Path) -> None:
    from tui_chat.providers.scripted import ScriptedProvider

    settings = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m",
                             max_input_chars=100_000)
    provider = ScriptedProvider()
    app = make_app(settings, provider)
    big = ("0123456789abcdef" * 64 + "\n") * 1000  # about 1 MB
    async with app.run_test(notifications=True) as pilot:
        app.post_message(events.Paste(big))
        await pilot.pause()
        await pilot.press("z")  # still takes keys
        prompt = app.query_one(PromptInput)
        assert prompt.text.endswith("z") and len(prompt.text) == len(big) + 1
        await pilot.press("enter")
        await pilot.pause()
        assert provider.requests == []
        assert len(prompt.text) == len(big) + 1  # nothing lost
        assert any("100,000" in n.message for n in app._notifications)


async def test_pasted_escape_sequences_are_made_harmless() -> None:
    from tui_chat.providers.scripted import ScriptedProvider

    app = make_app(load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m"),
                   ScriptedProvider())
    async with app.run_test() as pilot:
        app.post_message(events.Paste("x\x1b]52;c;SGVsbG8=\x07y\x1b[2J"))
        await pilot.pause()
        assert app.query_one(PromptInput).text == "x␛]52;c;SGVsbG8=�y␛[2J"
