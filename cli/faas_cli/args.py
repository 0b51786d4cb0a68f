"""Small parsers of command-line values. Pure, tested in tests/cli/test_args.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

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


_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since(value: str, now: datetime | None = None) -> str:
    """`--since`: a duration (10s, 5m, 2h, 1d) before ``now``, or an RFC 3339 time;
    the RFC 3339 time the API's `since` takes (a time without a zone is UTC)."""
    if not value:
        return ""
    if duration := _DURATION_RE.fullmatch(value):
        ago = timedelta(seconds=int(duration[1]) * _SECONDS[duration[2]])
        return ((now or datetime.now(UTC)) - ago).isoformat(timespec="seconds")
    if re.match(r"^\d{4}-\d\d-\d\dT", value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
    raise CliError(f"--since {value!r} is neither a duration nor a time", Exit.USAGE,
                   "e.g. --since 10m or --since 2026-12-04T10:00:00Z")


def replicas(value: int, maximum: int = 1000) -> int:
    if value < 0 or value > maximum:
        raise CliError(f"replicas {value} is out of range", Exit.USAGE, f"0 to {maximum}")
    return value
