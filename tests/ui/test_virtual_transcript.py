"""A long stored conversation is virtual: only messages near the viewport are mounted, yet
scrolling, Tab, search hits and the scrollbar behave as if all of them were."""

from __future__ import annotations

import asyncio
import gc
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.models import Delta, Finished
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.screens.chat import ChatScreen
from tui_chat.store import ConversationStore
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput
from tui_chat.widgets.transcript import Transcript

SETTINGS = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m", system="")

PROSE = "Finished blocks are drawn once and kept, so a chunk costs what the chunk costs. " * 3


def fill(store: ConversationStore, turns: int) -> int:
    """Answers of very different heights, so the estimates are wrong in both directions."""
    conversation = store.create_conversation(title="long one", model="m")
    for i in range(turns):
        store.add_message(conversation, "user", f"question {i}")
        answer = store.start_answer(conversation, model="m")
        if i % 3 == 0:
            body = f"answer {i}\n\n```python\n" + "".join(f"x{n} = {n}\n" for n in range(12)) \
                + "```"
        elif i % 3 == 1:
            body = f"answer {i}\n\n{PROSE}\n\n- one\n- two\n- three"
        else:
            body = f"answer {i}"
        store.finish_answer(answer, body, "done")
    return conversation


async def until(pilot, condition: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.02)


def on_screen(screen: ChatScreen) -> list[MessageView]:
    """The message views the viewport shows, top to bottom."""
    viewport = screen.transcript.scrollable_content_region
    shown = [view for view in screen.query(MessageView)
             if view.region and view.region.overlaps(viewport)]
    return sorted(shown, key=lambda view: view.region.y)


