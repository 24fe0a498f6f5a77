"""Pilot tests of the conversations screen over a real SQLite file: list, open, new, rename,
delete, search, close."""

from __future__ import annotations

import asyncio
from datetime import UTC
from itertools import count
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from tui_chat.screens.conversations import (
    ConfirmDeleteScreen,
    ConversationList,
    ConversationsScreen,
    NewConversation,
    OpenConversation,
    RenameConversationScreen,
)
from tui_chat.store import ConversationStore

START = 1_767_225_600  # 2026-01-01 00:00 UTC


class Host(App[None]):
    """Opens the screen at start-up and keeps every result it dismisses with."""

    def __init__(self, store: ConversationStore, current_id: int | None = None) -> None:
        super().__init__()
        self.store = store
        self.current_id = current_id
        self.results: list[object] = []

    def compose(self) -> ComposeResult:
        yield Static("chat")

    def on_mount(self) -> None:
        screen = ConversationsScreen(self.store, current_id=self.current_id, timezone=UTC)
        self.push_screen(screen, self.results.append)


@pytest.fixture
def store(tmp_path: Path):
    minutes = count(START, 60)
    with ConversationStore(tmp_path / "chat.db", clock=lambda: float(next(minutes))) as opened:
        yield opened


def fill(store: ConversationStore) -> dict[str, int]:
    """Three conversations; "Rust" was started first but written to last, so it is newest."""
    ids = {
        "rust": store.create_conversation("Rust lifetimes"),
        "soup": store.create_conversation("Soup recipes"),
        "trip": store.create_conversation("Trip to China"),
    }
    store.add_message(ids["soup"], "user", "How do I make miso soup?")
    store.add_message(ids["soup"], "assistant", "Dissolve the miso paste in warm dashi.")
    store.add_message(ids["trip"], "user", "我们明天去北京看长城吗？")
    store.add_message(ids["rust"], "user", "What does 'static mean?")
    return ids


def listing(app: App[None]) -> ConversationList:
    return app.screen.query_one(ConversationList)


def listed_ids(app: App[None]) -> list[int | None]:
    return [entry.conversation_id for entry in listing(app).options]  # type: ignore[attr-defined]


def rows(app: App[None]) -> list[str]:
    """The list as drawn, one string per screen line."""
    widget = listing(app)
    return [widget.render_line(y).text.rstrip() for y in range(widget.size.height)]


async def until(pilot, predicate) -> None:
    """Let the app run until `predicate()` holds (the search waits for typing to stop)."""
    async with asyncio.timeout(5):
        while not predicate():
            await pilot.pause(0.05)


async def search(pilot, text: str) -> None:
    await pilot.press("slash", *text)
    await until(pilot, lambda: pilot.app.screen.shown_query == text)


class TestList:
    """Newest first, with title, message count and date; Enter, `n` and the mouse choose."""

    async def test_newest_first_with_counts_and_dates(self, store) -> None:
        ids = fill(store)
        app = Host(store)
        async with app.run_test(size=(100, 24)) as pilot:
            await pilot.pause()
            assert listed_ids(app) == [None, ids["rust"], ids["trip"], ids["soup"]]
            drawn = rows(app)
            assert drawn[0].startswith("+ New chat")
            assert drawn[1].split() == ["Rust", "lifetimes", "1", "message", "2026-01-01", "00:06"]
            assert drawn[3].split()[-4:] == ["2", "messages", "2026-01-01", "00:04"]
            assert listing(app).highlighted == 1

    async def test_enter_opens_the_highlighted_conversation(self, store) -> None:
        ids = fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await pilot.press("down", "enter")
            await until(pilot, lambda: app.results)
            assert app.results == [OpenConversation(ids["trip"], None)]

    async def test_n_starts_a_new_conversation(self, store) -> None:
        fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await pilot.press("n")
            await until(pilot, lambda: app.results)
            assert app.results == [NewConversation()]

    async def test_clicks_choose_too(self, store) -> None:
        ids = fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await pilot.pause()
            assert await pilot.click(ConversationList, offset=(4, 3))
            await until(pilot, lambda: app.results)
            assert app.results == [OpenConversation(ids["soup"], None)]

    async def test_the_new_chat_row_starts_a_new_one(self, store) -> None:
        fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await pilot.press("home", "enter")
            await until(pilot, lambda: app.results)
            assert app.results == [NewConversation()]

    async def test_escape_closes_with_nothing_chosen(self, store) -> None:
        fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await pilot.press("escape")
            await until(pilot, lambda: app.results)
            assert app.results == [None]
            assert not isinstance(app.screen, ConversationsScreen)

    async def test_an_empty_store_offers_only_a_new_chat(self, store) -> None:
        app = Host(store)
        async with app.run_test() as pilot:
            await pilot.press("enter")
            await until(pilot, lambda: app.results)
            assert app.results == [NewConversation()]

    async def test_titles_are_shown_as_written_not_as_markup(self, store) -> None:
        store.create_conversation("[bold red]Hi[/] [@click=app.quit]x[/]")
        app = Host(store)
        async with app.run_test(size=(100, 24)) as pilot:
            await pilot.pause()
            assert "[bold red]Hi[/] [@click=app.quit]x[/]" in rows(app)[1]

    async def test_the_open_conversation_is_marked_and_highlighted(self, store) -> None:
        ids = fill(store)
        app = Host(store, current_id=ids["soup"])
        async with app.run_test(size=(100, 24)) as pilot:
            await pilot.pause()
            assert listing(app).highlighted == 3
            assert rows(app)[3].startswith("● Soup recipes")
            assert rows(app)[1].startswith("  Rust lifetimes")


