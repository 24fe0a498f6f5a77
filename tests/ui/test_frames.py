"""What a streaming answer costs in frames: each frame is the app's largest cost per chunk at
50 chunks a second (issue 19), so nothing may take a frame of its own that could ride along
with the text's."""

from __future__ import annotations

from contextlib import aclosing
from itertools import pairwise

from textual.geometry import Region

from tests.ui.test_chat_screen import SETTINGS
from tests.waiting import settle, until
from tui_chat.app import make_app
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.session import Exchange, Shown
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.status_bar import StatusBar

PROSE = " ".join(f"word{i}" for i in range(400))


async def test_the_status_figures_are_refreshed_in_the_frames_of_the_streaming_text() -> None:
    # 50 chunks a second for about two seconds: the status bar ticks every 0.25 s meanwhile.
    provider = ScriptedProvider.from_text(PROSE, chunk=20, delay=0.02)
    app = make_app(SETTINGS, provider)
    frames: list[tuple[str, object, int]] = []
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.screen.query_one(StatusBar)

        def frame() -> None:  # Textual calls this after every frame it draws
            answers = [v for v in app.screen.query(MessageView) if v.role == "assistant"]
            drawn = answers[-1].drawn_chars if answers else -1
            frames.append((app.screen.phase, bar.figures, drawn))

        app.post_display_hook = frame  # type: ignore[method-assign]
        await pilot.press(*"go", "enter")
        await settle(app, pilot)
        await until(pilot, lambda: frames and frames[-1][2] == len(PROSE), what="the end drawn")
    streaming = [(before, after) for before, after in pairwise(frames)
                 if before[0] == after[0] == "streaming"]
    status_changed = [(b, a) for b, a in streaming if a[1] != b[1]]
    status_only = [(b, a) for b, a in status_changed if a[2] == b[2]]
    assert len(status_changed) >= 4, "the figures were refreshed while the answer streamed"
    # A stall of a whole status interval (a loaded machine) may cost one frame of its own.
    assert len(status_only) <= 1, f"{len(status_only)} frames drew only the status bar"


async def test_a_draw_runs_what_was_asked_to_ride_along_and_a_stall_hands_it_back() -> None:
    provider = ScriptedProvider.from_text("hello", delay=0.0)
    app = make_app(SETTINGS, provider)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"go", "enter")
        await settle(app, pilot)
        view = MessageView("assistant", status="streaming")
        await app.screen.transcript.mount(view)
        ran: list[int] = []

        def ride() -> None:
            ran.append(len(view.text))

        assert view.call_before_draw(ride)
        assert ran == []
        view.append("some text")
        assert ran == []  # not yet: at the draw
        await until(pilot, lambda: ran, what="the draw to run it")
        assert ran == [len("some text")]
        assert view.drawn_chars == len("some text")  # drawn in that same draw
        # No draw since the last call (a stall): the caller gets it back and runs it itself.
        assert view.call_before_draw(ride)
        assert not view.call_before_draw(ride)
        view.append(" more")
        await until(pilot, lambda: view.drawn_chars == len(view.text), what="the next draw")
        assert ran == [len("some text")]


async def test_streamed_frames_start_no_textual_timers_nor_callbacks(monkeypatch) -> None:
    # A Textual timer is an asyncio task, and for it as for call_later/call_next Textual
    # inspects the callback's signature on each call: once a frame, that was 4-7 % of the
    # app's CPU at 50 chunks a second.
    started: list[str] = []

    def counting(name: str):  # type: ignore[no-untyped-def]
        original = getattr(MessageView, name)

        def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            started.append(name)
            return original(self, *args, **kwargs)
        return counted

    for name in ("set_timer", "call_later", "call_next"):
        monkeypatch.setattr(MessageView, name, counting(name))
    text = PROSE[:900]  # 45 chunks at 50 a second: some 15 frames
    provider = ScriptedProvider.from_text(text, chunk=20, delay=0.02)
    app = make_app(SETTINGS, provider)
    frames: list[int] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"go", "enter")
        app.post_display_hook = lambda: frames.append(1)  # type: ignore[method-assign]
        await settle(app, pilot)
        answer = [v for v in app.screen.query(MessageView) if v.role == "assistant"][-1]
        await until(pilot, lambda: answer.drawn_chars == len(text), what="all drawn")
        assert answer.text == text
        assert len(frames) >= 10
        assert started.count("set_timer") == 0
        assert len(started) <= 3, started  # not one a frame
        # A view removed with a draw pending takes its timer with it.
        view = MessageView("assistant", status="streaming")
        await app.screen.transcript.mount(view)
        view.append("one")
        view._flush()
        view.append(" two")  # within a frame of the last draw: a timer for the next one
        assert view._flush_timer is not None
        handle = view._flush_timer
        await view.remove()
        assert handle.cancelled()



