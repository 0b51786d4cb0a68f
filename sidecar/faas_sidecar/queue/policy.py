"""The retry policy of deliveries: plain functions over the outcome of one
attempt (pure; tests/sidecar/queue/test_policy.py has the table).

A delivery that got an answer is done, whatever the function said, except
for the answers worth another try: 5xx, 429 and 408. No answer at all (the
sidecar unreachable, the exchange timed out) is worth another try too. A
platform-marked 4xx means the sidecar refused the call before any function
saw it (gone, too large, bad token): trying again cannot help, so it goes to
the dead letters at once. Retries wait ``backoff_delay``: exponential, capped,
with jitter, and never less than the function's Retry-After.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..labels import is_decimal


class Verdict(enum.Enum):
    DONE = "done"  # ack: delivered
    RETRY = "retry"  # nak with a delay: the broker redelivers
    DEAD = "dead"  # to the dead letters, then ack


# Causes: the metrics' label values and the dead letter's "cause".
UNREACHABLE = "unreachable"  # no connection to the sidecar, or it broke
TIMEOUT = "timeout"  # no answer in time
SERVER_ERROR = "server_error"  # 5xx (the function's, or the platform's 502/503/504)
RATE_LIMITED = "rate_limited"  # 429
REJECTED = "rejected"  # a platform-marked 4xx: the call cannot be delivered
CAUSES = (UNREACHABLE, TIMEOUT, SERVER_ERROR, RATE_LIMITED, REJECTED)

RETRIED_STATUSES = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 1.0  # seconds before the second attempt (before jitter)
    factor: float = 2.0
    cap: float = 300.0  # no wait longer than this


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    delay: float = 0.0  # seconds, for RETRY
    cause: str | None = None  # for RETRY and DEAD


def cause_of(status: int | None, error: str | None, platform: bool) -> str | None:
    """Why an attempt failed, or None when it delivered. ``error`` is
    UNREACHABLE or TIMEOUT when there was no answer (then ``status`` is None)."""
    if status is None:
        return error or UNREACHABLE
    if status == 429:
        return RATE_LIMITED
    if status >= 500 or status in RETRIED_STATUSES:
        return TIMEOUT if status in (408, 504) else SERVER_ERROR
    if platform and 400 <= status < 500:
        return REJECTED
    return None


def backoff_delay(attempt: int, backoff: Backoff, rand: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based):
    base * factor^(attempt-1), capped, then "equal jitter": between half of it
    and all of it (``rand`` in [0, 1)), so retries of many calls spread out."""
    full = min(backoff.cap, backoff.base * backoff.factor ** max(0, attempt - 1))
    return full / 2 + full / 2 * rand


def decide(attempt: int, attempts: int, cause: str | None, backoff: Backoff, rand: float,
           retry_after: float | None = None) -> Decision:
    """What to do after attempt ``attempt`` of ``attempts`` ended with ``cause``."""
    if cause is None:
        return Decision(Verdict.DONE)
    if cause == REJECTED or attempt >= attempts:
        return Decision(Verdict.DEAD, cause=cause)
    delay = backoff_delay(attempt, backoff, rand)
    if retry_after is not None:
        delay = max(delay, min(retry_after, backoff.cap))
    return Decision(Verdict.RETRY, delay=delay, cause=cause)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by the platform)."""
    if value is None:
        return None
    value = value.strip()
    return float(value) if is_decimal(value) else None