class TestRename:
    """`r` asks for a title, prefilled; Enter saves it to the store, Escape keeps the old one."""

    async def test_enter_saves_the_new_title(self, store) -> None:
        ids = fill(store)
        app = Host(store)
        async with app.run_test(size=(100, 24)) as pilot:
            await pilot.press("down", "r")
            await until(pilot, lambda: isinstance(app.screen, RenameConversationScreen))
            assert app.screen.query_one(Input).value == "Trip to China"
            # The old title is selected, so typing replaces it.
            await pilot.press(*"长城之旅 2026", "enter")
            await until(pilot, lambda: isinstance(app.screen, ConversationsScreen))
            assert store.get_conversation(ids["trip"]).title == "长城之旅 2026"
            assert listing(app).highlighted_entry.conversation_id == ids["trip"]
            assert rows(app)[2].startswith("  长城之旅 2026")

    async def test_escape_cancels(self, store) -> None:
        ids = fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, RenameConversationScreen))
            await pilot.press(*"nope", "escape")
            await until(pilot, lambda: isinstance(app.screen, ConversationsScreen))
            assert store.get_conversation(ids["rust"]).title == "Rust lifetimes"
            assert app.results == []

    async def test_a_new_chat_row_cannot_be_renamed_or_deleted(self, store) -> None:
        fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await pilot.press("home", "r", "d")
            await pilot.pause()
            assert isinstance(app.screen, ConversationsScreen)
            assert len(store.list_conversations()) == 3


class TestDelete:
    """`d` or Delete asks first; `y` deletes from the store, `n` or Escape keeps it."""

    async def test_y_deletes_and_the_next_row_is_highlighted(self, store) -> None:
        ids = fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await pilot.press("down", "d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen))
            await pilot.press("y")
            await until(pilot, lambda: isinstance(app.screen, ConversationsScreen))
            assert store.get_conversation(ids["trip"]) is None
            assert listed_ids(app) == [None, ids["rust"], ids["soup"]]
            assert listing(app).highlighted_entry.conversation_id == ids["soup"]

    @pytest.mark.parametrize("key", ["n", "escape", "enter"])
    async def test_declining_keeps_it(self, store, key: str) -> None:
        ids = fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await pilot.press("delete")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen))
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, ConversationsScreen))
            assert store.get_conversation(ids["rust"]) is not None
            assert listed_ids(app) == [None, ids["rust"], ids["trip"], ids["soup"]]

    async def test_deleting_the_open_conversation_closes_as_new(self, store) -> None:
        ids = fill(store)
        app = Host(store, current_id=ids["rust"])
        async with app.run_test() as pilot:
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen))
            await pilot.press("y")
            await until(pilot, lambda: isinstance(app.screen, ConversationsScreen))
            await pilot.press("escape")
            await until(pilot, lambda: app.results)
            assert app.results == [NewConversation()]


