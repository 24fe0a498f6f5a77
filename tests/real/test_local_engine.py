"""The app against the real llama.cpp server (the embedded engine, default model): through the
real app (Pilot, and the pty harness for the process life cycle) and `ask`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pty_harness import REPO, TerminalApp, tui_chat_argv
from tests.real.conftest import engine_pids_of, is_running, server_metrics
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.local import Engine, local_settings, make_local_provider
from tui_chat.local.engine import free_port
from tui_chat.screens.model_picker import ModelPicker
from tui_chat.store import ConversationStore
from tui_chat.store.database import title_from
from tui_chat.titles import TITLE_CHARS
from tui_chat.widgets.message_view import MessageView
from tui_chat.widgets.status_bar import StatusBar

QUESTION = "What is the capital of France?"
ANSWER_TIMEOUT = 240.0
"""Only a bound for a failure: a quiet machine answers in a second or two, but a machine
shared by several test runs was seen at under 1 token/s."""


def app_for(engine: Engine, store: ConversationStore | None = None,
            **flags: object):  # type: ignore[no-untyped-def]
    # Titles off unless a test is about them: the title request after the first answer would
    # count in the server's figures that these tests compare with the app's.
    flags.setdefault("auto_title", "never")
    settings = local_settings(load_settings(None, {}, temperature=0.0, **flags), engine)
    return make_app(settings, make_local_provider(settings, engine), engine=engine, store=store)


async def until(condition: Callable[[], bool], timeout: float, pilot) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await pilot.pause(0.05)


def last_answer(app) -> MessageView:  # type: ignore[no-untyped-def]
    return app.screen.query(MessageView).last()


async def ask(app, pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    app.screen.prompt_input.text = text
    await pilot.press("enter")


async def test_an_answer_streams_to_done_with_the_servers_figures(engine: Engine) -> None:
    app = app_for(engine, max_tokens=48)
    before = server_metrics(engine)
    async with app.run_test() as pilot:
        await until(lambda: app.screen.query_one(StatusBar).model == engine.alias, 10, pilot)
        await ask(app, pilot, "Tell me about the history of Paris.")
        await until(lambda: last_answer(app).status == "done", ANSWER_TIMEOUT, pilot)
        await pilot.pause()
        figures = app.screen.query_one(StatusBar).figures
    after = server_metrics(engine)
    predicted = after["tokens_predicted_total"] - before["tokens_predicted_total"]
    seconds = after["tokens_predicted_seconds_total"] - before["tokens_predicted_seconds_total"]
    assert not figures.tokens_estimated  # from the server's usage report
    assert figures.tokens == predicted > 20
    server_rate = predicted / seconds
    assert figures.tokens_per_second is not None
    assert abs(figures.tokens_per_second - server_rate) <= 0.05 * server_rate, \
        (figures.tokens_per_second, server_rate)


async def test_escape_closes_the_connection_and_the_server_stops(engine: Engine) -> None:
    app = app_for(engine, max_tokens=400)
    async with app.run_test() as pilot:
        await ask(app, pilot, "Write a long story about a dragon and a knight.")
        await until(lambda: len(last_answer(app).text) > 20, ANSWER_TIMEOUT, pilot)
        await pilot.press("escape")
        await until(lambda: last_answer(app).status == "cancelled", 5, pilot)
        # The server notices the closed connection and ends the generation.
        await until(lambda: server_metrics(engine)["requests_processing"] == 0, 10, pilot)
        decoded = server_metrics(engine)["n_decode_total"]
        await pilot.pause(0.5)
        assert server_metrics(engine)["n_decode_total"] == decoded


async def test_retry_asks_again_and_gets_the_same_answer_at_temperature_0(
        engine: Engine) -> None:
    app = app_for(engine, max_tokens=32)
    async with app.run_test() as pilot:
        await ask(app, pilot, QUESTION)
        await until(lambda: last_answer(app).status == "done", ANSWER_TIMEOUT, pilot)
        first = last_answer(app).text
        assert "Paris" in first
        await pilot.press("ctrl+r")
        await until(lambda: last_answer(app).status == "streaming"
                    or (last_answer(app).status == "done" and last_answer(app).text == first
                        and len(app.screen.query(MessageView)) == 2), 30, pilot)
        await until(lambda: last_answer(app).status == "done", ANSWER_TIMEOUT, pilot)
        assert len(app.screen.query(MessageView)) == 2  # the answer was replaced, not added
        assert last_answer(app).text == first


async def test_the_local_model_titles_a_new_conversation_after_its_first_answer(
        engine: Engine, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "chat.db")
    app = app_for(engine, store, max_tokens=32, auto_title="local")
    first_line = title_from(QUESTION)
    async with app.run_test() as pilot:
        await ask(app, pilot, QUESTION)
        await until(lambda: last_answer(app).status == "done", ANSWER_TIMEOUT, pilot)
        conversation = app.screen.conversation_id
        assert conversation is not None

        def title() -> str:
            summary = store.get_conversation(conversation)
            assert summary is not None
            return summary.title

        await until(lambda: title() != first_line, ANSWER_TIMEOUT, pilot)
    made = title()
    store.close()
    assert made.strip() and "\n" not in made and len(made) <= TITLE_CHARS, made
    assert "<think>" not in made and not made.startswith(('"', "'", "#", "*"))


async def test_an_answer_cut_at_max_tokens_is_continued_without_repeating(
        engine: Engine) -> None:
    app = app_for(engine, max_tokens=16)
    before = server_metrics(engine)
    async with app.run_test() as pilot:
        assert app.screen.options.continue_mode == "prefill"  # llama.cpp goes on mid-text
        await ask(app, pilot, "Write a long story about a dragon and a knight.")
        await until(lambda: last_answer(app).status == "done", ANSWER_TIMEOUT, pilot)
        first = last_answer(app).text
        assert last_answer(app).cut and "f6 continues" in last_answer(app)._footer_text()
        await pilot.press("f6")
        await until(lambda: last_answer(app).status == "done"
                    and len(last_answer(app).text) > len(first), ANSWER_TIMEOUT, pilot)
        grown = last_answer(app).text
        assert len(app.screen.query(MessageView)) == 2  # the same answer grew
    after = server_metrics(engine)
    assert after["tokens_predicted_total"] - before["tokens_predicted_total"] > 16  # two asks
    assert grown.startswith(first) and len(grown) > len(first)
    tail = first[-24:].strip()
    assert grown.count(tail) == first.count(tail), (first, grown)  # the end is not repeated


async def test_the_model_picker_lists_the_local_model(engine: Engine) -> None:
    app = app_for(engine)
    async with app.run_test() as pilot:
        await pilot.press("f2")
        await until(lambda: isinstance(app.screen, ModelPicker), 5, pilot)
        await until(lambda: "models from the server" in str(
            app.screen.query_one("#picker-note").render()), 10, pilot)
        options = app.screen.query_one("#picker-list")
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == [engine.alias]


async def test_a_context_overflow_gives_one_clear_line(engine: Engine) -> None:
    app = app_for(engine, context_tokens=100_000)  # set by hand: kept, so the history overflows
    async with app.run_test() as pilot:
        await ask(app, pilot, "word " * 5000)
        await until(lambda: last_answer(app).status == "failed", 30, pilot)
        footer = last_answer(app)._footer_text()
        figures = app.screen.query_one(StatusBar).figures
    line = figures.message  # the status bar's line, also under the answer
    assert line.startswith("this conversation is 5,") and line in footer
    assert line.endswith(" tokens; the model's context is 4,096: start a new one, or lower "
                         "context_tokens")


async def test_an_attached_text_file_is_read_and_an_image_is_refused_in_one_line(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file's content reaches the model (it answers from it); llama.cpp without a vision
    projector refuses the image, and the app says so in one line."""
    from tests import images

    (tmp_path / "notes.txt").write_text("Meeting notes, 3 March.\n"
                                        "The new project is code-named BLUEHERON.\n"
                                        "Budget approved.\n")
    (tmp_path / "shot.png").write_bytes(images.png())
    monkeypatch.chdir(tmp_path)
    app = app_for(engine, max_tokens=32)
    async with app.run_test() as pilot:
        await until(lambda: app.screen.query_one(StatusBar).model == engine.alias, 10, pilot)
        await ask(app, pilot, "@notes.txt What is the new project code-named?")
        await until(lambda: last_answer(app).status == "done", ANSWER_TIMEOUT, pilot)
        assert "BLUEHERON" in last_answer(app).text
        await ask(app, pilot, "@shot.png What is in this picture?")
        await until(lambda: last_answer(app).status == "failed", ANSWER_TIMEOUT, pilot)
        footer = last_answer(app)._footer_text()
        line = app.screen.query_one(StatusBar).figures.message
    assert "takes no images (image input is not supported" in line and line in footer
    assert "\n" not in line


