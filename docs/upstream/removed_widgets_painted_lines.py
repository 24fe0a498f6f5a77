"""Textual 8.2.8: a removed widget's painted lines stay alive, up to 1,024 widgets' worth.
StylesCache.get_inner_outer is an lru_cache on a method, so its key holds the StylesCache
(and the painted lines in it) of every widget that painted, after the widget is gone.
Run: python docs/upstream/removed_widgets_painted_lines.py -> prints how many lines the 200
removed widgets still hold (expected 0)."""

import asyncio
import gc

from textual.app import App
from textual.strip import Strip
from textual.widgets import Static


def strips() -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if isinstance(thing, Strip))


class Demo(App[None]):
    CSS = "Static { height: 5; }"


async def main() -> None:
    async with Demo().run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        before = strips()
        for round_ in range(40):
            widgets = [Static(f"widget {round_}.{n}") for n in range(5)]
            await pilot.app.screen.mount_all(widgets)
            await pilot.pause()  # painted
            await pilot.app.screen.remove_children()
        await pilot.pause()
        kept = strips() - before
    print("fixed upstream" if kept < 50 else f"200 removed widgets still hold {kept} lines")


asyncio.run(main())
