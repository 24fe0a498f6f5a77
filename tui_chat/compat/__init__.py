"""The one room for code that leans on private parts of Textual, Rich and the OpenAI SDK.

The app's speed rests on a few overrides of library internals (the table below; each module
that holds one says why). A release that renames or reshapes one of them would otherwise turn
the override into dead code without a sound, so each hook is checked when its module is
imported: the names exist and the signatures are the ones the override was written against.
A hook that does not fit is not installed, the library's own public path runs instead, and the
log says which hook was left out and why, once (`report`). While hooks run they count here
(`ran`), so tests can see that each one is alive, not just installed.

This package imports neither Textual nor the SDK: `textual_hooks` holds every private import
from Textual and Rich, `sdk_hooks` the SDK's, so the providers can check their hook without
pulling in the UI.
"""

from __future__ import annotations

import inspect
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hook:
    """One use of private library API, with what it is for and what would replace it."""

    name: str
    uses: str
    """The private names it touches."""
    why: str
    public: str
    """The public API that would replace it (and what runs while it is left out)."""
    liveness: tuple[str, ...]
    """Counters in `ran` that show it at work (one per private entry point)."""


HOOKS: dict[str, Hook] = {}
"""Every hook, by name, in the order their modules were imported."""

left_out: dict[str, str] = {}
"""Hooks that did not fit the installed library, with the reason."""

ran: Counter[str] = Counter()
"""How often each liveness counter was reached (cheap: one dict update per frame or read)."""

_reported: set[str] = set()


class Misfit(Exception):
    """A private name is missing or not shaped the way a hook was written against."""


def register(hook: Hook, check: Callable[[], None]) -> bool:
    """Check `hook` against the installed library; True if it fits and may be installed."""
    HOOKS[hook.name] = hook
    try:
        check()
    except Misfit as error:
        left_out[hook.name] = str(error)
    except Exception as error:  # any surprise while looking is a misfit too
        left_out[hook.name] = f"{type(error).__name__}: {error}"
    else:
        left_out.pop(hook.name, None)
    return hook.name not in left_out


def fits(name: str) -> bool:
    """Whether the registered hook `name` is installed."""
    return name in HOOKS and name not in left_out


def report(logger: logging.Logger = log) -> None:
    """Log each hook that was left out, with why and what runs instead; each only once.

    Nothing is said (nor marked said) while logging has no handler: `tui-chat ask` has no log
    file, and Python would print the warning on its stderr, which belongs to the answer.
    """
    if not logger.hasHandlers():
        return
    for name, reason in left_out.items():
        if name in _reported:
            continue
        _reported.add(name)
        hook = HOOKS[name]
        logger.warning("private hook %r left out (%s); running on the public path: %s",
                       name, reason, hook.public)


def liveness() -> dict[str, int]:
    """Every liveness counter of every installed-or-not hook, zero if it never ran."""
    return {counter: ran[counter] for hook in HOOKS.values() for counter in hook.liveness}


def report_liveness(logger: logging.Logger = log) -> None:
    """One log line saying how often each hook ran (a pty test reads it from the log file)."""
    shown = ", ".join(f"{name}={times}" for name, times in liveness().items())
    left = ", ".join(left_out) or "none"
    logger.info("private hooks ran: %s; left out: %s", shown, left)


# -- checks ----------------------------------------------------------------------------------

def params(function: Callable[..., Any]) -> tuple[str, ...]:
    """A function's parameters as written: `name`, `name=default`, `*name` for keyword-only."""
    shown: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        text = parameter.name
        if parameter.default is not parameter.empty:
            text += f"={parameter.default!r}"
        if parameter.kind is parameter.KEYWORD_ONLY:
            text = "*" + text
        elif parameter.kind is parameter.VAR_POSITIONAL:
            text = "*" + text + "..."
        elif parameter.kind is parameter.VAR_KEYWORD:
            text = "**" + text
        shown.append(text)
    return tuple(shown)


def attribute(owner: object, name: str) -> Any:
    """`owner.name`, or a Misfit that says it is gone."""
    try:
        return getattr(owner, name)
    except AttributeError:
        where = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", repr(owner))
        raise Misfit(f"{where}.{name} is gone") from None


def signature(owner: object, name: str, expected: tuple[str, ...]) -> None:
    """`owner.name` exists and takes exactly the parameters `expected`."""
    found = params(attribute(owner, name))
    if found != expected:
        where = getattr(owner, "__qualname__", repr(owner))
        raise Misfit(f"{where}.{name}{_text(found)}, written against {name}{_text(expected)}")


def same_signature(ours: type, theirs: type, name: str) -> None:
    """Our override `ours.name` takes the same parameters as the library's `theirs.name`."""
    signature(theirs, name, params(getattr(ours, name)))


def sets(function: Callable[..., Any], names: Iterable[str]) -> None:
    """`function` (say an `__init__`) still refers to the attributes `names`.

    Instance attributes have no declaration to look up; the names a function's code uses are
    listed in its code object, so this is a cheap check that they are still written there.
    """
    code = getattr(function, "__code__", None)
    used = set(code.co_names) if code is not None else set()
    missing = [name for name in names if name not in used]
    if missing:
        raise Misfit(f"{function.__qualname__} no longer uses {', '.join(missing)}")


def is_property(owner: type, name: str) -> None:
    if not isinstance(inspect.getattr_static(owner, name, None), property):
        raise Misfit(f"{owner.__qualname__}.{name} is not a property any more")


def _text(found: tuple[str, ...]) -> str:
    return "(" + ", ".join(found) + ")"
