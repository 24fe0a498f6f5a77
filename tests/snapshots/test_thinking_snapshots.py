"""SVG snapshots of an answer's thinking section at 80x24: folded (as it ends up once the
answer starts) and unfolded (t on the focused answer)."""

from __future__ import annotations

import asyncio

from tests.waiting import until
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.models import Delta, Finished, ReasoningDelta, Usage
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.prompt_input import PromptInput

SIZE = (80, 24)
SETTINGS = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="snapshot-model")
THINKING = ("The person asks how to sort words by length. `sorted()` with `key=len` does it, "
            "and it is stable, so ties keep their order. ", "I should show both forms.")
ANSWER = "Use `sorted(words, key=len)` for a new list, or `words.sort(key=len)` in place."


def provider() -> ScriptedProvider:
    return ScriptedProvider([*(ReasoningDelta(t, 40) for t in THINKING),
                             *(Delta(w + " ") for w in ANSWER.split(" ")),
                             Usage(20, 120), Finished("stop")])


async def ask(pilot) -> None:
    prompt = pilot.app.screen.query_one(PromptInput)
    prompt.cursor_blink = False
    # Typed keys go to whatever has focus: wait for the prompt to have it, not for luck.
    await until(pilot, lambda: pilot.app.focused is prompt, what="the prompt to have focus")
    await pilot.press(*"Sort by length?", "enter")
    async with asyncio.timeout(10):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_thinking_folded(snap_compare) -> None:
    """Once the answer starts, the thinking folds to one line: "Thought for … · N tokens"."""
    app = make_app(SETTINGS, provider(), clock=lambda: 1000.0)
    assert snap_compare(app, terminal_size=SIZE, run_before=ask)


def test_thinking_unfolded(snap_compare) -> None:
    """t on the focused answer unfolds the thinking above it, drawn apart from the answer."""
    async def run_before(pilot) -> None:
        await ask(pilot)
        view = [v for v in pilot.app.screen.query(MessageView) if v.role == "assistant"][-1]
        view.focus()
        await pilot.press("t")
        await pilot.pause()

    app = make_app(SETTINGS, provider(), clock=lambda: 1000.0)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