def test_ask_local_json_reports_usage_and_leaves_no_engine(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_chat", "ask", "--local", "--json", "--temperature", "0",
         "--no-save", QUESTION], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    out, err = process.communicate(timeout=ANSWER_TIMEOUT)
    assert process.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "done" and "Paris" in result["content"]
    assert result["model"] == "SmolLM2-135M-Instruct"
    usage = result["usage"]
    assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert engine_pids_of(process.pid) == []


def test_serve_local_relays_the_local_model_and_stops_it(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_chat", "serve", "--local", "--port", str(port),
         "--temperature", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        banner = process.stdout.readline()  # type: ignore[union-attr]
        assert f"127.0.0.1:{port}" in banner and "SmolLM2-135M-Instruct" in banner, banner
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/chat", json.dumps({"message": QUESTION}).encode(),
            {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT) as response:
            answer = json.loads(response.read())
        assert answer["success"] and "Paris" in answer["data"]["content"]
        engines = engine_pids_of(process.pid)
        assert len(engines) == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert wait_until(lambda: not is_running(engines[0]), 5)


def app_environment(tmp_path: Path) -> dict[str, str]:
    """Nothing configured: own XDG dirs, no key, no base URL (the model folder is kept)."""
    env = {f"XDG_{name}_HOME": str(tmp_path / name.lower())
           for name in ("CONFIG", "DATA", "STATE", "CACHE")}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        env[name] = ""
    return env


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_plain_tui_chat_starts_the_local_model_and_quitting_stops_it(tmp_path: Path) -> None:
    with TerminalApp(tui_chat_argv("--temperature", "0"), env=app_environment(tmp_path),
                     size=(100, 30)) as app:
        assert app.wait_for("Ask anything", 20)
        # Sent at once, before the engine is up: it waits for it, nothing is lost.
        app.type(QUESTION)
        app.press("enter")
        assert app.wait_for("Paris", ANSWER_TIMEOUT), app.display()
        assert app.wait_for("SmolLM2-135M-Instruct ", 10), app.display()
        engines = engine_pids_of(app.process.pid)
        assert len(engines) == 1 and is_running(engines[0])
        app.press("ctrl+q")
        assert app.close(10) == 0
    assert wait_until(lambda: not is_running(engines[0]), 5)


def test_the_engine_ends_when_the_app_is_killed(tmp_path: Path) -> None:
    with TerminalApp(tui_chat_argv("--local"), env=app_environment(tmp_path),
                     size=(100, 30)) as app:
        # The engine starts after the app's first frame: wait for the model to serve.
        assert app.wait_for("Ask anything", 20), app.display()
        assert wait_until(lambda: len(engine_pids_of(app.process.pid)) == 1, 30)
        engines = engine_pids_of(app.process.pid)
        assert is_running(engines[0])
        os.kill(app.process.pid, signal.SIGKILL)  # the app alone: the engine has its own session
        app.process.wait(5)
    assert wait_until(lambda: not is_running(engines[0]), 5)