async def test_a_chunk_that_adds_no_line_costs_no_layout_and_lines_cost_one_per_block() -> None:
    provider = ScriptedProvider.from_text("x", delay=0.0)
    app = make_app(SETTINGS, provider)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"go", "enter")
        await settle(app, pilot)
        view = MessageView("assistant", status="streaming")
        await app.screen.transcript.mount(view)
        view.append("The first words")
        view._flush()
        await pilot.pause()
        layouts: list[object] = []
        app.screen.screen_layout_refresh_signal.subscribe(
            app.screen, layouts.append, immediate=True)
        height = view.size.height
        for word in " of a line that does not wrap yet".split(" "):
            view.append(f" {word}")
            view._flush()
            await pilot.pause()
        assert layouts == []  # the text changed in place: no layout
        assert view.size.height == height
        # New lines fill the block reserved below the text, then the height jumps a block.
        for line in range(3 * MessageView.JUMP_LINES):
            view.append(f"\n\nline {line}")
            view._flush()
            await pilot.pause()
        grown = view.size.height - height
        assert grown >= 4 * MessageView.JUMP_LINES
        # One layout a block (and a few for scrolling the transcript), not one a line.
        assert 0 < len(layouts) <= grown // MessageView.JUMP_LINES + 3, (len(layouts), grown)


async def test_a_view_kept_style_follows_focus_status_and_theme() -> None:
    # The view keeps its base style from one paint to the next (it walks every ancestor's
    # styles): whatever changes it must show in the next paint.
    provider = ScriptedProvider.from_text("Some words to paint.", delay=0.0)
    app = make_app(SETTINGS, provider)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"go", "enter")
        await settle(app, pilot)
        view = MessageView("assistant", "streamed text", status="streaming")
        await app.screen.transcript.mount(view)
        await pilot.pause()

        def painted(fresh: bool) -> list[object]:
            if fresh:
                view._base_style = None
                view._styles_cache.clear()
            width, height = view.outer_size
            return list(view.render_lines(Region(0, 0, width, height)))

        looks = [painted(fresh=False)]
        for change in ("done", "focus", "theme"):
            if change == "done":
                view.finish("done")
            elif change == "focus":
                view.focus()
            else:
                app.theme = "textual-light" if app.theme != "textual-light" else "nord"
            await pilot.pause()
            shown = painted(fresh=False)
            assert shown == painted(fresh=True), change
            assert shown != looks[-1], change  # the change shows at all
            looks.append(shown)


async def test_the_answer_worker_does_not_wake_for_every_chunk(monkeypatch) -> None:
    # Each piece the exchange yields wakes the answer worker (a task step through three async
    # generators), once a chunk at 50 chunks a second; the reader hands text to the view as it
    # takes it in instead, and the view draws it on its next frame.
    yielded: list[Shown] = []
    display = Exchange.display

    async def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        async with aclosing(display(self, *args, **kwargs)) as pieces:
            async for piece in pieces:
                yielded.append(piece)
                yield piece

    monkeypatch.setattr(Exchange, "display", counted)
    text = PROSE[:600]
    provider = ScriptedProvider.from_text(text, chunk=20, delay=0.02)
    app = make_app(SETTINGS, provider)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"go", "enter")
        await settle(app, pilot)
        answer = [v for v in app.screen.query(MessageView) if v.role == "assistant"][-1]
        await until(pilot, lambda: answer.status == "done" and answer.drawn_chars == len(text),
                    what="the answer done and drawn")
        assert answer.text == text
    assert yielded == []
