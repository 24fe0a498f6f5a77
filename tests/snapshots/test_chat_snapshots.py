"""SVG snapshots of the chat screen, grouped by feature; each test says what its picture shows.

Sync tests: snap_compare runs its own loop. The clock is frozen and the cursor does not blink, so
a picture changes only when the look does (then: `--snapshot-update`, and look at the SVG).
"""

from __future__ import annotations

import asyncio

from textual.command import CommandList

from tests.waiting import until
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.models import AuthFailed, Delta, Finished, Usage
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput
from tui_chat.widgets.queued_prompts import QueuedPrompts
from tui_chat.widgets.status_bar import StatusBar

SIZE = (90, 34)
SETTINGS = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="snapshot-model")

ANSWER = """## Sorting in Python

Use `sorted()` for a new list, or **`list.sort()`** in place:

```python
def by_length(words: list[str]) -> list[str]:
    # shortest first, ties keep their order
    return sorted(words, key=len)
```

| method | returns | stable |
|---|---|---|
| `sorted()` | new list | yes |
| `list.sort()` | `None` | yes |

Wide text wraps too: 日本語のテキストと中文文本 🙂.
"""


def frozen_clock() -> float:
    return 1000.0


class HeldProvider(ScriptedProvider):
    """Sends some text, then holds the stream open until the app ends."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    async def stream(self, messages, params):
        yield Delta(self.text)
        await asyncio.Event().wait()


def app_with(provider: ScriptedProvider):
    return make_app(SETTINGS, provider, clock=frozen_clock)


async def ask(pilot, *, wait: bool = True) -> None:
    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.cursor_blink = False
    # Typed keys go to whatever has focus: wait for the prompt to have it, not for luck.
    await until(pilot, lambda: pilot.app.focused is prompt, what="the prompt to have focus")
    await pilot.press(*"How do I sort?", "enter")
    if wait:
        async with asyncio.timeout(10):
            await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def ask_and_hold(pilot) -> None:
    """Ask, and wait until the held answer's text is on screen and counted in the status bar."""
    await ask(pilot, wait=False)
    screen = pilot.app.screen
    await until(pilot, lambda: any(v.text for v in screen.query(MessageView)
                                   if v.role == "assistant")
                and screen.query_one(StatusBar).figures.tokens > 0, what="the held answer")
    await pilot.pause()


def _themed(theme: str):
    provider = ScriptedProvider([*(Delta(ANSWER[i:i + 9]) for i in range(0, len(ANSWER), 9)),
                                 Usage(20, 96), Finished("stop")])
    return make_app(load_settings(None, {}, base_url="http://127.0.0.1:9/v1",
                                  model="snapshot-model", theme=theme),
                    provider, clock=frozen_clock)


LONG_ERROR = ("401: API key rejected by api.example.test; set OPENAI_API_KEY or pass "
              "--api-key-env NAME, or pick a profile with --profile (see tui-chat --help)")


class TestEmptyConversation:
    """Before the first question: what the screen offers a newcomer."""

    def test_empty_screen(self, snap_compare) -> None:
        """The transcript, the empty prompt, the status bar (model, ready) and the key footer."""

        async def run_before(pilot) -> None:
            pilot.app.screen.query_one(PromptInput).cursor_blink = False

        assert snap_compare(app_with(ScriptedProvider()), terminal_size=SIZE,
                            run_before=run_before)

    def test_first_launch_welcome_at_80x24(self, snap_compare) -> None:
        """An empty conversation says where questions go, how to change that, F1 and Ctrl+P; a
        missing key is a line of the welcome, not a toast over the input."""
        from tui_chat.providers import missing_key_message

        app = make_app(SETTINGS, ScriptedProvider(), clock=frozen_clock,
                       startup_notices=[missing_key_message(SETTINGS)])

        async def run_before(pilot) -> None:
            pilot.app.screen.query_one(PromptInput).cursor_blink = False
            await pilot.pause()

        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


