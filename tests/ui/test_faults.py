"""Every fault through the real app: the real provider and SDK against the loopback fake server,
a real SQLite file, and the screen as the person sees it.

Each test asserts three things: what the screen shows (the answer's status, text and footer, and
the status bar), what the store kept (the same text and status), and that nothing crashed (no
"unexpected error" caught by the worker, and `run_test` re-raises anything the app raised).
`docs/FAULTS.md` is the same matrix as a table.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.app import TuiChatApp, make_app
from tui_chat.config import load_settings
from tui_chat.providers import make_provider
from tui_chat.store import ConversationStore, StoredMessage
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput
from tui_chat.widgets.status_bar import StatusBar, StatusFigures

KEY = "sk-test-FAKEKEY123456789"
WORDS = [f"w{i} " for i in range(8)]
WAIT = 15.0
"""Upper bound for any single wait; a healthy run takes a fraction of it."""

# What the app itself writes to the terminal: cursor moves and colours. Anything else that starts
# with ESC (or is BEL or a C1 control) in a rendered frame came from somewhere it should not.
_OWN_SEQUENCES = re.compile(r"\x1b\[[0-9;]*[mH]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Running:
    """The app under test and what it is wired to."""

    app: TuiChatApp
    pilot: Pilot[None]
    store: ConversationStore

    @property
    def answer(self) -> MessageView:
        return self.app.screen.query(MessageView).last()

    @property
    def figures(self) -> StatusFigures:
        return self.app.screen.query_one(StatusBar).figures

    def stored(self) -> list[StoredMessage]:
        conversation = self.app.screen.conversation_id
        assert conversation is not None, "nothing was stored"
        return self.store.messages(conversation)

    async def ask(self, text: str = "question") -> MessageView:
        """Send a prompt and wait until its answer has ended, however it ends."""
        await self.pilot.press(*text, "enter")
        await self.settle()
        return self.answer

    async def settle(self) -> None:
        async with asyncio.timeout(WAIT):
            await self.app.workers.wait_for_complete()
        await self.pilot.pause()

    def frame(self) -> tuple[str, str]:
        """The whole screen as (plain text, the characters a terminal would be sent)."""
        update = self.app.screen._compositor.render_full_update()
        plain = "\n".join("".join(strip.text for strip in line) for line in update.strips)
        return plain, update.render_segments(self.app.console)


@asynccontextmanager
async def running(tmp_path: Path, base_url: str, *, notifications: bool = False,
                  **flags: object) -> AsyncIterator[Running]:
    """The app as `tui-chat` builds it, with the real provider, talking to `base_url`."""
    values: dict[str, object] = {"model": "fake-model", "retries": 0, "stall_timeout": 5.0,
                                 "retry_max_wait": 1, **flags}
    settings = load_settings(None, {"OPENAI_API_KEY": KEY}, base_url=base_url, **values)
    store = ConversationStore(tmp_path / "faults.db")
    app = make_app(settings, make_provider(settings), store=store)
    try:
        async with app.run_test(size=(100, 30), notifications=notifications) as pilot:
            yield Running(app, pilot, store)
        assert app.return_code in (None, 0)
    finally:
        store.close()


def assert_one_clean_line(line: str) -> None:
    assert line and "\n" not in line
    assert "Traceback" not in line and "unexpected error" not in line, line
    assert KEY not in line


async def assert_failed_before_text(run: Running, status: str, *needles: str) -> str:
    """The answer ended without text: the reason is on screen, in the bar and in the store."""
    answer = run.answer
    assert (answer.status, answer.text) == (status, "")
    footer = answer._footer_text()
    assert_one_clean_line(footer)
    figures = run.figures
    assert figures.phase == status
    for needle in needles:
        assert needle in footer, footer
        assert needle in figures.message, figures.message
    user, stored = run.stored()
    assert (user.role, user.content) == ("user", "question")
    assert (stored.status, stored.content) == (status, "")
    assert stored.error and all(needle in stored.error for needle in needles)
    return footer


# -- broken streams: the text that arrived is kept -------------------------------------------


async def test_a_cut_stream_keeps_its_text_and_ctrl_r_replaces_it_keeping_the_old_version(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply(chunks=WORDS, cut_after=3), Reply(chunks=["the ", "whole ", "answer"]))
    async with running(tmp_path, fake_openai.url) as run:
        cut = await run.ask()
        assert (cut.status, cut.text) == ("interrupted", "w0 w1 w2 ")
        footer = cut._footer_text()
        assert_one_clean_line(footer)
        assert "interrupted" in footer and "dropped mid-answer" in footer
        assert "ctrl+r" in footer
        assert run.figures.phase == "interrupted"
        assert "dropped" in run.figures.message
        _user, stored = run.stored()
        assert (stored.status, stored.content) == ("interrupted", "w0 w1 w2 ")
        assert stored.error is not None and "dropped" in stored.error

        await run.pilot.press("ctrl+r")
        await run.settle()
        views = list(run.app.screen.query(MessageView))
        assert [v.role for v in views] == ["user", "assistant"]  # replaced, not added
        assert (views[-1].status, views[-1].text) == ("done", "the whole answer")
        assert [s.content for s in run.stored()] == ["question", "the whole answer"]
        versions = run.store.answer_versions(run.stored()[-1].id)
        assert [(v.version, v.is_current, v.status, v.content) for v in versions] == [
            (1, False, "interrupted", "w0 w1 w2 "), (2, True, "done", "the whole answer")]
    # The retry sent the question again, without the cut answer.
    retried = [m for m in fake_openai.chat_requests[1].messages if m["role"] != "system"]
    assert retried == [{"role": "user", "content": "question"}]


async def test_a_body_that_ends_without_finish_is_interrupted(fake_openai: FakeOpenAI,
                                                              tmp_path: Path) -> None:
    fake_openai.script(Reply(chunks=WORDS, end_after=3))
    async with running(tmp_path, fake_openai.url) as run:
        answer = await run.ask()
        assert (answer.status, answer.text) == ("interrupted", "w0 w1 w2 ")
        assert "stopped before the server finished" in answer._footer_text()
        assert run.stored()[-1].content == "w0 w1 w2 "


async def test_a_malformed_event_after_text_keeps_the_text_and_says_so(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply(chunks=WORDS, malformed_after=2))
    async with running(tmp_path, fake_openai.url) as run:
        answer = await run.ask()
        assert answer.status in ("failed", "interrupted")
        assert answer.text == "w0 w1 "
        footer = answer._footer_text()
        assert_one_clean_line(footer)
        assert "malformed event" in footer
        assert "malformed" in run.figures.message
        stored = run.stored()[-1]
        assert (stored.status, stored.content) == (answer.status, "w0 w1 ")


async def test_a_stall_ends_the_answer_as_stalled_and_keeps_the_text(fake_openai: FakeOpenAI,
                                                                     tmp_path: Path) -> None:
    fake_openai.script(Reply(chunks=WORDS, stall_after=2))  # silent until the client leaves
    async with running(tmp_path, fake_openai.url, stall_timeout=0.5) as run:
        answer = await run.ask()
        assert (answer.status, answer.text) == ("interrupted", "w0 w1 ")
        footer = answer._footer_text()
        assert_one_clean_line(footer)
        assert "stalled" in footer and "0.5 s" in footer
        assert "stalled" in run.figures.message
        stored = run.stored()[-1]
        assert (stored.status, stored.content) == ("interrupted", "w0 w1 ")
        async with asyncio.timeout(WAIT):
            await fake_openai.chat_requests[0].wait_disconnected()  # the app hung up


async def test_keep_alive_comments_are_not_a_stall(fake_openai: FakeOpenAI,
                                                   tmp_path: Path) -> None:
    # Silent for three stall timeouts, but for the comments.
    fake_openai.script(Reply(chunks=WORDS, stall_after=2, stall_seconds=1.5,
                             keepalive_every=0.1))
    async with running(tmp_path, fake_openai.url, stall_timeout=0.5) as run:
        answer = await run.ask()
        assert (answer.status, answer.text) == ("done", "".join(WORDS))
        assert run.stored()[-1].status == "done"


async def test_finish_reason_without_done_is_a_normal_finish(fake_openai: FakeOpenAI,
                                                              tmp_path: Path) -> None:
    fake_openai.script(Reply(chunks=WORDS, no_done=True))
    async with running(tmp_path, fake_openai.url) as run:
        answer = await run.ask()
        assert (answer.status, answer.text) == ("done", "".join(WORDS))
        assert answer._footer_text().startswith("✓") and "tokens" in answer._footer_text()
        assert run.figures.phase == "done" and run.figures.message == ""
        stored = run.stored()[-1]
        assert (stored.status, stored.content, stored.error) == ("done", "".join(WORDS), None)
    assert fake_openai.chat_requests[0].outcome == "no_done"


# -- HTTP errors: one line that says what to do ----------------------------------------------


async def test_401_names_where_to_set_the_key_and_never_shows_it(fake_openai: FakeOpenAI,
                                                                  tmp_path: Path) -> None:
    fake_openai.script(Reply.error(401))  # the body echoes the key it was sent
    async with running(tmp_path, fake_openai.url) as run:
        await run.ask()
        footer = await assert_failed_before_text(run, "failed", "401", "OPENAI_API_KEY",
                                                 "api_key_env")
        plain, _ = run.frame()
    assert fake_openai.chat_requests[0].api_key == KEY
    assert KEY not in footer and KEY not in plain


async def test_404_model_lists_the_models_the_server_has(fake_openai: FakeOpenAI,
                                                         tmp_path: Path) -> None:
    fake_openai.check_model = True
    async with running(tmp_path, fake_openai.url, model="no-such-model") as run:
        await run.ask()
        footer = await assert_failed_before_text(run, "failed", "404", "no-such-model")
        assert "available: fake-model, gpt-4o-mini" in footer


async def test_400_context_too_long_says_so(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply.context_too_long())
    async with running(tmp_path, fake_openai.url) as run:
        await run.ask()
        await assert_failed_before_text(run, "failed", "400", "too long for fake-model")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_name_the_status(fake_openai: FakeOpenAI, tmp_path: Path,
                                             status: int) -> None:
    fake_openai.script(Reply.error(status))
    async with running(tmp_path, fake_openai.url) as run:
        await run.ask()
        await assert_failed_before_text(run, "failed", f"{status}: server error")
    assert len(fake_openai.chat_requests) == 1  # retries = 0 means none


async def test_a_dead_port_says_which_url_cannot_be_reached(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    async with running(tmp_path, url) as run:
        await run.ask()
        await assert_failed_before_text(run, "failed", f"cannot reach {url}",
                                        "connection refused")


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "asked"), [(429, 1), (429, 30), (503, 1)],
                         ids=["429-after-1", "429-after-30-capped", "503-after-1"])
async def test_retry_after_is_waited_out_with_a_countdown_then_the_answer_arrives(
        fake_openai: FakeOpenAI, tmp_path: Path, fault: int, asked: int) -> None:
    fake_openai.script(Reply.error(fault, retry_after=asked), Reply(chunks=["after ", "waiting"]))
    bar_lines: list[str] = []
    async with running(tmp_path, fake_openai.url, retries=2, retry_max_wait=1) as run:
        await run.pilot.press(*"question", "enter")
        async with asyncio.timeout(WAIT):
            while run.app.screen.phase not in ("done", "failed"):
                figures = run.figures
                if figures.phase == "retrying":
                    # The server asked for `asked` s; the app waits at most retry_max_wait.
                    assert figures.retry_in is not None and 0 <= figures.retry_in <= 1.0
                    assert figures.attempt == 1
                    assert str(fault) in figures.message
                    bar_lines.append(run.app.screen.query_one(StatusBar).render().plain)
                await run.pilot.pause(0.05)
        await run.settle()
        answer = run.answer
        assert (answer.status, answer.text) == ("done", "after waiting")
        assert run.figures.phase == "done"
        assert [(s.status, s.content) for s in run.stored()] == [("done", "question"),
                                                                  ("done", "after waiting")]
    assert any(re.search(r"retry 1 in [01] s", line) for line in bar_lines), bar_lines
    assert len(fake_openai.chat_requests) == 2


async def test_when_retries_run_out_the_answer_fails_with_the_429_line(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(*[Reply.error(429, retry_after=0.1)] * 3, Reply(chunks=["never"]))
    async with running(tmp_path, fake_openai.url, retries=2) as run:
        await run.ask()
        await assert_failed_before_text(run, "failed", "429: rate limited")
    assert len(fake_openai.chat_requests) == 3  # the first try and two retries


async def test_escape_during_the_retry_wait_stops_at_once(fake_openai: FakeOpenAI,
                                                          tmp_path: Path) -> None:
    fake_openai.script(Reply.error(503, retry_after=30), Reply(chunks=["never"]))
    async with running(tmp_path, fake_openai.url, retries=3, retry_max_wait=30) as run:
        await run.pilot.press(*"question", "enter")
        async with asyncio.timeout(WAIT):
            while run.app.screen.phase != "retrying":
                await run.pilot.pause(0.05)
        assert run.figures.retry_in is not None and run.figures.retry_in > 20
        await run.pilot.press("escape")
        await run.settle()
        assert run.answer.status == "cancelled"
        assert run.figures.phase == "cancelled" and run.figures.retry_in is None
        assert run.stored()[-1].status == "cancelled"
        await run.pilot.pause(0.5)  # time enough for a retry that was not really stopped
    assert len(fake_openai.chat_requests) == 1


# -- what the text contains -------------------------------------------------------------------


async def test_utf8_split_between_network_reads_arrives_whole(fake_openai: FakeOpenAI,
                                                              tmp_path: Path) -> None:
    chunks = ["你好", "世界 ", "🙂 ok ", "é", "ç"]
    fake_openai.script(Reply(chunks=chunks, split_utf8=True))
    async with running(tmp_path, fake_openai.url) as run:
        answer = await run.ask()
        assert (answer.status, answer.text) == ("done", "".join(chunks))
        plain, _ = run.frame()
        assert "你好世界" in plain.replace(" ", "") and "🙂" in plain and "éç" in plain
        assert "\N{REPLACEMENT CHARACTER}" not in plain
        assert run.stored()[-1].content == "".join(chunks)


PAYLOAD = ("A\x1b]52;c;SGVsbG8=\x07B\x1b]0;PWNED\x1b\\C\x1b[2JD\x1b]8;;http://x\x1b\\E"
           "\x9b2J\x90qF\x1b\\\x07G\tH\x1b[31mred")


async def test_escape_sequences_in_an_answer_are_shown_not_executed(fake_openai: FakeOpenAI,
                                                                    tmp_path: Path) -> None:
    # Split inside a sequence: each chunk is made safe on its own.
    fake_openai.script(Reply(chunks=[PAYLOAD[:3], PAYLOAD[3:20], PAYLOAD[20:]]))
    async with running(tmp_path, fake_openai.url) as run:
        answer = await run.ask()
        assert answer.status == "done"
        assert "␛]52;c;SGVsbG8=" in answer.text and "␛]0;PWNED" in answer.text
        assert _CONTROLS.search(answer.text.replace("\t", "")) is None
        plain, sent = run.frame()
        stored = run.stored()[-1].content
    assert "␛]52;c;SGVsbG8=" in plain
    assert _CONTROLS.search(plain) is None
    # The frame's own escapes are colours and cursor moves; with those gone, none is left.
    assert _CONTROLS.search(_OWN_SEQUENCES.sub("", sent).replace("\n", "")) is None
    # Made safe where it becomes cells, not before: the store keeps what the model sent.
    assert stored == PAYLOAD


async def test_one_huge_chunk_renders(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    body = "".join(f"Sentence {i} of a very long answer. " for i in range(6_000))
    huge = (body + "END-OF-HUGE")[:200_000 - 11] + "END-OF-HUGE"
    assert len(huge) == 200_000
    fake_openai.script(Reply(chunks=[huge]))
    async with running(tmp_path, fake_openai.url) as run:
        answer = await run.ask()
        assert (answer.status, answer.text) == ("done", huge)
        assert answer.size.height > 1_000  # laid out in full, not cut short
        await run.pilot.pause()
        plain, _ = run.frame()
        assert "END-OF-HUGE" in plain  # the transcript followed it to the end
        assert run.stored()[-1].content == huge
    assert fake_openai.chat_requests[0].chunks[0].text == huge  # it really was one chunk


# -- the person's own input ---------------------------------------------------------------------


async def test_a_one_megabyte_paste_stays_responsive_and_an_oversized_message_is_refused(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    big = ("0123456789abcdef" * 64 + "\n") * 1000  # 1,025,000 characters
    async with running(tmp_path, fake_openai.url, notifications=True,
                       max_input_chars=100_000) as run:
        run.app.post_message(events.Paste(big))  # to the app, which forwards it once
        await run.pilot.pause()
        await run.pilot.press("z")  # a key after the paste is still handled
        prompt = run.app.screen.query_one(PromptInput)
        assert prompt.text == big + "z"
        await run.pilot.press("enter")
        await run.pilot.pause()
        assert prompt.text == big + "z"  # refused, and nothing lost
        messages = [n.message for n in run.app._notifications]
        assert any("the limit is 100,000" in m and f"{len(big) + 1:,}" in m for m in messages), \
            messages
        assert list(run.app.screen.query(MessageView)) == []
        assert run.app.screen.conversation_id is None  # nothing stored either
    assert fake_openai.chat_requests == []


async def test_pasted_escape_sequences_are_made_harmless(fake_openai: FakeOpenAI,
                                                         tmp_path: Path) -> None:
    async with running(tmp_path, fake_openai.url) as run:
        run.app.post_message(events.Paste("x\x1b]52;c;SGVsbG8=\x07y\x1b[2J\x9bz"))
        await run.pilot.pause()
        safe = "x␛]52;c;SGVsbG8=\N{REPLACEMENT CHARACTER}y␛[2J\N{REPLACEMENT CHARACTER}z"
        assert run.app.screen.query_one(PromptInput).text == safe
        await run.pilot.press("enter")
        await run.settle()
        assert run.app.screen.query(MessageView).first().text == safe
        assert run.stored()[0].content == safe
    assert fake_openai.chat_requests[0].messages[-1]["content"] == safe


async def test_pasted_line_breaks_sent_as_cr_stay_line_breaks(fake_openai: FakeOpenAI,
                                                               tmp_path: Path) -> None:
    # xterm and VTE send a pasted newline as CR; sanitising drops a lone CR.
    async with running(tmp_path, fake_openai.url) as run:
        run.app.post_message(events.Paste("one\rtwo\r\nthree\nfour"))
        await run.pilot.pause()
        assert run.app.screen.query_one(PromptInput).text == "one\ntwo\nthree\nfour"
