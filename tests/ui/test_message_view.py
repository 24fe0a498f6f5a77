"""MessageView keeps Textual's cached rendering of unchanged lines when it grows: what it
shows must always equal a rendering from scratch."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.geometry import Region

from tests.ui.test_chat_screen import SETTINGS, settle
from tui_chat.app import make_app
from tui_chat.models import AuthFailed
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.transcript import Transcript


class OneAnswer(App[None]):
    def compose(self) -> ComposeResult:
        with Transcript():
            yield MessageView("user", "a question")
            yield MessageView("assistant", status="streaming", id="answer")


def drawn(view: MessageView, fresh: bool) -> list[str]:
    if fresh:
        view._styles_cache.clear()
    width, height = view.size
    return [strip.text for strip in view.render_lines(Region(0, 0, width, height))]


async def test_a_growing_answer_always_shows_what_a_fresh_rendering_shows() -> None:
    app = OneAnswer()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one("#answer", MessageView)
        pieces = [f"word{i} " + ("\n\n" if i % 9 == 8 else "") for i in range(120)]
        pieces[40] = "\n\n```python\nx = 1\ny = 2\n```\n\n"
        heights = set()
        for piece in pieces:
            view.append(piece)
            view._flush()
            await pilot.pause()
            cached = drawn(view, fresh=False)
            assert cached == drawn(view, fresh=True)
            heights.add(view.size.height)
        assert len(heights) > 5  # it grew, many times, through the kept-lines path
        view.finish("done")
        await pilot.pause()
        assert drawn(view, fresh=False) == drawn(view, fresh=True)


async def test_a_flood_is_drawn_in_fewer_longer_frames_and_nothing_is_left_out() -> None:
    app = OneAnswer()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one("#answer", MessageView)
        view.append("a few words")
        view._flush()
        view.append(" more")  # within a frame of the last draw: waits for the next frame
        assert view._draw_budget() == MessageView.DRAW_BUDGET
        assert view._flush_timer is not None
        assert view._flush_wait <= MessageView.FRAME_INTERVAL
        view._flush()

        flood = "".join(f"word{i} " + ("\n\n" if i % 30 == 29 else "")
                        for i in range(3000))
        for start in range(0, len(flood), 500):  # far more than FLOOD_CHARS per frame
            view.append(flood[start:start + 500])
        view._flush()
        assert view._draw_budget() == MessageView.FLOOD_DRAW_BUDGET
        view.append(" tail")
        assert view._flush_timer is not None
        assert view._flush_wait > MessageView.FAST_FRAME_INTERVAL

        view.finish("done")
        await pilot.pause()
        assert view.drawn_chars == len(view.text)
        assert drawn(view, fresh=False) == drawn(view, fresh=True)
        assert view.text.endswith(" tail")


async def test_the_end_of_an_answer_is_shown_before_its_code_is_lexed_whole() -> None:
    app = OneAnswer()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one("#answer", MessageView)
        text = 'Code:\n\n```python\ns = """\nif x in y: pass\n"""\n```\n\nThe end.'
        for piece in text.split(" "):
            view.append(piece + " ")
            view._flush()
        view.finish("done")
        assert view._document.unlexed  # the last draw came first
        first = drawn(view, fresh=True)
        assert "The end." in "".join(first)
        await pilot.pause()
        await pilot.pause()
        assert not view._document.unlexed
        assert drawn(view, fresh=False) == drawn(view, fresh=True)
        fresh = MessageView("assistant", view.text, status="done")
        await app.query_one(Transcript).mount(fresh)
        await pilot.pause()
        width, height = view.size
        assert view.render_lines(Region(0, 0, width, height)) == \
            fresh.render_lines(Region(0, 0, width, height))


async def test_an_error_under_the_answer_wraps_in_full_at_80_columns() -> None:
    error = ("401: API key rejected by api.example.test; set OPENAI_API_KEY or pass "
             "--api-key-env NAME, or pick a profile with --profile (see tui-chat --help)")
    app = make_app(SETTINGS, ScriptedProvider(error=AuthFailed(error)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"hi", "enter")
        await settle(app, pilot)
        answer = list(app.screen.query(MessageView))[-1]
        assert answer.status == "failed"
        shown = [answer.render_line(y).text.rstrip() for y in range(answer.size.height)]
        assert all(len(line) <= answer.content_region.width for line in shown)
        assert "…" not in "".join(shown)
        words = " ".join(" ".join(shown).split())
        assert error in words and "ctrl+r retries" in words


def frames_for(view: MessageView, gaps: list[float]) -> list[tuple[float, float]]:
    """Append one chunk after each gap (seconds) on a made-up clock and draw whenever the view
    asks to: at once, or when its frame timer would fire. (time of each chunk, its wait)."""
    clock = [max(1000.0, view._appended_at, view._flushed_at)]
    view._now = lambda: clock[0]  # type: ignore[method-assign]
    due: float | None = None
    waits: list[tuple[float, float]] = []
    pending: list[float] = []

    def draw(at: float) -> float | None:
        nonlocal pending
        clock[0] = at
        view._flush()
        waits.extend((t, at - t) for t in pending)
        pending = []
        timer = view._flush_timer  # a draw that ran out of budget asks for another
        return at + view._flush_wait if view._flush_pending and timer is not None else None

    for gap in gaps:
        target = clock[0] + gap
        while due is not None and due <= target:  # the frame came before this chunk
            due = draw(due)
        clock[0] = target
        was_pending, was_timer = view._flush_pending, view._flush_timer
        view.append("word ")
        pending.append(target)
        timer = view._flush_timer
        if view._flush_pending and timer is None:  # a draw posted at once
            due = draw(target)
        elif timer is not None and (not was_pending or timer is not was_timer):
            due = target + view._flush_wait
    while due is not None:
        due = draw(due)
    return waits


async def test_the_frame_budget_follows_the_pace_of_the_chunks() -> None:
    app = OneAnswer()
    async with app.run_test(size=(60, 20)):
        view = app.query_one("#answer", MessageView)
        # 50 chunks a second for two seconds: at most 20 frames a second, none waits longer
        # than a frame.
        waits = frames_for(view, [0.5] + [0.02] * 100)
        frames = {round(t + wait, 6) for t, wait in waits}
        assert len(frames) <= 2 * 20 + 2  # both ends of the two seconds
        assert max(wait for _, wait in waits) <= MessageView.FRAME_INTERVAL + 1e-9
        # Slower than 20 a second, after a quiet spell: every chunk is drawn at once.
        waits = frames_for(view, [0.5] + [0.06] * 20 + [1.0, 0.3])
        assert [wait for _, wait in waits if wait] == []
        # Pouring in (500 a second): frames come more often, each with several chunks.
        waits = frames_for(view, [0.5] + [0.002] * 500)
        frames = {round(t + wait, 6) for t, wait in waits}
        assert 20 < len(frames) <= 1 / MessageView.FAST_FRAME_INTERVAL + 2


async def test_a_frame_rides_on_the_chunk_that_comes_once_its_interval_is_up() -> None:
    app = OneAnswer()
    async with app.run_test(size=(60, 20)):
        view = app.query_one("#answer", MessageView)
        # 50 chunks a second for two seconds: a frame waits for the first chunk after its
        # interval and draws it at once, with the two before it: three chunks a frame, none
        # waits longer than two chunks' gap. (Drawn when the interval was up, without the
        # chunk that came next: 20 frames a second, some chunks waiting a whole interval.)
        waits = frames_for(view, [0.5] + [0.02] * 100)
        frames = {round(t + wait, 6) for t, wait in waits}
        assert len(frames) <= 2 * 50 // 3 + 2
        # (The last two have no chunk after them: the timer draws them, as below.)
        assert max(wait for _, wait in waits[:-2]) <= 0.04 + 1e-9
        # A chunk that no other follows is still drawn within one interval.
        waits = frames_for(view, [0.5, 0.02, 0.03])
        assert max(wait for _, wait in waits) <= MessageView.FRAME_INTERVAL + 1e-9
        assert waits[-1][1] == 0.0  # the third chunk came after the interval: drawn at once
