"""TuiChatApp: themes, key map, the chat screen, and app-wide commands."""

from __future__ import annotations

import gc
import importlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.filter import LineFilter, Monochrome, NoColor
from textual.screen import Screen
from textual.timer import Timer

from tui_chat.config import Settings
from tui_chat.continuation import continue_mode
from tui_chat.models import RequestParams
from tui_chat.providers.base import Provider
from tui_chat.screens.chat import ChatOptions, ChatScreen
from tui_chat.session import RetryPolicy
from tui_chat.store import ConversationStore
from tui_chat.themes import ThemeFile
from tui_chat.urls import shown_url

if TYPE_CHECKING:
    from tui_chat.local import Engine

log = logging.getLogger(__name__)


_NO_COLOR = NoColor()


class TuiChatApp(App[None]):
    """The full-screen chat client."""

    # The chat screen's own too: Textual never loads a default screen's CSS_PATH (UPSTREAM.md 4).
    CSS_PATH = ["app.tcss", "screens/chat.tcss"]  # noqa: RUF012 (Textual's own type)
    TITLE = "tui-chat"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q,f10", "quit", "Quit", priority=True, id="app.quit"),
        Binding("f1", "help", "Help", id="app.help"),
    ]

    def __init__(self, settings: Settings, provider: Provider,
                 *, startup_notices: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic,
                 store: ConversationStore | None = None,
                 conversation_id: int | None = None,
                 engine: Engine | None = None) -> None:
        super().__init__()
        self.engine = engine
        """The local model's engine, when the app runs one (its state shows in the status bar)."""
        self._engine_timer: Timer | None = None
        from tui_chat import compat
        from tui_chat.compat import textual_hooks

        if textual_hooks.PASTE_GUARD:
            from tui_chat import paste_guard

            paste_guard.install()  # before the driver starts reading the terminal
        compat.report()  # each private hook that did not fit, once
        self._clock = clock
        self.store = store
        self._conversation_id = conversation_id
        self.settings = settings
        self.provider = provider
        self.code_theme = "monokai"
        self._startup_notices = list(startup_notices)
        self._theme_files: list[ThemeFile] = []
        self._theme_problems: list[str] = []

    def get_default_screen(self) -> Screen[Any]:
        from tui_chat import locations
        from tui_chat.themes import load_themes

        self._theme_files, self._theme_problems = load_themes(
            [locations.bundled_themes_dir(), locations.user_themes_dir()])
        for theme_file in self._theme_files:
            self.register_theme(theme_file.theme)
        self._apply_theme(self.settings.theme)
        welcome = None
        if self._conversation_id is None:
            welcome = self.welcome()
            self._startup_notices = []  # said in the welcome, not in a toast over the input
        return ChatScreen(self.provider, self.chat_options(), code_theme=self.code_theme,
                          clock=self._clock, store=self.store,
                          conversation_id=self._conversation_id, welcome=welcome)

    def welcome(self) -> Content:
        """The welcome of an empty conversation: endpoint, model, how to change them."""
        from tui_chat import locations
        from tui_chat.providers.relay import RelayProvider
        from tui_chat.screens.welcome import WelcomeFacts, welcome_text

        settings = self.settings
        relay = self.provider if isinstance(self.provider, RelayProvider) else None
        return welcome_text(WelcomeFacts(
            endpoint=shown_url(relay.base_url if relay is not None else settings.base_url),
            model=settings.model,
            via_relay=relay is not None,
            profiles=sorted(settings.profiles),
            config_path=settings.config_path or locations.config_file(),
            problems=tuple(self._startup_notices),
        ))

    def on_ready(self) -> None:
        if self.engine is not None:
            # Now, not before the first frame: loading the model takes both cores for about a
            # second, and the screen should not wait for it (measured in local_bench.py).
            self.engine.start()
        # The objects that exist once the app is up (modules, widgets, styles) live as long as
        # the app; moving them out of the collector's sight keeps full collections short.
        # Measured: they had caused the only >100 ms display delays while streaming.
        gc.collect()
        gc.freeze()
        # Import the SDK and the Markdown renderer while the person types the first prompt,
        # not before the first screen, nor while it is being written to the terminal.
        self.set_timer(0.1, lambda: self.run_worker(self._warm_up, thread=True, group="warm-up",
                                                     exit_on_error=False))

    def _warm_up(self) -> None:
        import tui_chat.render.code

        for module in ("tui_chat.context_window", "tui_chat.render.prose"):
            importlib.import_module(module)  # the modules the first answer needs

        # Pygments loads a lexer's module on first use: 34 ms for Python (with Pygments
        # itself), 14 for JavaScript, paid in the frame that shows the first code block.
        for language in ("python", "bash", "javascript"):
            tui_chat.render.code.lexer_for(language)
        tui_chat.render.code.syntax_theme(self.code_theme)

        warm_up = getattr(self.provider, "warm_up", None)
        if warm_up is not None:
            warm_up()
        # What was just imported (the SDK, pydantic's models, Pygments: about 100,000 objects)
        # lives as long as the app too; full collections scanned it all again after every
        # answer. No collection first: that alone would stall the screen for 55-75 ms.
        self.call_from_thread(gc.freeze)

    def on_mount(self) -> None:
        if self.settings.keymap:
            self.set_keymap(dict(self.settings.keymap))
        for problem in self._theme_problems:
            self.notify(problem, title="Theme skipped", severity="warning", timeout=15,
                        markup=False)
        for notice in self._startup_notices:
            self.notify(notice, severity="warning", timeout=15, markup=False)
        if self.engine is not None:
            self._engine_timer = self.set_interval(0.2, self._show_engine_state)
            self.call_after_refresh(self._show_engine_state)

    def _show_engine_state(self) -> None:
        """The status bar says what the local engine is doing, then names the model."""
        from tui_chat.widgets.status_bar import StatusBar

        engine = self.engine
        if engine is None:
            return
        done = engine.wait_ready_for(0)
        shown = False
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                for bar in screen.query(StatusBar):  # none before the screen is composed
                    bar.model = self._engine_state() or screen.conversation.settings.model
                    shown = True
        if done and shown and self._engine_timer is not None:
            self._engine_timer.stop()
            self._engine_timer = None
            if engine.error:
                self.notify(engine.error, title="Local model", severity="error", timeout=30,
                            markup=False)

    def chat_options(self) -> ChatOptions:
        s = self.settings
        return ChatOptions(
            params=RequestParams(s.model, temperature=s.temperature, max_tokens=s.max_tokens,
                                 stream=s.stream),
            system=s.system,
            retry=RetryPolicy(retries=s.retries, max_delay=s.retry_max_wait),
            max_input_chars=s.max_input_chars,
            context_messages=s.context_messages,
            context_tokens=s.context_tokens,
            models=s.models,
            presets=s.presets,
            full_redraw=s.full_redraw,
            reasoning=s.reasoning,
            model_state=self._engine_state if self.engine is not None else None,
            attachment_limits=s.attachment_limits,
            auto_title=self._wants_titles(),
            title_in_context=self._is_local_endpoint(),
            continue_mode=continue_mode(s.continue_mode,
                                        embedded_engine=self.engine is not None or s.local),
        )

    def _wants_titles(self) -> bool:
        from tui_chat.providers.relay import RelayProvider
        from tui_chat.providers.scripted import ScriptedProvider
        from tui_chat.titles import wants_titles

        s = self.settings
        if isinstance(self.provider, ScriptedProvider):
            return False  # --demo (and tests): played-back text, no model to ask
        if s.local and s.auto_title == "local":
            return True  # the embedded model: free, whatever address it ends up on
        return wants_titles(s.auto_title, s.base_url,
                            via_relay=isinstance(self.provider, RelayProvider))

    def _is_local_endpoint(self) -> bool:
        """The embedded model, or a server on this machine (not through a relay)."""
        from tui_chat.providers.relay import RelayProvider
        from tui_chat.titles import wants_titles

        s = self.settings
        return s.local or wants_titles("local", s.base_url,
                                       via_relay=isinstance(self.provider, RelayProvider))

    def _engine_state(self) -> str:
        engine = self.engine
        return "" if engine is None or engine.ready else engine.status

    def get_line_filters(self) -> Sequence[LineFilter]:
        filters = super().get_line_filters()
        if not self.no_color:
            return filters
        # NO_COLOR (no-color.org) means no colour. Textual turns colours into 256-colour greys
        # instead (its Monochrome filter); bold, reverse and the layout carry the meaning
        # here (the :nocolor rules in app.tcss).
        return [f for f in filters if not isinstance(f, Monochrome)] + [_NO_COLOR]

    def get_theme_variable_defaults(self) -> dict[str, str]:
        from tui_chat.themes import app_variables_for

        return app_variables_for(self.current_theme)

    def _apply_theme(self, name: str) -> None:
        if name in self.available_themes:
            self.theme = name
        else:
            valid = ", ".join(sorted(self.available_themes))
            self._theme_problems.append(f"Unknown theme '{name}'. Valid themes: {valid}")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if not isinstance(screen, ChatScreen):
            return
        yield SystemCommand("Chat: new conversation", "Start an empty conversation (ctrl+n)",
                            screen.action_new_conversation)
        yield SystemCommand("Chat: retry", "Ask again for the last answer (ctrl+r)",
                            screen.action_retry)
        yield SystemCommand("Chat: continue the answer", "Ask for the rest of the last answer, "
                            "cut at max tokens, interrupted or cancelled (f6, or c on it)",
                            screen.action_continue_answer)
        yield SystemCommand("Chat: edit the last question", "Put it in the input; Enter sends "
                            "it as a new branch (↑ in an empty input, or e on a question)",
                            screen.action_edit_last_question)
        yield SystemCommand("Chat: cancel", "Stop the running answer, keep its text (esc)",
                            screen.action_cancel)
        yield SystemCommand("Chat: pause / resume", "Freeze or unfreeze the display (ctrl+s, f8)",
                            screen.action_toggle_pause)
        yield SystemCommand("Chat: copy last answer", "As Markdown, via OSC 52 (ctrl+g)",
                            screen.action_copy_answer)
        yield SystemCommand("Chat: copy code block", "A code block of the focused message or "
                            "the last answer; again for the one before (f5)",
                            self.action_copy_code)
        yield SystemCommand("Chat: older version of the answer",
                            "Of the focused answer, or the last one that was retried ([ or ← "
                            "on a focused answer)", screen.action_older_version)
        yield SystemCommand("Chat: newer version of the answer",
                            "Of the focused answer, or the last one that was retried (] or → "
                            "on a focused answer)", screen.action_newer_version)
        yield SystemCommand("Chat: attach a file", "A text file or an image for the next "
                            "message; @path in a message works too (ctrl+t)",
                            screen.action_attach_file)
        yield SystemCommand("Chat: switch model", "Pick from the server's models (f2)",
                            screen.action_pick_model)
        yield SystemCommand("Chat: system prompt and parameters",
                            "This conversation's system prompt (with presets), temperature "
                            "and max tokens (f3)", screen.action_edit_system)
        if screen.store is not None:
            yield SystemCommand("Chat: conversations and search", "Open, rename, delete, "
                                "full-text search (ctrl+o)", screen.action_conversations)
        yield SystemCommand("Chat: export as Markdown", "Write this conversation to a .md file",
                            self.action_export)
        yield SystemCommand("Help: keys", "Every key binding (f1)", self.action_help)
        for name in sorted(self.settings.profiles):
            yield SystemCommand(f"Endpoint: {name}",
                                f"Switch to the {name} profile from the config",
                                lambda name=name: self.switch_profile(name))

    def action_copy_code(self) -> None:
        screen = self.screen
        if isinstance(screen, ChatScreen):
            screen.action_copy_code()

    def action_export(self) -> None:
        """Write the conversation as Markdown into the current directory (owner-only)."""
        screen = self.screen
        if not isinstance(screen, ChatScreen):
            return
        name = f"tui-chat-{screen.conversation_id or 'unsaved'}-{time.strftime('%Y%m%d-%H%M%S')}.md"
        path = Path.cwd() / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(screen.export_markdown())
        except OSError as error:
            self.notify(f"Export failed: {error.strerror or error}", severity="error",
                        markup=False)
            return
        self.notify(f"Exported to {path}", markup=False, timeout=6)

    def switch_profile(self, name: str) -> None:
        from tui_chat.config import ConfigError, apply_profile
        from tui_chat.providers import make_provider

        try:
            settings = apply_profile(self.settings, name, os.environ)
        except ConfigError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        if settings.local or settings.local_model:
            # The engine is a child process started with the app, not at a switch.
            self.notify(f"The {name} profile runs the local model: start the app with "
                        f"`tui-chat --profile {name}`", severity="warning", markup=False)
            return
        screen = self.screen
        if isinstance(screen, ChatScreen):
            screen.set_provider(make_provider(settings), settings.model,
                                f"{name} ({shown_url(settings.base_url)})")

    def watch_theme(self, name: str) -> None:
        from tui_chat.themes import syntax_style_for

        # Called once from App.__init__, before our own attributes exist.
        theme_files = getattr(self, "_theme_files", [])
        self.code_theme = syntax_style_for(name, theme_files, dark=self.current_theme.dark)
        settings = getattr(self, "settings", None)
        if self.is_running and settings is not None and name != settings.theme:
            self._remember_theme(name)

    def watch_app_focus(self, focused: bool) -> None:
        """The app got focus back (a browser tab, a terminal with focus events): if nothing
        has focus, give it to the screen's auto-focus widget (the prompt), as at start.

        In a browser the app starts blurred, so a screen mounted before the first focus never
        auto-focused, and Textual restores only what was focused at the blur: typed keys went
        nowhere until the prompt was clicked."""
        if not focused:
            return
        screen = self.screen
        selector = screen.AUTO_FOCUS or self.AUTO_FOCUS
        if screen.focused is not None or not selector:
            return
        for widget in screen.query(selector):
            if widget.focusable:
                # Now, not later: keys that came with the focus are already queued.
                screen.set_focus(widget)
                return

    def _remember_theme(self, name: str) -> None:
        """Keep the chosen theme for next time, in the config file."""
        from tui_chat import locations
        from tui_chat.config import remember_setting

        path = self.settings.config_path or locations.config_file()
        try:
            remember_setting(path, "theme", name)
        except OSError as error:
            log.warning("could not save the theme choice: %s", error)

    async def on_unmount(self) -> None:
        from tui_chat import compat

        compat.report_liveness()
        await self.provider.aclose()  # release the HTTP connections while the loop still runs

    def action_help(self) -> None:
        """Show every key of the current screen."""
        from tui_chat.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        """Quit; a running answer is cancelled and kept first."""
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                await screen.stop_answer()
        self.exit()


def make_app(settings: Settings, provider: Provider | None = None,
             *, startup_notices: Iterable[str] = (),
             clock: Callable[[], float] = time.monotonic,
             store: ConversationStore | None = None,
             conversation_id: int | None = None,
             engine: Engine | None = None) -> TuiChatApp:
    """Build the app the way the command line does (tests use this too)."""
    if provider is None:
        from tui_chat.providers import make_provider

        provider = make_provider(settings, deferred=True)
    return TuiChatApp(settings, provider, startup_notices=startup_notices, clock=clock,
                      store=store, conversation_id=conversation_id, engine=engine)
