"""The one reader of settings: typed, bounded values from an environment mapping.

Every component's config (the core's, the system API's, the engine gate's,
Alexa's) reads its variables through ``Settings``, one line per setting::

    s = Settings(env, GateConfigError)
    port = s.port("GATE_PORT", 2375)
    timeout = s.seconds("GATE_TIMEOUT", 30.0, low=1, high=600)

The rules are the same for every setting:

- unset or blank means the default (except ``nonempty`` and ``matching``,
  where a blank value set on purpose is itself checked);
- values are stripped of surrounding blanks;
- booleans are ``true``/``false`` or ``1``/``0``, in any case; nothing else;
- every error is a ``ConfigError`` (a component's subclass) whose message
  starts with the variable's name and says what it accepts.

Only ``main()`` passes ``os.environ``; tests pass plain dicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn, TypeVar, overload

T = TypeVar("T", int, float)
# A Docker network's name, as the system API and the engine gate accept it.
NETWORK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# SYSTEM_SECRET_PREFIX, read by the system API and the engine gate: never empty,
# so the secrets the API may touch are always a named subset.
SECRET_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
DEFAULT_SECRET_PREFIX = "swarmfaas-fn-"
SECRET_PREFIX_TEXT = "1-32 characters of [A-Za-z0-9_.-], starting with a letter or digit"
_GLOB_RE = re.compile(r"^[A-Za-z0-9*?\[\]!._:/@-]+$")
# One spelling of booleans for every setting (Starlette's Config accepts the same).
TRUE = frozenset({"true", "1"})
FALSE = frozenset({"false", "0"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A setting is missing or has a value the platform cannot use; the message
    names it. Each component raises its own subclass."""


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
    if not low <= value <= high:  # also refuses nan
        raise error(f"{name}={raw!r}: expected {what}")
    return value


def parse_address(raw: str) -> tuple[str, int] | None:
    """(host, port) from ``host:port`` (``[::1]:8080`` too); None if it is not one."""
    host, _, port = raw.strip().rpartition(":")
    host = host.strip().strip("[]")
    # ASCII digits only: str.isdigit() alone takes "²", which int() refuses
    if not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


def globs(env: Mapping[str, str], name: str, error: type[ValueError]) -> tuple[str, ...]:
    """Comma-separated glob patterns (fnmatch, case-sensitive); unset or blank: none."""
    items = [item.strip() for item in (env.get(name) or "").split(",")]
    patterns = tuple(item for item in items if item)
    for item in patterns:
        if not _GLOB_RE.fullmatch(item):
            raise error(
                f"{name} must be comma-separated glob patterns like 'swarmfaas/*', got {item!r}"
            )
    return patterns


@dataclass(frozen=True, slots=True)
class Settings:
    """Typed readers over one mapping; each raises ``error`` naming the setting."""

    env: Mapping[str, str]
    error: type[ConfigError] = ConfigError

    def fail(self, message: str) -> NoReturn:
        raise self.error(message)

    # -- text --------------------------------------------------------------------

    @overload
    def text(self, name: str) -> str | None: ...
    @overload
    def text(self, name: str, default: str) -> str: ...

    def text(self, name: str, default: str | None = None) -> str | None:
        """Stripped text; ``default`` when unset or blank."""
        value = text(self.env, name)
        return default if value is None else value

    def required(self, name: str, why: str) -> str:
        """Stripped text that must be there; ``why`` says what it is."""
        value = text(self.env, name)
        if value is None:
            self.fail(f"{name} is required: {why}")
        return value

    def nonempty(self, name: str, default: str) -> str:
        """``default`` when unset; set but blank is an error."""
        value = self._raw(name, default)
        if not value:
            self.fail(f"{name} must not be empty")
        return value

    def matching(self, name: str, default: str, pattern: re.Pattern[str], what: str) -> str:
        """``default`` when unset; a set value (even blank) must match ``pattern``."""
        value = self._raw(name, default)
        if not pattern.fullmatch(value):
            self.fail(f"{name} must be {what}, got {value!r}")
        return value

    def absolute_path(self, name: str, default: str) -> str:
        """A file path starting with '/'; ``default`` when unset."""
        value = self.nonempty(name, default)
        if not value.startswith("/"):
            self.fail(f"{name} must be an absolute file path, got {value!r}")
        return value

    def globs(self, name: str) -> tuple[str, ...]:
        return globs(self.env, name, self.error)

    def _raw(self, name: str, default: str) -> str:
        value = self.env.get(name)
        return default if value is None else value.strip()

    # -- choices -----------------------------------------------------------------

    def flag(self, name: str, default: bool) -> bool:
        """true/false or 1/0, in any case; ``default`` when unset or blank."""
        value = text(self.env, name)
        if value is None:
            return default
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        self.fail(f"{name}={value!r}: expected true or false (or 1 or 0)")

    def log_level(self, name: str = "LOG_LEVEL", default: str = "INFO") -> str:
        """A logging level name, upper-cased."""
        level = (text(self.env, name) or default).upper()
        if level not in LOG_LEVELS:
            self.fail(f"{name}={level!r}: expected {', '.join(LOG_LEVELS[:-1])} "
                      f"or {LOG_LEVELS[-1]}")
        return level

    # -- numbers -----------------------------------------------------------------

    def integer(self, name: str, default: int, *, low: int, high: int,
                what: str | None = None) -> int:
        return bounded(self.env, name, default, int, low, high,
                       what or f"an integer in [{low}, {high}]", self.error)

    def seconds(self, name: str, default: float, *, low: float, high: float) -> float:
        return bounded(self.env, name, default, float, low, high,
                       f"a number of seconds in [{low:g}, {high:g}]", self.error)

    def size(self, name: str, default: int, *, low: int, high: int) -> int:
        """A number of bytes, as an integer."""
        return self.integer(name, default, low=low, high=high,
                            what=f"a number of bytes in [{low}, {high}]")

    def port(self, name: str, default: int) -> int:
        return self.integer(name, default, low=1, high=65535, what="a TCP port (1-65535)")

    def address(self, name: str, example: str) -> tuple[str, int] | None:
        """``host:port`` as (host, port); None when unset or blank."""
        raw = text(self.env, name)
        if raw is None:
            return None
        found = parse_address(raw)
        if found is None:
            self.fail(f"{name}={raw!r}: expected host:port, e.g. {example}")
        return found
