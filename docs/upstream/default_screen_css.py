"""Textual 8.2.8: the CSS_PATH of the screen returned by App.get_default_screen() is never
loaded (App._init_mode does not call _load_screen_css for it, as push_screen and switch_mode
do). Run: python docs/upstream/default_screen_css.py -> prints "height: auto" (expected 3)."""

import tempfile
from pathlib import Path

from textual.app import App
from textual.screen import Screen
from textual.widgets import Static

css = Path(tempfile.mkdtemp()) / "main.tcss"
css.write_text("MainScreen #box { height: 3; }\n")


class MainScreen(Screen[None]):
    CSS_PATH = str(css)

    def compose(self):
        yield Static("box", id="box")


class Demo(App[None]):
    def get_default_screen(self) -> Screen[None]:
        return MainScreen()


async def main() -> None:
    async with Demo().run_test() as pilot:
        await pilot.pause()
        box = pilot.app.screen.query_one("#box")
        print("height:", box.styles.height or "auto", "(expected 3)")


if __name__ == "__main__":
    import asyncio

    asyncio.run(main())
