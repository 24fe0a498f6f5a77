"""SVG snapshots of the conversations screen: the list, and search hits with their matches."""

from __future__ import annotations

import asyncio
from datetime import UTC
from itertools import count
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from tui_chat.screens.conversations import ConversationsScreen
from tui_chat.store import ConversationStore

START = 1_767_225_600  # 2026-01-01 00:00 UTC


class Host(App[None]):
    def __init__(self, store: ConversationStore, current_id: int) -> None:
        super().__init__()
        self.store = store
        self.current_id = current_id

    def compose(self) -> ComposeResult:
        yield Static("The chat would be here.")

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.push_screen(ConversationsScreen(self.store, current_id=self.current_id, timezone=UTC))


@pytest.fixture
def host(tmp_path: Path):
    hours = count(START, 3600)
    with ConversationStore(tmp_path / "chat.db", clock=lambda: float(next(hours))) as store:
        store.create_conversation("")
        soup = store.create_conversation("Soup recipes")
        store.add_message(soup, "user", "How do I make miso soup?")
        store.add_message(soup, "assistant", "Dissolve the miso paste in warm dashi, never boil.")
        trip = store.create_conversation("Trip to China: a very long title that will not fit "
                                         "beside its date in a narrow terminal window")
        store.add_message(trip, "user", "我们明天去北京看长城吗？")
        rust = store.create_conversation("Rust lifetimes")
        for _ in range(6):
            store.add_message(rust, "user", "What does 'static mean?")
        yield Host(store, current_id=soup)


class TestConversationsScreen:
    """A centred panel over the chat: search box, "New chat", then the conversations newest
    first, the open one marked with a dot, each with its message count and UTC date."""

    def test_list(self, snap_compare, host) -> None:
        assert snap_compare(host, terminal_size=(90, 20))

    def test_search_hits(self, snap_compare, host) -> None:
        """Two hits for "miso" in one conversation, each a snippet with the word underlined."""

        async def run_before(pilot) -> None:
            pilot.app.screen.query_one(Input).cursor_blink = False
            await pilot.press("slash", *"miso")
            async with asyncio.timeout(5):
                while pilot.app.screen.shown_query != "miso":
                    await pilot.pause(0.05)
            await pilot.press("down")

        assert snap_compare(host, terminal_size=(90, 20), run_before=run_before)
