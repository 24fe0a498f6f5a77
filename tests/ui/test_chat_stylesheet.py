"""The chat screen's own stylesheet (screens/chat.tcss) applies. Textual does not load the
CSS_PATH of the screen an app gets from get_default_screen(), so the app lists it itself; for
a long time its rules silently did nothing (the welcome drew without its bar)."""

from __future__ import annotations

from tui_chat.app import make_app
from tui_chat.config import Settings
from tui_chat.providers.scripted import ScriptedProvider


async def test_the_chat_screens_rules_style_its_widgets() -> None:
    app = make_app(Settings(), ScriptedProvider())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        new_below = app.screen.query_one("#new-below")
        assert new_below.styles.height is not None and new_below.styles.height.value == 1
        welcome = app.screen.query_one("#welcome")
        assert welcome.styles.border_left[0] == "outer"
        assert welcome.styles.padding.left == 1
