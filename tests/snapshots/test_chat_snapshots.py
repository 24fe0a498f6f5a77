"""SVG snapshots of the chat screen in each state. Sync tests: snap_compare runs its own loop."""

from __future__ import annotations

import asyncio

from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.models import AuthFailed, Delta, Finished, Usage
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput

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
    pilot.app.screen.query_one(PromptInput).cursor_blink = False
    await pilot.press(*"How do I sort?", "enter")
    if wait:
        async with asyncio.timeout(10):
            await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def ask_and_hold(pilot) -> None:
    await ask(pilot, wait=False)
    async with asyncio.timeout(10):
        while not any(v.text for v in pilot.app.screen.query(MessageView) if v.role == "assistant"):
            await pilot.pause(0.02)
    await pilot.pause(0.1)


def test_empty_screen(snap_compare) -> None:
    async def run_before(pilot) -> None:
        pilot.app.screen.query_one(PromptInput).cursor_blink = False

    assert snap_compare(app_with(ScriptedProvider()), terminal_size=SIZE, run_before=run_before)


def test_finished_answer_with_code_and_table(snap_compare) -> None:
    provider = ScriptedProvider([*(Delta(ANSWER[i:i + 7]) for i in range(0, len(ANSWER), 7)),
                                 Usage(20, 96), Finished("stop")])
    assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=ask)


def test_streaming_answer(snap_compare) -> None:
    provider = HeldProvider("Streaming *now*: the first words of an answer")
    assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=ask_and_hold)


def test_paused_answer(snap_compare) -> None:
    async def run_before(pilot) -> None:
        await ask_and_hold(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()

    provider = HeldProvider("Paused here: the display is frozen")
    assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=run_before)


def test_cancelled_answer(snap_compare) -> None:
    async def run_before(pilot) -> None:
        await ask_and_hold(pilot)
        await pilot.press("escape")
        async with asyncio.timeout(10):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    provider = HeldProvider("This answer was cut short by the person")
    assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=run_before)


def test_error_answer(snap_compare) -> None:
    provider = ScriptedProvider(error=AuthFailed(
        "401: API key rejected by api.example.test; set OPENAI_API_KEY or api_key_env"))
    assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=ask)


def test_help_screen(snap_compare) -> None:
    async def run_before(pilot) -> None:
        pilot.app.screen.query_one(PromptInput).cursor_blink = False
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app_with(ScriptedProvider()), terminal_size=SIZE, run_before=run_before)


def test_model_picker(snap_compare) -> None:
    async def run_before(pilot) -> None:
        pilot.app.screen.query_one(PromptInput).cursor_blink = False
        await pilot.press("f2")
        async with asyncio.timeout(10):
            while not pilot.app.screen.query("#picker-list"):
                await pilot.pause(0.02)
            await pilot.app.screen.workers.wait_for_complete()
        await pilot.press(*"7b")
        await pilot.pause()
        pilot.app.screen.query_one("#picker-filter").cursor_blink = False
        await pilot.pause()

    provider = ScriptedProvider(models=["llama3.2:3b", "qwen2.5:7b", "mistral:7b", "phi4"])
    assert snap_compare(app_with(provider), terminal_size=SIZE, run_before=run_before)


def test_command_palette(snap_compare) -> None:
    async def run_before(pilot) -> None:
        pilot.app.screen.query_one(PromptInput).cursor_blink = False
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"chat")
        await pilot.pause(0.3)
        for field in pilot.app.screen.query("Input"):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app_with(ScriptedProvider()), terminal_size=SIZE, run_before=run_before)


def _themed(theme: str):
    provider = ScriptedProvider([*(Delta(ANSWER[i:i + 9]) for i in range(0, len(ANSWER), 9)),
                                 Usage(20, 96), Finished("stop")])
    return make_app(load_settings(None, {}, base_url="http://127.0.0.1:9/v1",
                                  model="snapshot-model", theme=theme),
                    provider, clock=frozen_clock)


def test_dark_theme_harbour(snap_compare) -> None:
    assert snap_compare(_themed("harbour"), terminal_size=SIZE, run_before=ask)


def test_light_theme_paper(snap_compare) -> None:
    assert snap_compare(_themed("paper"), terminal_size=SIZE, run_before=ask)


LONG_ERROR = ("401: API key rejected by api.example.test; set OPENAI_API_KEY or pass "
              "--api-key-env NAME, or pick a profile with --profile (see tui-chat --help)")


def test_long_error_wraps_in_full_at_80x24(snap_compare) -> None:
    assert snap_compare(app_with(ScriptedProvider(error=AuthFailed(LONG_ERROR))),
                        terminal_size=(80, 24), run_before=ask)


def test_first_launch_welcome_at_80x24(snap_compare) -> None:
    """An empty conversation says where questions go, how to change that, F1 and Ctrl+P; a
    missing key is a line of the welcome, not a toast over the input."""
    from tui_chat.providers import missing_key_message

    app = make_app(SETTINGS, ScriptedProvider(), clock=frozen_clock,
                   startup_notices=[missing_key_message(SETTINGS)])

    async def run_before(pilot) -> None:
        pilot.app.screen.query_one(PromptInput).cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
