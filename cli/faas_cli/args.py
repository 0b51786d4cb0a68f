"""Small parsers of command-line values. Pure, tested in tests/cli/test_args.py."""

from __future__ import annotations

import re

from .errors import CliError, Exit

_DURATION_RE = re.compile(r"^(\d+)([smhd])$")


def pairs(values: tuple[str, ...], flag: str, sep: str = "=") -> list[tuple[str, str]]:
    """`K=V` values of a repeatable flag, in order (a key may repeat)."""
    out = []
    for v in values:
        key, found, value = v.partition(sep)
        if not found or not key.strip():
            raise CliError(f"{flag} {v!r} is not KEY{sep}VALUE", Exit.USAGE,
                           f"e.g. {flag} Content-Type{sep}application/json")
        out.append((key.strip(), value))
    return out


def since(value: str) -> str:
    """`--since`: a duration (10s, 5m, 2h, 1d) or an RFC 3339 time, passed on as given."""
    if not value or _DURATION_RE.match(value) or re.match(r"^\d{4}-\d\d-\d\dT", value):
        return value
    raise CliError(f"--since {value!r} is neither a duration nor a time", Exit.USAGE,
                   "e.g. --since 10m or --since 2026-12-04T10:00:00Z")


def replicas(value: int, maximum: int = 1000) -> int:
    if value < 0 or value > maximum:
        raise CliError(f"replicas {value} is out of range", Exit.USAGE, f"0 to {maximum}")
    return value
