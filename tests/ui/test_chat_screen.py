"""Pilot tests of the chat screen: keys in, widget state and requests out."""

from __future__ import annotations

import asyncio
import gc

from textual.widgets import TextArea

from tests.waiting import until
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.models import AuthFailed, Delta, Finished, Usage
from tui_chat.providers import make_provider
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.screens.chat import ChatScreen
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput
from tui_chat.widgets.status_bar import StatusBar

SETTINGS = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="test-model",
                         system="Be brief.")


class GatedProvider(ScriptedProvider):
    """Sends `first`, then waits for `gate` before sending `rest`: no timing races."""

    def __init__(self, first: list[str], rest: list[str]) -> None:
        super().__init__()
        self.first, self.rest = first, rest
        self.gate = asyncio.Event()
        self.sent_first = asyncio.Event()

    async def stream(self, messages, params):
        self.requests.append((list(messages), params))
        try:
            for text in self.first:
                yield Delta(text)
            self.sent_first.set()
            await self.gate.wait()
            for text in self.rest:
                yield Delta(text)
            yield Finished("stop")
        finally:
            self.closed += 1


def views(app) -> list[MessageView]:
    return list(app.screen.query(MessageView))


async def settle(app, pilot) -> None:
    async with asyncio.timeout(5):
        await app.workers.wait_for_complete()
    await pilot.pause()


async def test_input_has_focus_and_enter_sends_while_shift_enter_and_ctrl_j_add_lines() -> None:
    provider = ScriptedProvider([Delta("ok"), Finished("stop")])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        assert isinstance(app.focused, PromptInput)
        await pilot.press("h", "i", "shift+enter", "x", "ctrl+j", "y", "enter")
        await settle(app, pilot)
        messages, _ = provider.requests[0]
        assert messages[-1].content == "hi\nx\ny"
        assert app.query_one(PromptInput).text == ""


async def test_empty_or_blank_input_is_not_sent() -> None:
    provider = ScriptedProvider([Delta("ok"), Finished("stop")])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press("enter", "space", "space", "enter")
        await pilot.pause()
        assert provider.requests == []
        assert views(app) == []


async def test_an_answer_streams_in_and_shows_its_figures() -> None:
    text = "Hello **world**. Here is code:\n\n```python\nx = 1\n```\n"
    provider = ScriptedProvider([*(Delta(text[i:i + 5]) for i in range(0, len(text), 5)),
                                 Usage(12, 9), Finished("stop")])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press(*"hello", "enter")
        await settle(app, pilot)
        user, answer = views(app)
        assert user.role == "user" and user.text == "hello"
        assert answer.text == text
        assert answer.status == "done"
        footer = answer._footer_text()
        assert "9 tokens" in footer and "~" not in footer and "TTFT" in footer
        assert app.screen.phase == "done"
        assert app.query_one(StatusBar).figures.tokens == 9


async def test_each_request_sends_the_system_prompt_and_the_conversation_so_far() -> None:
    provider = ScriptedProvider([Delta("answer"), Finished("stop")])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press(*"one", "enter")
        await settle(app, pilot)
        await pilot.press(*"two", "enter")
        await settle(app, pilot)
        messages, params = provider.requests[1]
        assert [(m.role, m.content) for m in messages] == [
            ("system", "Be brief."), ("user", "one"), ("assistant", "answer"), ("user", "two")]
        assert params.model == "test-model"


async def test_pause_freezes_the_display_and_resume_shows_everything() -> None:
    provider = GatedProvider(["alpha "], ["beta ", "gamma"])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press(*"go", "enter")
        async with asyncio.timeout(5):
            await provider.sent_first.wait()
        await pilot.pause()
        await pilot.press("ctrl+s")
        assert app.screen.phase == "paused"
        provider.gate.set()
        async with asyncio.timeout(5):
            while provider.closed == 0:  # the network side finishes while paused
                await asyncio.sleep(0.01)
        await pilot.pause()
        answer = views(app)[-1]
        assert answer.text == "alpha "
        async with asyncio.timeout(5):  # the status bar catches up at its own pace
            while app.query_one(StatusBar).figures.buffered_chars != len("beta gamma"):
                await pilot.pause(0.05)
        assert answer.text == "alpha "
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert answer.text == "alpha beta gamma"
        assert answer.status == "done"


async def test_escape_cancels_keeps_the_partial_answer_and_frees_the_input() -> None:
    provider = GatedProvider(["partial ", "text"], ["never shown"])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press(*"go", "enter")
        async with asyncio.timeout(5):
            await provider.sent_first.wait()
        await pilot.pause()
        await pilot.press("escape")
        await settle(app, pilot)
        answer = views(app)[-1]
        assert answer.status == "cancelled"
        assert answer.text == "partial text"
        assert "cancelled" in answer._footer_text()
        assert provider.closed == 1
        assert app.screen.phase == "cancelled"
        assert isinstance(app.focused, TextArea)
        # The kept partial answer is part of the conversation.
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        assert screen.history[-1].content == "partial text"


async def test_retry_replaces_the_last_answer() -> None:
    provider = ScriptedProvider([Delta("first answer"), Finished("stop")])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press(*"q", "enter")
        await settle(app, pilot)
        provider.events = [Delta("second answer"), Finished("stop")]
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert [v.role for v in views(app)] == ["user", "assistant"]
        assert views(app)[-1].text == "second answer"
        messages, _ = provider.requests[1]
        assert [m.role for m in messages] == ["system", "user"]
        assert [m.role for m in app.screen.history] == ["user", "assistant"]


