"""Readers of settings from an environment mapping, shared by every config.

Each config module (the core's, the system API's, Alexa's) has its own error
class; these readers raise the one they are given, and every message names
the variable, the value and what it accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T", int, float)
# A Docker network's name, as the system API and the engine gate accept it.
NETWORK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_GLOB_RE = re.compile(r"^[A-Za-z0-9*?\[\]!._:/@-]+$")


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


def globs(env: Mapping[str, str], name: str, error: type[ValueError]) -> tuple[str, ...]:
    """Comma-separated glob patterns (fnmatch, case-sensitive); unset or blank: none."""
    items = [item.strip() for item in (env.get(name) or "").split(",")]
    patterns = tuple(item for item in items if item)
    for item in patterns:
        if not _GLOB_RE.match(item):
            raise error(
                f"{name} must be comma-separated glob patterns like 'swarmfaas/*', got {item!r}"
            )
    return patterns
