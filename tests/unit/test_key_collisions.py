"""Every default key must reach the app inside tmux, GNU screen and SSH.

The bindings are read from the classes themselves (each class's BINDINGS along its MRO, as
Textual merges them), so a binding added later is checked too.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode

import tui_chat
import tui_chat.app

MULTIPLEXER_PREFIXES = {"ctrl+b": "tmux's prefix", "ctrl+a": "GNU screen's prefix"}
FLOW_CONTROL = {"ctrl+s": "XOFF (flow control)", "ctrl+q": "XON (flow control)"}
FRAGILE = {**MULTIPLEXER_PREFIXES, **FLOW_CONTROL}


def our_dom_classes() -> list[type[DOMNode]]:
    for module in pkgutil.walk_packages(tui_chat.__path__, "tui_chat."):
        if not module.name.endswith("__main__"):  # that one runs the command line
            importlib.import_module(module.name)
    found: dict[str, type[DOMNode]] = {}
    modules = [m for name, m in list(sys.modules.items())
               if name == "tui_chat" or name.startswith("tui_chat.")]
    for module in modules:
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, DOMNode) and cls.__module__.startswith("tui_chat"):
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def bindings_of(cls: type[DOMNode]) -> list[tuple[type, Binding]]:
    """(defining class, binding) for every binding the class has, its own and inherited."""
    out = []
    for base in cls.__mro__:
        declared = base.__dict__.get("BINDINGS")
        if not declared:
            continue
        for bindings in BindingsMap(declared).key_to_bindings.values():
            out.extend((base, binding) for binding in bindings)
    return out


def test_the_walk_finds_the_classes_with_bindings() -> None:
    names = {cls.__name__ for cls in our_dom_classes()}
    assert {"TuiChatApp", "ChatScreen", "PromptInput", "Transcript", "HelpScreen"} <= names


def test_no_binding_of_ours_uses_a_multiplexer_prefix() -> None:
    bad = [f"{base.__name__}: {binding.key} ({binding.action}): "
           f"{MULTIPLEXER_PREFIXES[binding.key]}"
           for cls in our_dom_classes() for base, binding in bindings_of(cls)
           if base.__module__.startswith("tui_chat") and binding.key in MULTIPLEXER_PREFIXES]
    assert bad == []


def test_every_action_has_a_key_that_no_terminal_layer_takes() -> None:
    # Textual's own bindings are checked too (TextArea's Ctrl+A also has Home): an action may
    # have a fragile key as long as another key reaches it.
    stranded = []
    for cls in our_dom_classes():
        keys_by_action: dict[tuple[str, str], set[str]] = {}
        for _base, binding in bindings_of(cls):
            keys_by_action.setdefault((cls.__name__, binding.action), set()).add(binding.key)
        for (owner, action), keys in keys_by_action.items():
            if keys and keys <= FRAGILE.keys():
                stranded.append(f"{owner}.{action}: only {sorted(keys)}")
    assert stranded == []


def test_copy_code_pause_and_quit_have_keys_that_survive_tmux() -> None:
    from tui_chat.screens.chat import ChatScreen

    keys = {b.action: set() for _, b in bindings_of(ChatScreen)}
    for _, binding in bindings_of(ChatScreen) + bindings_of(tui_chat.app.TuiChatApp):
        keys.setdefault(binding.action, set()).add(binding.key)
    assert keys["copy_code"] - FRAGILE.keys()
    assert keys["toggle_pause"] - FRAGILE.keys()
    assert keys["quit"] - FRAGILE.keys()