class TestSearch:
    """Typing searches every message; Enter on a hit returns its conversation and message."""

    async def test_a_word_in_a_message_finds_it_and_enter_returns_the_message(self, store) -> None:
        ids = fill(store)
        answer = store.messages(ids["soup"])[1]
        app = Host(store)
        async with app.run_test(size=(100, 24)) as pilot:
            await search(pilot, "dashi")
            assert listed_ids(app) == [ids["soup"]]
            drawn = rows(app)
            assert drawn[0].split() == ["Soup", "recipes", "assistant"]
            assert drawn[1].strip() == "Dissolve the miso paste in warm dashi."
            await pilot.press("enter")
            await until(pilot, lambda: app.results)
            assert app.results == [OpenConversation(ids["soup"], answer.id)]

    @pytest.mark.parametrize("query", ["北京", "去北京看"])
    async def test_chinese_text_is_found_without_spaces(self, store, query: str) -> None:
        ids = fill(store)
        question = store.messages(ids["trip"])[0]
        app = Host(store)
        async with app.run_test(size=(100, 24)) as pilot:
            await search(pilot, query)
            assert listed_ids(app) == [ids["trip"]]
            await pilot.press("down", "enter")
            await until(pilot, lambda: app.results)
            assert app.results == [OpenConversation(ids["trip"], question.id)]

    async def test_the_matched_words_are_highlighted(self, store) -> None:
        fill(store)
        app = Host(store)
        async with app.run_test(size=(100, 24)) as pilot:
            await search(pilot, "miso")
            widget = listing(app)
            match = widget.get_visual_style("conversation-list--match").rich_style
            marked = [
                "".join(segment.text for segment in widget.render_line(y) if segment.style
                        and segment.style.underline and segment.style.bold)
                for y in range(widget.size.height)
            ]
            assert match.underline and match.bold
            assert marked[:2] == ["", "miso"]
            assert [text for text in marked if text] == ["miso", "miso"]

    async def test_a_title_match_opens_the_conversation(self, store) -> None:
        ids = fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await search(pilot, "lifetimes")
            await pilot.press("enter")
            await until(pilot, lambda: app.results)
            assert app.results == [OpenConversation(ids["rust"], None)]

    async def test_no_match_says_so_and_enter_does_nothing(self, store) -> None:
        fill(store)
        app = Host(store)
        async with app.run_test(size=(100, 24)) as pilot:
            await search(pilot, "zebra")
            assert rows(app)[0] == "No matches"
            await pilot.press("enter")
            await pilot.pause()
            assert app.results == []
            assert isinstance(app.screen, ConversationsScreen)

    async def test_clearing_the_query_shows_the_list_again(self, store) -> None:
        ids = fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await search(pilot, "miso")
            await pilot.press(*["backspace"] * 4)
            await until(pilot, lambda: app.screen.shown_query == "")
            assert listed_ids(app) == [None, ids["rust"], ids["trip"], ids["soup"]]

    async def test_rename_and_delete_work_on_a_hit(self, store) -> None:
        ids = fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await search(pilot, "miso")
            await pilot.press("down", "r")  # from the search box to the hits
            await until(pilot, lambda: isinstance(app.screen, RenameConversationScreen))
            await pilot.press(*"Miso", "enter")
            await until(pilot, lambda: isinstance(app.screen, ConversationsScreen))
            assert store.get_conversation(ids["soup"]).title == "Miso"
            assert app.screen.shown_query == "miso"
            # The title now matches too, and title hits come first.
            assert listing(app).options[0].choice == OpenConversation(ids["soup"], None)
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen))
            await pilot.press("y")
            await until(pilot, lambda: isinstance(app.screen, ConversationsScreen))
            assert store.get_conversation(ids["soup"]) is None
            assert rows(app)[0] == "No matches"

    async def test_typed_letters_go_to_the_search_not_to_the_keys(self, store) -> None:
        fill(store)
        app = Host(store)
        async with app.run_test() as pilot:
            await search(pilot, "nrd")
            assert app.results == []
            assert isinstance(app.screen, ConversationsScreen)
            assert len(store.list_conversations()) == 3
