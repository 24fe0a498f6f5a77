"""Pilot tests of the everyday extras: copy, model picker, system prompt, help, themes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.waiting import until
from tui_chat.app import make_app
from tui_chat.config import load_settings
from tui_chat.models import Delta, Finished
from tui_chat.providers.scripted import ScriptedProvider
from tui_chat.screens.help import HelpScreen
from tui_chat.screens.model_picker import ModelPicker
from tui_chat.screens.prompt_editor import PromptEditor
from tui_chat.widgets.status_bar import StatusBar

ANSWER = "Here:\n\n```python\nprint('hi')\n```\n\nDone."


def settings(**extra):
    return load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m1", **extra)


async def settle(app, pilot) -> None:
    async with asyncio.timeout(5):
        await app.workers.wait_for_complete()
    await pilot.pause()


async def test_copy_last_answer_and_last_code_block() -> None:
    app = make_app(settings(), ScriptedProvider([Delta(ANSWER), Finished("stop")]))
    async with app.run_test(notifications=True) as pilot:
        await pilot.press(*"q", "enter")
        await settle(app, pilot)
        await pilot.press("ctrl+g")
        assert app.clipboard == ANSWER
        await pilot.press("f5")
        assert app.clipboard == "print('hi')\n"


async def test_copy_code_cycles_through_the_blocks_of_the_answer() -> None:
    answer = "A:\n\n```\none\n```\n\nB:\n\n~~~sh\ntwo\n~~~\n"
    app = make_app(settings(), ScriptedProvider([Delta(answer), Finished("stop")]))
    async with app.run_test() as pilot:
        await pilot.press(*"q", "enter")
        await settle(app, pilot)
        await pilot.press("f5")
        assert app.clipboard == "two\n"
        await pilot.press("f5")
        assert app.clipboard == "one\n"
        await pilot.press("f5")
        assert app.clipboard == "two\n"


async def test_model_picker_lists_server_models_filters_and_switches() -> None:
    provider = ScriptedProvider([Delta("ok"), Finished("stop")],
                                models=["alpha-7b", "beta-13b", "gamma-70b"])
    app = make_app(settings(), provider)
    async with app.run_test() as pilot:
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, ModelPicker)
        async with asyncio.timeout(5):
            await app.screen.workers.wait_for_complete()
        await pilot.press(*"beta", "enter")
        await pilot.pause()
        assert app.query_one(StatusBar).model == "beta-13b"
        await pilot.press(*"hi", "enter")
        await settle(app, pilot)
        assert provider.requests[-1][1].model == "beta-13b"


async def test_system_prompt_can_be_edited_from_a_preset() -> None:
    provider = ScriptedProvider([Delta("ok"), Finished("stop")])
    app = make_app(settings(), provider)
    app.settings = load_settings(None, {}, base_url="http://127.0.0.1:9/v1", model="m1")
    async with app.run_test() as pilot:
        screen = app.screen
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, PromptEditor)
        editor = app.screen.query_one("#editor-text")
        editor.text = "Reply in French."
        app.screen.query_one("#editor-temperature").value = "7"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PromptEditor)  # refused: out of range, still open
        assert "0 to 2" in str(app.screen.query_one("#editor-error").render())
        app.screen.query_one("#editor-temperature").value = "0.3"
        app.screen.query_one("#editor-max-tokens").value = "256"
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press(*"hi", "enter")
        await settle(app, pilot)
        assert screen.conversation.settings.system == "Reply in French."
        messages, params = provider.requests[-1]
        assert messages[0].content == "Reply in French."
        assert (params.temperature, params.max_tokens) == (0.3, 256)


async def test_f1_lists_the_keys_with_their_ids() -> None:
    app = make_app(settings(), ScriptedProvider())
    async with app.run_test() as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-keys").render())
        for binding_id in ("chat.cancel", "chat.pause", "chat.retry", "chat.copy", "app.quit"):
            assert binding_id in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_keys_can_be_remapped_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('base_url = "http://127.0.0.1:9/v1"\n[keys]\n"chat.cancel" = "f8"\n')
    provider = ScriptedProvider([Delta("x"), Finished("stop")], stall_after=1)
    app = make_app(load_settings(path, {}), provider)
    async with app.run_test() as pilot:
        await pilot.press(*"q", "enter")
        await until(pilot, lambda: app.screen.phase == "streaming", what="the answer started")
        await pilot.press("f8")
        await settle(app, pilot)
        assert app.screen.phase == "cancelled"


async def test_a_theme_chosen_in_the_app_is_remembered_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('base_url = "http://127.0.0.1:9/v1"\n')
    app = make_app(load_settings(path, {}), ScriptedProvider())
    async with app.run_test() as pilot:
        app.theme = "paper"
        await pilot.pause()
    assert load_settings(path, {}).theme == "paper"
    assert (path.stat().st_mode & 0o777) == 0o600


async def test_unknown_theme_lists_the_valid_ones() -> None:
    app = make_app(settings(theme="no-such-theme"), ScriptedProvider())
    async with app.run_test(notifications=True) as pilot:
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("Unknown theme 'no-such-theme'" in m and "harbour" in m for m in messages)
