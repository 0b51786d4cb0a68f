"""Per-function rate limits (``swarmfaas.ratelimit.*`` labels), pure.

A token bucket per function: ``rps`` tokens a second, up to ``burst`` held;
a call takes one or is refused with the seconds until one is there (the
429's Retry-After). Each sidecar process keeps its own buckets: with several
sidecar replicas or workers, each one enforces the limit (docs/labels.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .labels import RATELIMIT_BURST, RATELIMIT_PREFIX, RATELIMIT_RPS, LabelError, is_decimal

MAX_RPS = 1_000_000.0
MAX_BURST = 1_000_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    rps: float  # tokens added per second
    burst: int  # tokens held at most (calls that may come at once)


def parse_rate_limit(labels: Mapping[str, str]) -> RateLimit | None:
    """None when the function has no limit; LabelError when a value is bad."""
    if not any(key.startswith(RATELIMIT_PREFIX) for key in labels):
        return None
    raw = labels.get(RATELIMIT_RPS, "").strip()
    try:
        rps = float(raw)
    except ValueError:
        rps = -1.0
    if not (0 < rps <= MAX_RPS) or math.isnan(rps):
        raise LabelError(f"{RATELIMIT_RPS}={raw!r}: expected requests per second in "
                         f"(0, {MAX_RPS:.0f}]")
    raw_burst = labels.get(RATELIMIT_BURST, "").strip()
    if not raw_burst:
        return RateLimit(rps, max(1, math.ceil(rps)))
    if not is_decimal(raw_burst) or not 1 <= int(raw_burst) <= MAX_BURST:
        raise LabelError(f"{RATELIMIT_BURST}={raw_burst!r}: expected an integer in "
                         f"[1, {MAX_BURST}]")
    return RateLimit(rps, int(raw_burst))


class TokenBucket:
    """One function's bucket, driven by the caller's clock (monotonic seconds)."""

    __slots__ = ("_at", "_tokens", "limit")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self._tokens = float(limit.burst)
        self._at = now

    def take(self, now: float) -> float:
        """0.0 when the call may go (a token taken); else the seconds until a
        token is there (nothing taken)."""
        limit = self.limit
        tokens = min(float(limit.burst), self._tokens + (now - self._at) * limit.rps)
        self._at = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / limit.rps


def retry_after(seconds: float) -> str:
    """Retry-After is whole seconds: rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
