"""The private hooks of `tui_chat.compat`: each fits the installed Textual and SDK, and each runs.

A hook that no longer fits is left out on purpose (the app runs on the public path), so it
would not fail any other test: these do. `tests/compat/rename_experiment.py` shows it, by
renaming the hooked names inside a copy of the installed packages.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tests.pty_harness import TerminalApp, tui_chat_argv
from tui_chat import compat
from tui_chat.app import make_app
from tui_chat.compat import Hook, Misfit, sdk_hooks, textual_hooks
from tui_chat.config import load_settings
from tui_chat.models import Delta, Message, RequestParams
from tui_chat.providers.openai_compat import OpenAICompatible
from tui_chat.widgets.message_view import MessageView

ANSWER = [f"Line {n} of a longer answer, enough to grow the view.\n\n" for n in range(40)]


def all_hooks() -> dict[str, Hook]:
    """Every hook (importing textual_hooks and sdk_hooks, above, registered them)."""
    return compat.HOOKS


def test_every_hook_fits_the_installed_libraries() -> None:
    assert set(all_hooks()) == {"compositor", "frame_timer", "size", "paste_guard", "footer",
                                "lean_strip", "strip_divide", "sse", "aiohttp_body",
                                "platform"}
    assert compat.left_out == {}
    assert textual_hooks.COMPOSITOR and textual_hooks.FRAME_TIMER and sdk_hooks.SSE
    assert sdk_hooks.AIOHTTP_BODY and sdk_hooks.PLATFORM


OTHER_TRANSPORT = {"sse", "aiohttp_body"}
"""Counters of the hooks that read the body through the SDK's request path: on the httpx
transport (`sse`), or on the aiohttp one when the provider sends through the SDK
(`aiohttp_body`: with a proxy configured, or `direct=False`). The app, on the default aiohttp
transport without a proxy, sends its streams with aiohttp itself and runs neither;
`test_each_transport_reads_through_its_hook` runs each."""


@pytest.mark.parametrize(("transport", "direct", "counter", "idle"), [
    ("aiohttp", False, "aiohttp_body", "sse"), ("httpx", False, "sse", "aiohttp_body"),
    # The provider's own aiohttp request (no private name): neither hook runs.
    ("aiohttp", True, "aiohttp_direct", "aiohttp_body"), ("aiohttp", True, "aiohttp_direct", "sse"),
])
async def test_each_transport_reads_through_its_hook(
        fake_openai: FakeOpenAI, transport: str, direct: bool, counter: str, idle: str) -> None:
    provider = OpenAICompatible(fake_openai.url, "sk-test-not-real", http_transport=transport,
                                direct=direct)
    fake_openai.script(Reply(chunks=ANSWER, chunks_per_second=0))
    compat.ran.clear()
    try:
        async with asyncio.timeout(10):
            text = "".join([event.text async for event in provider.stream(
                [Message("user", "hi")], RequestParams("fake-model"))
                if isinstance(event, Delta)])
    finally:
        await provider.aclose()
    assert text == "".join(ANSWER)
    assert compat.ran[counter] > 0 and compat.ran[idle] == 0, compat.ran


async def test_concurrent_first_requests_work_out_the_platform_once(
        fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the hook the SDK asks in a thread for every request that starts before the
    # first has the answer: 20 threads here, 500 per relay worker at 1,000 streams.
    base = importlib.import_module("openai._base_client")
    asked: list[int] = []
    real = base.get_platform

    def counting() -> object:
        asked.append(1)
        return real()

    monkeypatch.setattr(base, "get_platform", counting)
    provider = OpenAICompatible(fake_openai.url, "sk-test-not-real")
    try:
        async def one() -> str:
            return "".join([event.text async for event in provider.stream(
                [Message("user", "hi")], RequestParams("fake-model"))
                if isinstance(event, Delta)])

        async with asyncio.timeout(20):
            texts = await asyncio.gather(*(one() for _ in range(20)))
    finally:
        await provider.aclose()
    assert texts == [texts[0]] * 20 and texts[0]
    assert len(asked) == 1


def test_each_hook_says_why_and_what_would_replace_it() -> None:
    for hook in all_hooks().values():
        assert hook.uses and hook.why and hook.public and hook.liveness, hook.name


async def test_each_hook_runs_while_an_answer_streams(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply(chunks=ANSWER, chunks_per_second=200))
    settings = load_settings(None, {"OPENAI_API_KEY": "sk-test-not-real"},
                             base_url=fake_openai.url, model="fake-model")
    compat.ran.clear()
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"hi", "enter")
        async with asyncio.timeout(15):
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query(MessageView).last().text == "".join(ANSWER)
    ran = compat.liveness()
    # The headless driver neither reads a terminal nor writes one: the parser and the
    # differential output are shown alive in the pty test below.
    pilot_side = {name: times for name, times in ran.items()
                  if name not in ("paste_guard", "compositor.diff", *OTHER_TRANSPORT)}
    assert all(pilot_side.values()), ran


def test_each_hook_runs_in_a_real_terminal(tmp_path: Path) -> None:
    env = {f"XDG_{name}_HOME": str(tmp_path / name.lower())
           for name in ("CONFIG", "DATA", "STATE", "CACHE")}
    with FakeOpenAI.start_in_thread(chunks_per_second=200) as fake:
        fake.fake.script(Reply(chunks=ANSWER))
        argv = tui_chat_argv("--base-url", fake.url, "--model", "m",
                             "--db", str(tmp_path / "c.db"))
        with TerminalApp(argv, env=env) as app:
            assert app.wait_for("Ask anything", 15)
            app.write(b"\x1b[200~pasted \x1b[31mtext\x1b[201~")
            assert app.wait_for("pasted", 10)
            app.press("enter")
            assert app.wait_for("Line 39 of a longer answer", 20)
            app.press("ctrl+q")
            assert app.close(10) == 0
    logs = list(tmp_path.glob("state/**/tui-chat.log"))
    assert logs, "the app wrote no log"
    line = next(line for line in logs[0].read_text().splitlines()
                if "private hooks ran:" in line)
    counts = dict(item.split("=") for item in
                  line.split("private hooks ran: ")[1].split("; left out:")[0].split(", "))
    assert line.endswith("left out: none"), line
    assert set(counts) == set(compat.liveness())
    assert all(int(times) > 0 for name, times in counts.items()
               if name not in OTHER_TRANSPORT), line


def test_a_hook_that_does_not_fit_is_left_out_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    class Library:
        def hooked(self, data: str, flag: bool = False) -> None:
            """Stands in for a library method whose signature changed."""

    hook = Hook("example", uses="Library.hooked", why="a test", public="the plain way",
                liveness=("example",))
    try:
        fits = compat.register(hook, lambda: compat.signature(Library, "hooked",
                                                              ("self", "data")))
        assert not fits and not compat.fits("example")
        assert "hooked(self, data, flag=False), written against hooked(self, data)" in (
            compat.left_out["example"])
        with caplog.at_level(logging.WARNING, logger="tui_chat.compat"):
            compat.report()
            compat.report()
        said = [record.getMessage() for record in caplog.records if "'example'" in
                record.getMessage()]
        assert len(said) == 1 and "the plain way" in said[0]
    finally:
        compat.HOOKS.pop("example", None)
        compat.left_out.pop("example", None)


def test_a_missing_name_is_a_misfit() -> None:
    with pytest.raises(Misfit, match=r"Library\.gone is gone"):
        class Library:
            pass

        compat.signature(Library, "gone", ("self",))


def test_an_override_is_dropped_when_its_hook_is_left_out() -> None:
    class Base:
        def _hooked(self) -> str:
            return "library"

    compat.HOOKS["dropped"] = Hook("dropped", uses="", why="", public="", liveness=())
    compat.left_out["dropped"] = "renamed"
    try:
        @textual_hooks.overrides("dropped", "_hooked")
        class Ours(Base):
            def _hooked(self) -> str:
                return "ours"

        assert Ours()._hooked() == "library"
    finally:
        compat.HOOKS.pop("dropped")
        compat.left_out.pop("dropped")


def test_a_left_out_hook_is_not_reported_where_nothing_logs(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # `tui-chat ask` configures no logging: the warning must not land on its stderr.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(logging.getLogger("tui_chat.compat"), "propagate", True)
    compat.HOOKS["quiet"] = Hook("quiet", uses="", why="", public="", liveness=())
    compat.left_out["quiet"] = "renamed"
    try:
        compat.report()
        assert capsys.readouterr().err == ""
        assert "quiet" not in compat._reported
    finally:
        compat.HOOKS.pop("quiet")
        compat.left_out.pop("quiet")


def test_a_lean_strip_is_the_same_line_in_less_memory() -> None:
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    plain = Strip([Segment("hello ", Style(bold=True)), Segment("world")], 11)
    [lean] = textual_hooks.lean([plain])
    assert isinstance(lean, Strip) and lean == plain and lean.text == "hello world"
    assert lean.cell_length == 11
    base = Style(color="red")
    assert lean.apply_style(base) == plain.apply_style(base)
    assert lean.crop(2, 8) == plain.crop(2, 8) and lean.crop(2, 8) is lean.crop(2, 8)
    assert lean.divide([3, 11]) == plain.divide([3, 11])

    def allocated(make: Callable[[], object]) -> int:
        tracemalloc.start()
        try:
            kept = [make() for _ in range(1000)]
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(kept) == 1000
        return size

    segments = list(plain)
    lean_size = allocated(lambda: textual_hooks.lean([plain])[0])
    plain_size = allocated(lambda: Strip(segments, 11))
    assert lean_size * 3 < plain_size, (lean_size, plain_size)  # no caches until one is used


def test_a_line_divided_at_its_own_length_is_freed_without_a_collection() -> None:
    """Textual's compositor divides each line it draws at the cuts of its row, most often at
    the line's own length; Strip.divide kept [the line] in the line's own cache, so every drawn
    line was a reference cycle that only a full garbage collection freed."""
    from rich.segment import Segment
    from textual.strip import Strip

    line = Strip([Segment("hello "), Segment("world")], 11)
    assert line.divide([11]) == [line] and line.divide([11])[0] is line
    assert line.divide([11, 20]) == [line]
    assert [piece.text for piece in line.divide([3, 11])] == ["hel", "lo world"]
    gc.collect()
    gc.disable()
    try:
        for _ in range(100):
            Strip([Segment("a line of text")], 14).divide([14])
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert compat.ran["strip_divide"] > 0
