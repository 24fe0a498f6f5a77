"""Reasoning through the real app against the loopback server: stored while it streams, kept
with the answer, and never sent back as context."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.status_bar import StatusBar


def settings_for(fake: FakeOpenAI, **flags: object):
    return load_settings(None, {"OPENAI_API_KEY": "sk-test-not-real"}, base_url=fake.url,
                         model="fake-model", **flags)


async def settle(app, pilot) -> None:
    async with asyncio.timeout(10):
        await app.workers.wait_for_complete()
    await pilot.pause()


async def test_reasoning_is_saved_while_it_streams_and_kept_with_the_answer(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    thinking = [f"step {i}. " for i in range(60)]
    # The reasoning, then a pause before the answer, in which the save timer must write it.
    fake_openai.script(Reply(chunks=["Done."], reasoning=thinking, chunks_per_second=0,
                             stall_after=len(thinking), stall_seconds=4.0))
    store = ConversationStore(tmp_path / "c.db")
    app = make_app(settings_for(fake_openai), store=store)
    async with app.run_test() as pilot:
        await pilot.press(*"think", "enter")
        # While the answer is still running, the file holds the reasoning (a kill -9 keeps
        # what the last save wrote; the next start marks it interrupted).
        row = None
        async with asyncio.timeout(10):
            while row is None or not row.reasoning:
                await pilot.pause(0.05)
                conversation = app.screen.conversation_id
                if conversation is not None:
                    row = ConversationStore(tmp_path / "c.db").messages(conversation)[-1]
        assert row.status == "streaming" and row.content == ""
        assert "".join(thinking).startswith(row.reasoning)
        await settle(app, pilot)
    row = store.messages(conversation)[-1]
    assert (row.reasoning, row.content, row.status) == ("".join(thinking), "Done.", "done")


async def test_reasoning_is_not_sent_back_in_the_next_request(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply(chunks=["Four."], reasoning=["Two ", "and two."],
                             reasoning_form="think"),
                       Reply(chunks=["Eight."]))
    app = make_app(settings_for(fake_openai))
    async with app.run_test() as pilot:
        await pilot.press(*"2+2?", "enter")
        await settle(app, pilot)
        await pilot.press(*"times two?", "enter")
        await settle(app, pilot)
    sent = fake_openai.chat_requests[1].messages
    assert [m["role"] for m in sent][-3:] == ["user", "assistant", "user"]
    assert sent[-2]["content"] == "Four."
    assert all("reasoning" not in m and "Two" not in str(m) for m in sent)


THINKING = [f"Thinking step {i}, carefully. " for i in range(12)]


def answer_view(app) -> MessageView:
    return [v for v in app.screen.query(MessageView) if v.role == "assistant"][-1]


def screen_text(app) -> str:
    view = answer_view(app)
    width = view.content_region.width
    return "\n".join(strip.text for strip in view._build_lines(width))


@pytest.mark.parametrize("form", ["reasoning_content", "reasoning", "think", "think_no_open"])
async def test_every_wire_form_shows_thinking_above_the_answer_then_folds(
        fake_openai: FakeOpenAI, form: str) -> None:
    # The reasoning, a pause the test can look in, then the answer.
    thinking_deltas = len(THINKING) + {"think": 2, "think_no_open": 1}.get(form, 0)
    fake_openai.script(Reply(chunks=["The ", "answer ", "is ", "four."], reasoning=THINKING,
                             reasoning_form=form, chunks_per_second=0,
                             stall_after=thinking_deltas, stall_seconds=3.0))
    app = make_app(settings_for(fake_openai))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"2+2?", "enter")
        bar = app.screen.query_one(StatusBar)
        async with asyncio.timeout(10):
            # While it thinks: the reasoning streams into the section, the answer is empty,
            # and the status bar counts the thinking.
            while "step 11" not in answer_view(app).thinking:
                await pilot.pause(0.02)
        if form != "think_no_open":  # without an opening tag it looks like an answer at first
            view = answer_view(app)
            assert not view.text
            assert "▾ Thinking…" in screen_text(app)
            assert "Thinking step 0" in screen_text(app)
            assert "thinking…" in str(bar.render())
        await settle(app, pilot)
        view = answer_view(app)
        assert view.thinking == "".join(THINKING)
        assert view.text == "The answer is four."
        text = screen_text(app)
        assert text.splitlines()[0].startswith("▸ Thought for ")
        assert "tokens" in text.splitlines()[0]
        assert "Thinking step" not in text  # folded
        assert "thinking…" not in str(bar.render())
        # Unfolded with a key on the focused message...
        view.focus()
        await pilot.press("t")
        await pilot.pause()
        assert "Thinking step 11" in screen_text(app)
        assert screen_text(app).index("Thinking step 11") < screen_text(app).index("four.")
        # ...and folded again with a click on its first line.
        await pilot.click(view, offset=(3, 0))
        await pilot.pause()
        assert "Thinking step" not in screen_text(app)


@pytest.mark.parametrize("mode", ["show", "hidden"])
async def test_the_reasoning_setting_shows_it_always_or_never(
        fake_openai: FakeOpenAI, mode: str) -> None:
    fake_openai.script(Reply(chunks=["Four."], reasoning=THINKING))
    app = make_app(settings_for(fake_openai, reasoning=mode))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"2+2?", "enter")
        await settle(app, pilot)
        text = screen_text(app)
        assert "four" in text.lower()
        if mode == "show":
            assert text.startswith("▾ Thought for ") and "Thinking step 11" in text
        else:
            assert "Thought" not in text and "Thinking step" not in text
            assert answer_view(app).thinking  # kept, just not drawn


async def test_a_stored_answer_opens_with_its_thinking_folded(
        fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply(chunks=["Four."], reasoning=THINKING))
    store = ConversationStore(tmp_path / "c.db")
    app = make_app(settings_for(fake_openai), store=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"2+2?", "enter")
        await settle(app, pilot)
        conversation = app.screen.conversation_id
    app = make_app(settings_for(fake_openai), store=store, conversation_id=conversation)
    async with app.run_test(size=(80, 24)) as pilot:
        async with asyncio.timeout(10):
            while not app.screen.query(MessageView):
                await pilot.pause(0.02)
        await pilot.pause()
        view = answer_view(app)
        assert view.thinking == "".join(THINKING)
        assert screen_text(app).startswith("▸ Thought for ")
