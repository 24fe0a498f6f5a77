"""KeyFooter: Textual's Footer, changed in place when only which keys apply has changed.

Textual's Footer rebuilds every key widget whenever the screen's bindings change. The chat
screen's bindings change with every phase of an answer (Cancel and Pause apply only while it
streams), three times an answer, and each rebuild mounted and styled a dozen widgets: it was
a tenth of the app's CPU over a whole 400-chunk answer (py-spy). When the same keys are
shown and only their enabled state or tooltip differs, the existing keys are updated instead.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

try:  # Textual's key widget; without it every change rebuilds, as Textual's Footer does.
    from textual.widgets._footer import FooterKey
except ImportError:  # pragma: no cover - a Textual that moved it
    FooterKey = None  # type: ignore[assignment,misc]


class KeyFooter(Footer):
    """A footer of key bindings that is cheap to update while an answer streams."""

    def bindings_changed(self, screen: Screen) -> None:
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
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            palette = active.get(self.app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                _node, binding, enabled, tooltip = palette
                shown.append((binding, enabled, tooltip or binding.description))
        return shown

    def _update_in_place(self) -> bool:
        if FooterKey is None:
            return False
        keys = list(self.children)
        shown = self._shown()
        if (shown is None or not keys or len(keys) != len(shown)
                or not all(isinstance(key, FooterKey) for key in keys)):
            return False
        for key, (binding, _enabled, _tooltip) in zip(keys, shown, strict=True):
            if (key.key, key.action, key.description) != (
                    binding.key, binding.action, binding.description):
                return False
        for key, (_binding, enabled, tooltip) in zip(keys, shown, strict=True):
            if key._disabled != (not enabled):
                key._disabled = not enabled
                key.set_class(not enabled, "-disabled")
            if tooltip and key.tooltip != tooltip:
                key.tooltip = tooltip
        return True
