"""Reasoning through the real app against the loopback server: stored while it streams, kept
with the answer, and never sent back as context."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fake_openai import FakeOpenAI, Reply
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.store import ConversationStore


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
    fake_openai.script(Reply(chunks=["Done."], reasoning=thinking, chunks_per_second=40))
    store = ConversationStore(tmp_path / "c.db")
    app = make_app(settings_for(fake_openai), store=store)
    async with app.run_test() as pilot:
        await pilot.press(*"think", "enter")
        # While it still thinks, the file already holds part of the reasoning (a kill -9
        # keeps what the last save wrote).
        saved = ""
        async with asyncio.timeout(10):
            while not saved:
                await pilot.pause(0.05)
                conversation = app.screen.conversation_id
                if conversation is not None:
                    saved = ConversationStore(tmp_path / "c.db").messages(conversation)[-1] \
                        .reasoning
        assert "".join(thinking).startswith(saved)
        assert len(saved) < len("".join(thinking))
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
