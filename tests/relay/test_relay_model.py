"""With `--relay`, the app and `ask` show and store the model the relay reports, or "via relay"
(issue 14, item 12); F2 offers what the relay reports, not this machine's list.

A real `tui-chat serve` process over the loopback server; the app is built by `cli.main` and
driven by Pilot instead of a terminal.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from textual.pilot import Pilot

from tests.cli.server_process import running
from tests.fake_openai import FakeOpenAI, Reply
from tui_chat import cli
from tui_chat.app import TuiChatApp
from tui_chat.screens.chat import ChatScreen
from tui_chat.screens.model_picker import ModelPicker
from tui_chat.store import ConversationStore
from tui_chat.widgets.status_bar import StatusBar

WAIT = 15.0


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.start_in_thread(chunks_per_second=0) as server:
        yield server.fake


@pytest.fixture
def relay(fake: FakeOpenAI) -> Iterator[str]:
    """`tui-chat serve` over the loopback server, answering with "relay-model"."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with running("serve", "--port", str(port), "--base-url", fake.url, "--model", "relay-model"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_relay() -> Iterator[str]:
    """A relay that streams answers but has no health endpoint and names no model (as the
    blog's Express server)."""
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"content": "from somewhere"}\n\n')
        await response.write(b'data: {"done": true}\n\n')
        return response

    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/api/chat/stream", stream)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        state["stop"] = stop = asyncio.Event()
        state["loop"] = asyncio.get_running_loop()
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield state["url"]
    state["loop"].call_soon_threadsafe(state["stop"].set)
    thread.join(10)


async def until(pilot: Pilot[None], predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():
            await pilot.pause(0.02)


def chat(app: TuiChatApp) -> ChatScreen:
    screen = app.screen_stack[0]
    assert isinstance(screen, ChatScreen)
    return screen


def run_app_through_the_relay(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict[str, Any]:
    """`tui-chat ARGV`: note the status bar's model, send one message, open F2."""
    seen: dict[str, Any] = {}

    async def drive(app: TuiChatApp) -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: bool(chat(app).query_one(StatusBar).model))
            seen["before"] = chat(app).query_one(StatusBar).model
            await pilot.press(*"hello", "enter")
            async with asyncio.timeout(WAIT):
                await app.workers.wait_for_complete()
            await until(pilot, lambda: chat(app).phase in ("done", "failed"))
            seen["phase"] = chat(app).phase
            seen["after"] = chat(app).query_one(StatusBar).model
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(app.screen, ModelPicker))
            async with asyncio.timeout(WAIT):
                await app.screen.workers.wait_for_complete()
            picker = app.screen.query_one("#picker-list")
            seen["offered"] = [picker.get_option_at_index(i).id
                               for i in range(picker.option_count)]
            await pilot.press("escape")

    monkeypatch.setattr(TuiChatApp, "run", lambda self: asyncio.run(drive(self)))
    assert cli.main(argv) == 0
    return seen


def stored_models(database: Path) -> tuple[str, list[str | None]]:
    with ConversationStore(database) as store:
        conversation = store.get_conversation(store.latest_conversation_id())
        assert conversation is not None
        rows = store.messages(conversation.id)
    return conversation.model, [row.model for row in rows if row.role == "assistant"]


def test_the_app_shows_stores_and_offers_the_relays_model(
        relay: str, fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.script(Reply(chunks=["relayed ", "answer"]))
    database = tmp_path / "c.db"
    # This machine's config lists its own models; they are not the relay's to offer.
    config = tmp_path / "config.toml"
    config.write_text('model = "local-default"\nmodels = ["local-a", "local-b"]\n')
    seen = run_app_through_the_relay(monkeypatch, [
        "--config", str(config), "--relay", relay, "--db", str(database)])
    assert seen == {"before": "relay-model", "phase": "done", "after": "relay-model",
                    "offered": ["relay-model"]}
    assert stored_models(database) == ("relay-model", ["relay-model"])
    assert fake.chat_requests[0].model == "relay-model"


def test_a_relay_that_names_no_model_is_shown_as_via_relay(
        silent_relay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "c.db"
    seen = run_app_through_the_relay(monkeypatch, ["--relay", silent_relay,
                                                   "--db", str(database)])
    assert seen == {"before": "via relay", "phase": "done", "after": "via relay",
                    "offered": ["via relay"]}
    assert stored_models(database) == ("via relay", ["via relay"])


def test_ask_reports_and_stores_the_relays_model(relay: str, fake: FakeOpenAI, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    fake.script(Reply(chunks=["ok"]))
    database = tmp_path / "c.db"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli.main(["--relay", relay, "--db", str(database), "ask", "--json", "q"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "relay-model"
    assert stored_models(database) == ("relay-model", ["relay-model"])


def test_health_and_done_name_the_model(relay: str) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{relay}/api/health", timeout=10) as response:
        assert json.load(response) == {"status": "ok", "model": "relay-model"}