def settled(screen: ChatScreen) -> Callable[[], bool]:
    """The viewport is covered by mounted messages (no blank spacer in view)."""
    def check() -> bool:
        transcript = screen.transcript
        viewport = transcript.scrollable_content_region
        covered = sum(view.region.intersection(viewport).height + 1
                      for view in on_screen(screen))
        return covered >= viewport.height and not transcript._refreshing
    return check


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Filled once for the module (filling costs more than the tests): turns → file."""
    folder = tmp_path_factory.mktemp("conversations")
    files = {}
    for turns in (25, 300):
        files[turns] = folder / f"{turns}.db"
        with ConversationStore(files[turns]) as store:
            fill(store, turns)
    return files


@pytest.fixture
def opened(databases: dict[int, Path], tmp_path: Path):
    def open_app(turns: int):
        path = tmp_path / "c.db"
        shutil.copyfile(databases[turns], path)
        store = ConversationStore(path)
        conversation = store.list_conversations()[0].id
        app = make_app(SETTINGS, ScriptedProvider(), store=store, conversation_id=conversation)
        return app, store, conversation
    return open_app


async def test_a_long_conversation_mounts_only_a_window_and_shows_its_end(
        opened) -> None:
    app, store, conversation = opened(300)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        last_id = store.messages(conversation)[-1].id
        await until(pilot, lambda: any(v.message_id == last_id for v in on_screen(screen)))
        await until(pilot, settled(screen))
        transcript = screen.transcript
        assert transcript.stored == 600
        assert len(screen.query(MessageView)) < 60  # of 600
        assert on_screen(screen)[-1].message_id == last_id
        assert transcript.scroll_y == transcript.max_scroll_y and not transcript.detached
        # The scrollbar stands for the whole conversation, not the mounted part.
        assert transcript.virtual_size.height > 600 * 2
        assert len(screen.history) == 600  # the context still knows the whole conversation


async def test_paging_to_the_top_shows_the_first_message_and_keeps_a_small_window(
        opened) -> None:
    app, store, conversation = opened(25)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        transcript = screen.transcript
        await until(pilot, lambda: transcript.stored == 50 and settled(screen)())
        first_id = store.messages(conversation)[0].id
        most = 0
        for _ in range(400):
            if transcript.scroll_y == 0:
                break
            await pilot.press("pageup")
            await until(pilot, settled(screen))
            most = max(most, len(screen.query(MessageView)))
        assert transcript.scroll_y == 0
        top = on_screen(screen)[0]
        assert top.message_id == first_id
        assert top.region.y == transcript.scrollable_content_region.y
        assert most < 35  # of 50: far messages were unmounted on the way
        assert isinstance(app.focused, PromptInput)  # paging did not take the focus


async def test_what_is_at_the_top_stays_put_while_messages_above_are_measured(
        opened) -> None:
    app, _store, _conversation = opened(300)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        transcript = screen.transcript
        await until(pilot, lambda: transcript.stored == 600 and settled(screen)())
        for _ in range(6):
            await pilot.press("pageup")
            await until(pilot, settled(screen))
        top = on_screen(screen)[0]
        where = top.region.y
        # Scrolling by lines mounts messages above whose estimated heights were wrong:
        # whatever is read keeps its place, moved only by the lines scrolled.
        await pilot.press("shift+up")
        await until(pilot, settled(screen))
        await pilot.pause(0.1)
        assert top.is_mounted and top.region.y == where + 3


async def test_a_search_hit_in_the_middle_is_shown_at_the_top(opened) -> None:
    app, store, conversation = opened(300)
    target = store.messages(conversation)[301]
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.transcript.stored == 600)
        await screen.load_conversation(conversation, target.id)
        await until(pilot, lambda: bool(on_screen(screen))
                    and on_screen(screen)[0].message_id == target.id)
        await until(pilot, settled(screen))
        view = on_screen(screen)[0]
        assert view.text == target.content
        assert view.region.y == screen.transcript.scrollable_content_region.y
        assert len(screen.query(MessageView)) < 60


async def test_shift_tab_from_the_input_reaches_the_oldest_message_unmounted_until_then(
        opened) -> None:
    app, store, conversation = opened(300)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.transcript.stored == 600 and settled(screen)())
        first = store.messages(conversation)[0]
        assert not any(v.message_id == first.id for v in screen.query(MessageView))
        await pilot.press("shift+tab")
        await until(pilot, lambda: isinstance(app.focused, MessageView)
                    and app.focused.message_id == first.id and settled(screen)())
        await until(pilot, lambda: on_screen(screen)[0].message_id == first.id)
        await pilot.press("shift+tab")  # the next one, newer
        assert isinstance(app.focused, MessageView)
        assert app.focused.text == "answer 0\n\n```python\n" + "".join(
            f"x{n} = {n}\n" for n in range(12)) + "```"
        await pilot.press("tab", "tab")  # back past the oldest: the input
        assert isinstance(app.focused, PromptInput)


async def test_the_scrollbar_height_is_the_true_height_once_scrolled_through(
        opened, monkeypatch: pytest.MonkeyPatch) -> None:
    turns = 25
    app, store, conversation = opened(turns)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        transcript = screen.transcript
        await until(pilot, lambda: transcript.stored == 2 * turns and settled(screen)())
        estimated = transcript.virtual_size.height
        transcript.focus()
        await pilot.press("home")
        await until(pilot, lambda: transcript.scroll_y == 0 and settled(screen)())
        while transcript.scroll_y < transcript.max_scroll_y:
            await pilot.press("pagedown")
            await until(pilot, settled(screen))
        virtual = transcript.virtual_size.height
    # The same conversation with every message mounted: its true height.
    monkeypatch.setattr(Transcript, "MARGIN", 1000.0)
    monkeypatch.setattr(Transcript, "MOUNT_STEP", 1000)
    app = make_app(SETTINGS, ScriptedProvider(), store=store, conversation_id=conversation)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: len(screen.query(MessageView)) == 2 * turns
                    and settled(screen)())
        await pilot.pause(0.1)
        true = screen.transcript.virtual_size.height
    assert abs(virtual - true) <= 0.03 * true, (virtual, true)
    assert estimated != true  # the estimates alone were not exact: measuring corrected them


def live_strips() -> int:
    """Lines alive after a full collection (the transcript froze the rows it holds)."""
    from textual.strip import Strip

    gc.collect()
    return sum(1 for thing in gc.get_objects() if isinstance(thing, Strip))


async def test_paging_far_lets_go_of_the_lines_of_messages_it_unmounted(opened) -> None:
    app, store, conversation = opened(300)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        transcript = screen.transcript
        await until(pilot, lambda: transcript.stored == 600 and settled(screen)())
        transcript.focus()
        counts = []
        most = 0
        for pages in (8, 40):
            for _ in range(pages):
                await pilot.press("pageup")
                await until(pilot, settled(screen))
                most = max(most, len(screen.query(MessageView)))
            counts.append(live_strips())
        # Textual kept the painted lines of the last 1,024 views it removed (a class-wide
        # cache keyed on each view's styles cache): ~40 lines more with every page.
        assert counts[1] < counts[0] + 400, counts
        assert most < 60
        # Back down to the end: the last message where it belongs.
        last_id = store.messages(conversation)[-1].id
        await pilot.press("end")
        await until(pilot, lambda: bool(on_screen(screen)) and settled(screen)()
                    and on_screen(screen)[-1].message_id == last_id)
        assert transcript.scroll_y == transcript.max_scroll_y


async def test_paging_far_collects_the_garbage_of_unmounted_messages_a_little_at_a_time(
        opened) -> None:
    """A full collection takes about as long as the garbage it frees: while the person pages
    on, the unmounted views' garbage is collected every few pages, never piled up."""
    app, _store, _conversation = opened(300)
    collected: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            collected.append(info["collected"])

    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        transcript = screen.transcript
        await until(pilot, lambda: transcript.stored == 600 and settled(screen)())
        transcript.focus()
        gc.callbacks.append(note)
        try:
            for _ in range(60):
                await pilot.press("pageup")
                await until(pilot, settled(screen))
        finally:
            gc.callbacks.remove(note)
    assert len(collected) >= 3, collected  # ~200 views unmounted on the way
    assert max(collected) < 20_000, collected