async def test_retry_works_after_a_cancel_mid_stream() -> None:
    provider = GatedProvider(["half"], ["rest"])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press(*"q", "enter")
        async with asyncio.timeout(5):
            await provider.sent_first.wait()
        provider.gate.set()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert [v.role for v in views(app)] == ["user", "assistant"]
        assert views(app)[-1].text == "halfrest"
        assert views(app)[-1].status == "done"


async def test_a_provider_error_is_one_line_in_the_message_and_the_status_bar() -> None:
    provider = ScriptedProvider([], error=AuthFailed("401: API key rejected by example"))
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press(*"hi", "enter")
        await settle(app, pilot)
        answer = views(app)[-1]
        assert answer.status == "failed"
        assert "401: API key rejected" in answer._footer_text()
        assert "401: API key rejected" in app.query_one(StatusBar).figures.message
        assert app.screen.phase == "failed"
        # Still usable: the next prompt goes out.
        provider.error = None
        provider.events = [Delta("fine"), Finished("stop")]
        await pilot.press(*"again", "enter")
        await settle(app, pilot)
        assert views(app)[-1].text == "fine"


async def test_quit_while_streaming_cancels_and_keeps_the_answer() -> None:
    provider = GatedProvider(["kept"], ["never"])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press(*"q", "enter")
        async with asyncio.timeout(5):
            await provider.sent_first.wait()
        screen = app.screen
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert screen.history[-1].content == "kept"
    assert provider.closed == 1


async def test_model_output_cannot_send_escape_sequences_to_the_terminal() -> None:
    payload = "ok \x1b]52;c;SGVsbG8=\x07 then \x1b[2J and \x9b2J \x1b]0;PWNED\x1b\\ done"
    provider = ScriptedProvider([Delta(payload), Finished("stop")])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.press(*"x", "enter")
        await settle(app, pilot)
        frame = app.screen._compositor.render_full_update().render_segments(app.console)
        for bad in ("\x1b]52", "\x1b[2J", "\x9b", "\x1b]0;", "\x07"):
            assert bad not in frame
        assert "␛]52;c;SGVsbG8=" in frame


async def test_scrolling_up_stops_following_and_says_new_text_is_below() -> None:
    long_text = "".join(f"line {i}\n\n" for i in range(60))
    provider = GatedProvider([long_text], ["more text arriving\n\n" * 20])
    app = make_app(SETTINGS, provider)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"go", "enter")
        async with asyncio.timeout(5):
            await provider.sent_first.wait()
        transcript = app.screen.transcript
        await until(pilot, lambda: "line 59" in views(app)[-1].text
                    and 0 < transcript.max_scroll_y == transcript.scroll_y,
                    what="the first text drawn, scrolled to its end")  # following
        transcript.scroll_to(y=0, animate=False)
        await pilot.pause()
        first_height = transcript.max_scroll_y
        provider.gate.set()
        await until(pilot, lambda: app.screen.phase == "done"
                    and transcript.max_scroll_y > first_height,
                    what="the rest drawn below")
        await pilot.pause()  # a frame after it, where following would have scrolled
        assert transcript.scroll_y == 0  # stays where the person is reading
        assert app.screen.query_one("#new-below").display
        await pilot.press("ctrl+end")
        await settle(app, pilot)
        assert transcript.scroll_y == transcript.max_scroll_y
        assert not app.screen.query_one("#new-below").display


async def test_the_footer_follows_the_phase_without_being_rebuilt() -> None:
    from tui_chat.compat.textual_hooks import FooterKey
    from tui_chat.widgets.key_footer import KeyFooter

    provider = GatedProvider(["first "], ["rest"])
    app = make_app(SETTINGS, provider)
    async with app.run_test() as pilot:
        await pilot.pause()
        footer = app.screen.query_one(KeyFooter)

        def keys() -> dict[str, FooterKey]:
            return {key.action: key for key in footer.query(FooterKey)}

        before = keys()
        assert before["cancel"].has_class("-disabled")  # nothing to cancel yet
        await pilot.press("h", "i", "enter")
        await provider.sent_first.wait()
        await pilot.pause()
        streaming = keys()
        assert not streaming["cancel"].has_class("-disabled")
        assert streaming["cancel"]._disabled is False
        # The very same key widgets: updated, not composed again.
        assert all(streaming[action] is key for action, key in before.items())
        provider.gate.set()
        await settle(app, pilot)
        assert keys()["cancel"].has_class("-disabled")
        assert not keys()["retry"].has_class("-disabled")


async def test_what_the_warm_up_builds_is_kept_out_of_full_collections() -> None:
    provider = make_provider(SETTINGS, deferred=True)
    app = make_app(SETTINGS, provider)
    async with app.run_test():
        async with asyncio.timeout(20):  # built, and the worker gone once it has finished
            while provider._provider is None or any(
                    worker.group == "warm-up" for worker in app.workers):
                await asyncio.sleep(0.05)
        built = provider._provider
        assert built is not None
        # Frozen objects are not among those a collection scans.
        assert all(obj is not built for obj in gc.get_objects())


async def test_the_prompt_gets_focus_when_the_app_gets_focus_and_nothing_has_it() -> None:
    """A browser tab starts the app blurred, before the screen could auto-focus the prompt;
    the first focus (or key) from the browser must land in the prompt."""
    from textual import events

    app = make_app(SETTINGS, ScriptedProvider([Delta("ok"), Finished("stop")]))
    async with app.run_test() as pilot:
        app.screen.set_focus(None)  # the blur comes before the screen's auto-focus
        app.post_message(events.AppBlur())
        await pilot.pause()
        assert app.focused is None
        app.post_message(events.AppFocus())
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.focused, PromptInput)
        await pilot.press("h", "i")
        assert app.focused.text == "hi"
