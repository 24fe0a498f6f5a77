"""KeyFooter: Textual's Footer, changed in place when only which keys apply has changed.

Textual's Footer rebuilds every key widget whenever the screen's bindings change. The chat
screen's bindings change with every phase of an answer (Cancel and Pause apply only while it
streams), three times an answer, and each rebuild mounted and styled a dozen widgets: it was
a tenth of the app's CPU over a whole 400-chunk answer (py-spy). When the same keys are
shown and only their enabled state or tooltip differs, the existing keys are updated instead.

It also fits its width: at 80 columns Textual's footer was cut mid-word and F1 fell off the
end. Keys are left out, least used first (`DROP_ORDER`), until the rest fit; F1 (help) and the
command palette's key are never left out, since between them they reach everything else.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from tui_chat.compat import textual_hooks
from tui_chat.compat.textual_hooks import count, overrides


@overrides("footer", "bindings_changed")  # Textual's own rebuild, if FooterKey changed
class KeyFooter(Footer):
    """A footer of key bindings that is cheap to update while an answer streams."""

    DROP_ORDER: ClassVar[tuple[str, ...]] = (
        "pick_model", "conversations", "copy_answer", "quit", "retry", "toggle_pause",
        "resume", "cancel",
    )
    """Actions whose keys go first when the footer is too narrow, least used first. Keys of
    other actions go after these, from the right."""

    ALWAYS: ClassVar[frozenset[str]] = frozenset({"help", "app.help", "command_palette",
                                                  "app.command_palette"})
    """Never left out."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._fitted_width = 0

    def _description(self, binding: Binding) -> str:
        """The binding's description, or what the screen calls it in its present state (the
        chat screen's pause key says "Resume" while paused)."""
        describe = getattr(self.screen, "footer_description", None)
        return (describe(binding.action) if describe is not None else None) \
            or binding.description

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        if any(not _is_key(widget) for widget in widgets):
            yield from widgets  # groups: leave them to Textual
            return
        describe = getattr(self.screen, "footer_description", None)
        if describe is not None:
            for widget in widgets:
                widget.description = (describe(widget.action)  # type: ignore[attr-defined]
                                      or widget.description)  # type: ignore[attr-defined]
        kept = set(self._fit([(w.action, w.key_display, w.description,  # type: ignore[attr-defined]
                               w.has_class("-command-palette")) for w in widgets]))
        for index, widget in enumerate(widgets):
            if index in kept:
                yield widget

    def _available(self) -> int:
        width = self.size.width if self.is_attached and self.size.width else 0
        return width or self.app.size.width

    def _fit(self, keys: list[tuple[str, str, str, bool]]) -> list[int]:
        """Indices of the keys to show: as many as fit, least used left out first."""
        self._fitted_width = self._available()
        widths = [cell_len(display) + cell_len(description) + (4 if palette else 3)
                  for _action, display, description, palette in keys]
        kept = list(range(len(keys)))
        rank = {action: n for n, action in enumerate(self.DROP_ORDER)}
        droppable = sorted(
            (i for i, (action, *_rest) in enumerate(keys) if action not in self.ALWAYS),
            key=lambda i: (rank.get(keys[i][0], len(rank)), -i))
        for index in droppable:
            if sum(widths[i] for i in kept) <= self._fitted_width:
                break
            kept.remove(index)
        return kept

    def on_resize(self, event: events.Resize) -> None:
        # Footer.compose shows nothing until the screen has said its bindings are ready.
        if event.size.width != self._fitted_width and self.is_attached:
            self.call_after_refresh(self.recompose)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self.is_attached and screen is self.screen and self._update_in_place():
            return
        super().bindings_changed(screen)

    def _shown(self) -> list[tuple[Binding, bool, str]] | None:
        """The keys `compose` would show, in its order; None if it would group any."""
        active = self.screen.active_bindings
        first: dict[str, tuple[Binding, bool, str]] = {}
        for _node, binding, enabled, tooltip in active.values():
            if binding.show:
                if binding.group is not None:
                    return None
                first.setdefault(binding.action, (binding, enabled, tooltip))
        shown = list(first.values())
        palette_shown = False
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            palette = active.get(self.app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                _node, binding, enabled, tooltip = palette
                shown.append((binding, enabled, tooltip or binding.description))
                palette_shown = True
        keys = [(binding.action, self.app.get_key_display(binding), self._description(binding),
                 palette_shown and n == len(shown) - 1)
                for n, (binding, _enabled, _tooltip) in enumerate(shown)]
        return [shown[i] for i in self._fit(keys)]

    def _update_in_place(self) -> bool:
        footer_key = textual_hooks.FooterKey
        keys = [key for key in self.children if isinstance(key, footer_key)]
        shown = self._shown()
        if shown is None or not keys or len(keys) != len(self.children) or len(keys) != len(
                shown):
            return False
        for key, (binding, _enabled, _tooltip) in zip(keys, shown, strict=True):
            if (key.key, key.action) != (binding.key, binding.action):
                return False
        for key, (binding, _enabled, _tooltip) in zip(keys, shown, strict=True):
            description = self._description(binding)
            if key.description != description:
                key.description = description
                key.refresh(layout=True)
        for key, (_binding, enabled, tooltip) in zip(keys, shown, strict=True):
            if key._disabled != (not enabled):
                key._disabled = not enabled
                key.set_class(not enabled, "-disabled")
            if tooltip and key.tooltip != tooltip:
                key.tooltip = tooltip
        count("footer")
        return True


def _is_key(widget: Widget) -> bool:
    # Textual's key widget is private: without it (see compat) the footer is left to Textual.
    footer_key = getattr(textual_hooks, "FooterKey", None)
    return footer_key is not None and isinstance(widget, footer_key)
