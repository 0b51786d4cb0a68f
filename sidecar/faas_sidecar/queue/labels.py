"""The ``swarmfaas.async*`` labels: whether ``/function/<name>`` itself answers
202, and the delivery policy the sidecar stamps into every stored call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..labels import (
    ASYNC,
    ASYNC_ATTEMPTS,
    ASYNC_CONCURRENCY,
    DEFAULT_ASYNC_ATTEMPTS,
    DEFAULT_ASYNC_CONCURRENCY,
    LabelError,
    is_decimal,
)

MAX_ATTEMPTS = 100
MAX_CONCURRENCY = 1000


@dataclass(frozen=True, slots=True)
class AsyncPolicy:
    always: bool = False  # swarmfaas.async: /function/<name> answers 202 too
    attempts: int = DEFAULT_ASYNC_ATTEMPTS  # deliveries before the dead letters
    concurrency: int = DEFAULT_ASYNC_CONCURRENCY  # deliveries at once, per worker


DEFAULT_POLICY = AsyncPolicy()


def parse_async_labels(labels: Mapping[str, str]) -> AsyncPolicy:
    """The function's policy; LabelError naming the label when a value is bad."""
    if not any(key == ASYNC or key.startswith(ASYNC + ".") for key in labels):
        return DEFAULT_POLICY
    raw = labels.get(ASYNC, "false").strip().lower()
    if raw not in ("true", "false"):
        raise LabelError(f"{ASYNC}={raw!r}: expected true or false")
    return AsyncPolicy(
        always=raw == "true",
        attempts=_count(labels, ASYNC_ATTEMPTS, DEFAULT_ASYNC_ATTEMPTS, MAX_ATTEMPTS),
        concurrency=_count(labels, ASYNC_CONCURRENCY, DEFAULT_ASYNC_CONCURRENCY,
                           MAX_CONCURRENCY),
    )


def _count(labels: Mapping[str, str], key: str, default: int, high: int) -> int:
    raw = labels.get(key, "").strip()
    if not raw:
        return default
    if not is_decimal(raw) or not 1 <= int(raw) <= high:
        raise LabelError(f"{key}={raw!r}: expected an integer in [1, {high}]")
    return int(raw)