class TestAnswerStates:
    """One answer through its states: the message's mark and footer, and the status bar."""

    def test_streaming_answer(self, snap_compare) -> None:
        """Text still arriving: the cursor at its end, "streaming" and the live count below."""
        provider = HeldProvider("Streaming *now*: the first words of an answer")
        assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=ask_and_hold)

    def test_messages_queued_while_an_answer_streams_at_80x24(self, snap_compare) -> None:
        """Two messages sent while the answer streams wait in the strip above the input, in
        order, with the count and how to take the newest back (Up)."""

        async def run_before(pilot) -> None:
            await ask_and_hold(pilot)
            for text in ("and in reverse?", "and for a dict by value?"):
                await pilot.press(*text, "enter")
            await until(pilot, lambda: pilot.app.screen.query_one(QueuedPrompts).texts == [
                "and in reverse?", "and for a dict by value?"], what="the queue")
            await pilot.pause()

        provider = HeldProvider("Use `sorted(items, key=len)`.")
        assert snap_compare(app_with(provider), terminal_size=(80, 24), run_before=run_before)

    def test_paused_answer(self, snap_compare) -> None:
        """Ctrl+S froze the display: the status bar says paused, how much is buffered, and
        how to resume."""

        async def run_before(pilot) -> None:
            await ask_and_hold(pilot)
            await pilot.press("ctrl+s")
            await pilot.pause()

        provider = HeldProvider("Paused here: the display is frozen")
        assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=run_before)

    def test_cancelled_answer(self, snap_compare) -> None:
        """Esc stopped it: the text so far is kept, marked cancelled."""

        async def run_before(pilot) -> None:
            await ask_and_hold(pilot)
            await pilot.press("escape")
            async with asyncio.timeout(10):
                await pilot.app.workers.wait_for_complete()
            await pilot.pause()

        provider = HeldProvider("This answer was cut short by the person")
        assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=run_before)

    def test_finished_answer_with_code_and_table(self, snap_compare) -> None:
        """A whole answer: heading, inline code, a highlighted code block, a table, wide
        characters; the figures under it."""
        provider = ScriptedProvider([*(Delta(ANSWER[i:i + 7]) for i in range(0, len(ANSWER), 7)),
                                     Usage(20, 96), Finished("stop")])
        assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=ask)

    def test_error_answer(self, snap_compare) -> None:
        """A request that failed before any text: one line saying why, and that Ctrl+R
        retries."""
        provider = ScriptedProvider(error=AuthFailed(
            "401: API key rejected by api.example.test; set OPENAI_API_KEY or api_key_env"))
        assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=ask)

    def test_long_error_wraps_in_full_at_80x24(self, snap_compare) -> None:
        """An error line longer than the screen is wrapped, never cut, at the smallest size."""
        assert snap_compare(app_with(ScriptedProvider(error=AuthFailed(LONG_ERROR))),
                            terminal_size=(80, 24), run_before=ask)


class TestScreensOverTheChat:
    """What opens over the chat: help, the model picker, the command palette."""

    def test_help_screen(self, snap_compare) -> None:
        """F1: every key of the chat screen, generated from its bindings."""

        async def run_before(pilot) -> None:
            pilot.app.screen.query_one(PromptInput).cursor_blink = False
            await pilot.press("f1")
            await pilot.pause()

        assert snap_compare(app_with(ScriptedProvider()), terminal_size=SIZE,
                            run_before=run_before)

    def test_model_picker(self, snap_compare) -> None:
        """F2: the endpoint's models, filtered by what was typed ("7b")."""

        async def run_before(pilot) -> None:
            pilot.app.screen.query_one(PromptInput).cursor_blink = False
            await pilot.press("f2")
            await until(pilot, lambda: bool(pilot.app.screen.query("#picker-list")),
                        what="the picker")
            async with asyncio.timeout(10):
                await pilot.app.screen.workers.wait_for_complete()
            await pilot.press(*"7b")
            await pilot.pause()
            pilot.app.screen.query_one("#picker-filter").cursor_blink = False
            await pilot.pause()

        provider = ScriptedProvider(models=["llama3.2:3b", "qwen2.5:7b", "mistral:7b", "phi4"])
        assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=run_before)

    def test_command_palette(self, snap_compare) -> None:
        """Ctrl+P, "chat" typed: the app's own commands that match, over the chat."""

        async def run_before(pilot) -> None:
            pilot.app.screen.query_one(PromptInput).cursor_blink = False
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"chat")
            await pilot.pause()  # the last keystroke's search has started
            async with asyncio.timeout(10):
                await pilot.app.workers.wait_for_complete()
            await until(pilot, lambda: pilot.app.screen.query_one(CommandList).option_count > 0,
                        what="the palette's matches")
            for field in pilot.app.screen.query("Input"):
                field.cursor_blink = False
            await pilot.pause()

        assert snap_compare(app_with(ScriptedProvider()), terminal_size=SIZE,
                            run_before=run_before)


class TestThemes:
    """The finished answer of TestAnswerStates in a shipped theme: every colour from the theme."""

    def test_dark_theme_harbour(self, snap_compare) -> None:
        """harbour, dark: text, code and table colours from its variables."""
        assert snap_compare(_themed("harbour"), terminal_size=SIZE, run_before=ask)

    def test_light_theme_paper(self, snap_compare) -> None:
        """paper, light: readable on a light background, code included."""
        assert snap_compare(_themed("paper"), terminal_size=SIZE, run_before=ask)
