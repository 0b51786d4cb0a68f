"""Readers of settings from an environment mapping, shared by every config.

Each config module (the core's, the system API's, Alexa's) has its own error
class; these readers raise the one they are given, and every message names
the variable, the value and what it accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T", int, float)


def text(env: Mapping[str, str], name: str) -> str | None:
    """The value without surrounding blanks; None when unset or blank."""
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def bounded(env: Mapping[str, str], name: str, default: T, cast: Callable[[str], T],
            low: float, high: float, what: str, error: type[ValueError]) -> T:
    """A number in [low, high]; ``default`` when unset or blank."""
    raw = text(env, name)
    if raw is None:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise error(f"{name}={raw!r}: expected {what}") from None
    if not low <= value <= high:
        raise error(f"{name}={raw!r}: expected {what}")
    return value
