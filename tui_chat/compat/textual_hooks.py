"""Every private name of Textual and Rich the app uses: imported here, checked here.

Each hook is registered with `tui_chat.compat` when this module is imported (at start-up,
before the first screen): the private names it needs must exist with the parameters written
below, which are the ones of Textual 8.2.8 / Rich 14-15 that the hooks were written against.
A hook that does not fit is left out (see `tui_chat.compat`), and the app draws, paces, sizes,
parses and shows keys the way stock Textual does.

Other modules import private names from here only (ruff's PLC2701 allows them in this file
alone); a hook module whose base class is private (`compositor.py`) is itself imported only
once its hook fits.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.cache import FIFOCache
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer

from tui_chat.compat import (
    Hook,
    Misfit,
    attribute,
    fits,
    is_property,
    params,
    ran,
    register,
    sets,
    signature,
)

if TYPE_CHECKING:
    from tui_chat.compositor import RowCompositor

_import_errors: dict[str, str] = {}

try:
    from textual._compositor import ChopsUpdate, Compositor, CompositorUpdate, LayoutUpdate
except ImportError as error:  # pragma: no cover - a Textual that moved it
    _import_errors["compositor"] = f"textual._compositor: {error}"

try:
    from textual._time import get_time, sleep
except ImportError as error:  # pragma: no cover - a Textual that moved it
    _import_errors["frame_timer"] = f"textual._time: {error}"
    get_time = time.monotonic

    async def sleep(secs: float) -> None:
        await asyncio.sleep(secs)

try:
    from textual._xterm_parser import XTermParser
except ImportError as error:  # pragma: no cover - a Textual that moved it
    _import_errors["paste_guard"] = f"textual._xterm_parser: {error}"

try:
    from textual.widgets._footer import FooterKey
except ImportError as error:  # pragma: no cover - a Textual that moved it
    _import_errors["footer"] = f"textual.widgets._footer: {error}"

# For tests only: run a timer's callback outside a running app, and Rich's 256-colour table.
from rich._palettes import EIGHT_BIT_PALETTE  # noqa: E402
from textual._context import active_app  # noqa: E402

DRIVER_MODULES = ("textual.drivers.linux_driver", "textual.drivers.linux_inline_driver",
                  "textual.drivers.web_driver")
"""The drivers that build an XTermParser by that name (Windows reads keys another way first)."""

T = TypeVar("T", bound=type)


def _imported(hook: str) -> None:
    if hook in _import_errors:
        raise Misfit(f"cannot import {_import_errors[hook]}")


# -- the hooks -------------------------------------------------------------------------------

def _check_compositor() -> None:
    _imported("compositor")
    signature(Compositor, "_get_renders", ("self", "crop=None"))
    signature(Compositor, "render_update",
              ("self", "full=False", "screen_stack=None", "simplify=False"))
    attribute(Compositor, "visible_widgets")
    signature(ChopsUpdate, "__init__", ("self", "chops", "spans", "chop_ends"))
    sets(ChopsUpdate.__init__, ("chops", "spans", "chop_ends"))
    signature(LayoutUpdate, "__init__", ("self", "strips", "region"))
    sets(LayoutUpdate.__init__, ("strips", "region"))
    signature(CompositorUpdate, "render_segments", ("self", "console"))
    signature(Widget, "render_lines", ("self", "crop"))
    if "_ansi" not in Style.__slots__:
        raise Misfit("rich.style.Style._ansi is gone")
    sets(Console.__init__, ("_color_system",))
    sets(Screen.__init__, ("_compositor",))


COMPOSITOR = register(Hook(
    "compositor",
    uses="textual._compositor.Compositor (subclassed), its _get_renders and render_update; "
         "ChopsUpdate/LayoutUpdate fields; rich Style._ansi, Console._color_system; "
         "Screen._compositor (swapped)",
    why="renders only the rows being updated and sends only the cells that changed, "
        "scrolling with the terminal's own scroll region (compositor.py)",
    public="none exists; Textual's compositor writes whole dirty lines (as --full-redraw)",
    liveness=("compositor.rows", "compositor.diff"),
), _check_compositor)


def _check_frame_timer() -> None:
    _imported("frame_timer")
    signature(Timer, "_run", ("self",))
    signature(Timer, "_tick", ("self", "*next_timer", "*count"))
    signature(Timer, "_start", ("self",))
    attribute(Timer, "_active")
    sets(Timer.__init__, ("_interval", "_repeat"))
    is_property(Screen, "_update_timer")
    signature(Screen, "_on_timer_update", ("self",))
    sets(MessagePump.__init__, ("_timers",))
    if not callable(get_time) or params(sleep) != ("secs",):
        raise Misfit("textual._time.get_time()/sleep(secs) changed")


FRAME_TIMER = register(Hook(
    "frame_timer",
    uses="textual._time.get_time/sleep; Timer._run/_tick/_start/_active/_interval/_repeat; "
         "Screen._update_timer (overridden), Screen._on_timer_update, MessagePump._timers",
    why="Textual's repeating timer lands a grid point late after a late tick, and a timer "
        "started paused ticks a whole interval after its first resume(); a key typed while an "
        "answer streams waited up to 30 ms to be drawn instead of 13 (frame_timer.py, "
        "docs/UPSTREAM.md)",
    public="a fixed Textual (see docs/UPSTREAM.md); meanwhile Screen's own update timer",
    liveness=("frame_timer",),
), _check_frame_timer)


def _check_size() -> None:
    signature(Widget, "_size_updated",
              ("self", "size", "virtual_size", "container_size", "layout=True"))
    signature(Widget, "_exchange_repaint_regions", ("self",))
    sets(Widget.__init__, ("_size", "_vertical_scrollbar"))


SIZE = register(Hook(
    "size",
    uses="Widget._size_updated (overridden), Widget._size, Widget._exchange_repaint_regions, "
         "ScrollableContainer._vertical_scrollbar",
    why="a resized message view or transcript is repainted in the frame that laid it out, "
        "not again in the next two (a third of a streaming jump's bytes); a height-only change "
        "keeps the rendered lines",
    public="Textual's Line API (one ScrollView with render_line/virtual_size/refresh_lines, "
           "as textual.widgets.Log) for the transcript; meanwhile Widget's own _size_updated",
    liveness=("size.message_view", "size.transcript"),
), _check_size)


def _check_paste_guard() -> None:
    _imported("paste_guard")
    signature(XTermParser, "feed", ("self", "data"))
    signature(XTermParser, "_sequence_to_key_events", ("self", "sequence", "alt=False"))
    for name in DRIVER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a driver this platform cannot load does not read input here
            continue
        if getattr(module, "XTermParser", None) is not XTermParser:
            raise Misfit(f"{name} no longer builds its parser as XTermParser")


PASTE_GUARD = register(Hook(
    "paste_guard",
    uses="textual._xterm_parser.XTermParser (subclassed, and swapped into the drivers), "
         "its feed",
    why="Textual's parser ends a bracketed paste at the first ESC inside it and replays the "
        "rest as key presses (a pasted CR sends the prompt, a pasted Ctrl+Q quits) "
        "(paste_guard.py, docs/UPSTREAM.md)",
    public="a fixed Textual (see docs/UPSTREAM.md); meanwhile the stock parser",
    liveness=("paste_guard",),
), _check_paste_guard)


def _check_footer() -> None:
    _imported("footer")
    signature(Footer, "bindings_changed", ("self", "screen"))
    init = params(FooterKey.__init__)
    if init[:5] != ("self", "key", "key_display", "description", "action"):
        raise Misfit(f"FooterKey.__init__{init} changed")
    sets(FooterKey.__init__, ("_disabled",))


FOOTER = register(Hook(
    "footer",
    uses="textual.widgets._footer.FooterKey, FooterKey._disabled; Footer.bindings_changed "
         "(overridden)",
    why="the footer changes its keys in place when only which apply changed, instead of "
        "rebuilding a dozen widgets three times an answer (a tenth of the CPU of an answer)",
    public="a public FooterKey.disabled (or a Footer that diffs); meanwhile Footer rebuilds",
    liveness=("footer",),
), _check_footer)


_STRIP_CACHES: dict[str, int] = {}
"""The caches a Strip makes in __init__, by slot, with their sizes (filled by the check)."""
_STRIP_VALUES = ("_segments", "_cell_length")


def _check_lean_strip() -> None:
    template = Strip([])
    slots = attribute(Strip, "__slots__")
    caches = {name: getattr(template, name) for name in slots
              if isinstance(getattr(template, name, None), FIFOCache)}
    if not caches:
        raise Misfit("Strip makes no FIFOCache in __init__ any more")
    for name in slots:
        if name not in caches and name not in _STRIP_VALUES \
                and getattr(template, name, 0) is not None:
            raise Misfit(f"Strip.{name} does not start as None")
    sets(Strip.__init__, _STRIP_VALUES)
    _STRIP_CACHES.update({name: attribute(cache, "_maxsize") for name, cache in caches.items()})


LEAN_STRIP = register(Hook(
    "lean_strip",
    uses="textual.strip.Strip's slots (a subclass that fills its seven FIFOCache slots on "
         "first use instead of in __init__)",
    why="a long answer keeps a Strip for every line it drew, and an empty Strip is mostly its "
        "seven caches (about 1 kB): a 2 MB answer held 20,000 of them (render/document.py)",
    public="none exists (Strip has no lazy caches); meanwhile lines are plain Strips",
    liveness=("lean_strip",),
), _check_lean_strip)


class LeanStrip(Strip):
    """A Strip whose caches are made when first used: most lines of a long answer are drawn
    once and never cropped, styled or divided again."""

    __slots__ = ()

    def __init__(self, segments: list[Segment], cell_length: int | None) -> None:
        self._segments = segments
        self._cell_length = cell_length
        for name in Strip.__slots__:
            if name not in _STRIP_CACHES and name not in _STRIP_VALUES:
                setattr(self, name, None)

    def __getattr__(self, name: str) -> Any:
        size = _STRIP_CACHES.get(name)
        if size is None:
            raise AttributeError(name)
        cache: FIFOCache[Any, Any] = FIFOCache(size)
        setattr(self, name, cache)
        return cache


def lean(strips: list[Strip]) -> list[Strip]:
    """`strips` as lean strips (the same lines), when that hook fits; else as they are."""
    if not LEAN_STRIP:
        return strips
    count("lean_strip")
    return [LeanStrip(list(strip), strip.cell_length) for strip in strips]


def _check_strip_divide() -> None:
    signature(Strip, "divide", ("self", "cuts"))
    if not isinstance(inspect.getattr_static(Strip, "cell_length", None), property):
        raise Misfit("Strip.cell_length is not a property any more")
    strip = Strip([Segment("ab")], 2)
    if list(_textual_divide(strip, [2])) != [strip]:
        raise Misfit("Strip.divide at the strip's own length no longer gives [the strip]")


_textual_divide = Strip.divide

STRIP_DIVIDE = register(Hook(
    "strip_divide",
    uses="textual.strip.Strip.divide (replaced on the class: the same pieces, but a strip "
         "divided at its own length is not put into its own _divide_cache)",
    why="Textual's compositor divides every line it draws, most at their own length, and "
        "Strip.divide caches [the strip] inside the strip: each drawn line becomes a reference "
        "cycle, freed only by a full garbage collection (half the garbage of a message "
        "view scrolled away, docs/UPSTREAM.md 6)",
    public="a fixed Textual (see docs/UPSTREAM.md); meanwhile drawn lines wait for the "
           "garbage collector",
    liveness=("strip_divide",),
), _check_strip_divide)


def _divide(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    cell_length = self.cell_length
    kept = [cut for cut in cuts if cut <= cell_length]
    if kept == [cell_length]:
        ran["strip_divide"] += 1
        return [self]
    return _textual_divide(self, kept)


if STRIP_DIVIDE:
    setattr(Strip, "divide", _divide)  # noqa: B010 - mypy will not assign to a method


# -- what the hook modules call --------------------------------------------------------------

def overrides(hook: str, *names: str) -> Callable[[T], T]:
    """Class decorator: drop the overrides `names` from the class unless `hook` fits, so the
    library's own methods run."""

    def apply(cls: T) -> T:
        if not fits(hook):
            for name in names:
                if name in cls.__dict__:
                    delattr(cls, name)
        return cls

    return apply