async def test_the_arrangement_covers_only_the_mounted_messages(opened) -> None:
    """The room made for the messages that are not mounted is not a widget's margin: Textual's
    spatial map of an arrangement keeps a list for every 100x20 cells each placement covers
    with its margin, made again with every layout (each frame while an answer streams) and
    scanned by every full garbage collection (4,000 lists for 10,000 messages)."""
    app, _store, _conversation = opened(300)
    app.provider = ScriptedProvider([Delta("the answer"), Finished("stop")])
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        transcript = screen.transcript
        await until(pilot, lambda: transcript.stored == 600 and settled(screen)())
        await pilot.press(*"go", "enter")
        await app.workers.wait_for_complete()
        answer = screen.query(MessageView).last()
        await until(pilot, lambda: answer.text == "the answer")
        transcript.focus()
        for _ in range(8):  # the window in the middle: unmounted messages above and below
            await pilot.press("pageup")
            await until(pilot, settled(screen))
        first, end = transcript.mounted_range
        assert 0 < first and end < 600
        await pilot.pause(0.1)
        arranged = transcript._arranged
        assert arranged is not None
        covered = sum(placement.region.grow(placement.margin).height
                      for placement in arranged.placements)
        height = transcript.virtual_size.height
        assert height > 2_000 and covered < 600, (covered, height)
        # Yet everything is where it was: the scrollbar spans the whole conversation, and the
        # messages added after the stored ones come after all of them.
        assert arranged.total_region.bottom == height
        prompt = next(view for view in screen.query(MessageView)
                      if view.text == "go" and view.role == "user")
        assert prompt.virtual_region.y == transcript._positions()[-1]
        top = on_screen(screen)[0]
        index = next(i for i in range(first, end) if transcript._slots[i].view is top)
        assert top.virtual_region.y == transcript._positions()[index]


async def test_a_message_view_scrolled_away_leaves_little_for_the_collector(
        opened, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full collection costs about the garbage it finds, and a removed view's garbage is
    only found by one (Textual's widgets hold each other in cycles). Most of it was the
    view's drawn lines (each a cycle of its own, see the strip_divide hook) and the three
    style nodes Textual gives a widget per component class (MessageStyles holds them once)."""
    monkeypatch.setattr(Transcript, "UNMOUNTS_PER_COLLECTION", 10**9)
    app, _store, _conversation = opened(300)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        transcript = screen.transcript
        await until(pilot, lambda: transcript.stored == 600 and settled(screen)())
        transcript.focus()
        for _ in range(6):
            await pilot.press("pageup")
            await until(pilot, settled(screen))
        gc.collect()
        unmounted = transcript._unmounted
        for _ in range(6):
            await pilot.press("pageup")
            await until(pilot, settled(screen))
        await pilot.pause(0.1)
        unmounted = transcript._unmounted - unmounted
        gc.collect(1)  # what the young collections find anyway
        found = gc.collect()
    assert unmounted >= 10, unmounted
    assert found / unmounted < 150, (found, unmounted)