def use_row_compositor(screen: Screen[Any]) -> bool:
    """Give `screen` a RowCompositor, if that hook fits. True if it did."""
    if not COMPOSITOR:
        return False
    from tui_chat.compositor import RowCompositor

    screen._compositor = RowCompositor()
    return True


def row_compositor(screen: Screen[Any]) -> RowCompositor | None:
    """The screen's RowCompositor, None if it draws with Textual's own."""
    if not COMPOSITOR:
        return None
    from tui_chat.compositor import RowCompositor

    compositor = screen._compositor
    return compositor if isinstance(compositor, RowCompositor) else None


def repaint_scrollbar(container: Widget) -> None:
    """Repaint a scrolling container's vertical scrollbar in the frame being composed."""
    scrollbar: Widget | None = getattr(container, "_vertical_scrollbar", None)
    if scrollbar is not None:
        scrollbar._exchange_repaint_regions()


def count(counter: str) -> None:
    """A hook ran (see `tui_chat.compat.ran`)."""
    ran[counter] += 1


__all__ = [
    "EIGHT_BIT_PALETTE",
    "ChopsUpdate",
    "Compositor",
    "CompositorUpdate",
    "FooterKey",
    "LayoutUpdate",
    "LeanStrip",
    "XTermParser",
    "active_app",
    "get_time",
    "sleep",
]
