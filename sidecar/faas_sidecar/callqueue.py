"""The per-function queue in front of full replicas (docs/scaling.md, "The queue").

A function whose replicas take at most ``max_inflight`` requests each (the
watchdog's own setting, read from the service's environment) gets a queue in
each sidecar: when every ready replica has that many of this sidecar's calls
in flight, a new call waits in arrival order, bounded by a length
(``swarmfaas.queue.length``) and a wait (``swarmfaas.queue.wait``), and is
let through as a slot frees. Past either bound it is refused with 429
``function_queue_full``.

The decisions are pure functions over plain numbers (``parse_queue``,
``free_slots``, ``decide``); ``FunctionQueue`` is the FIFO of waiting calls
(futures), driven by the call policy in proxy.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from .labels import (
    DEFAULT_QUEUE_LENGTH,
    DEFAULT_QUEUE_WAIT,
    QUEUE_LENGTH,
    QUEUE_WAIT,
    LabelError,
    is_decimal,
)

# The watchdog's setting (watchdog/fwatchdog/config.py), read from the service's
# environment: one setting for the user, the same number for both.
MAX_INFLIGHT_ENV = "max_inflight"

MAX_QUEUE_LENGTH = 100_000
MAX_QUEUE_WAIT = 3600.0


@dataclass(frozen=True, slots=True)
class QueueBounds:
    """A function's concurrency limit per replica and its queue's bounds."""

    max_inflight: int  # calls one replica takes at once (the watchdog's max_inflight)
    length: int = DEFAULT_QUEUE_LENGTH  # calls waiting at most, per sidecar process
    wait: float = DEFAULT_QUEUE_WAIT  # seconds a call waits at most


def env_value(env: Sequence[str] | None, key: str) -> str | None:
    """The value of ``key`` in a ContainerSpec.Env list (``KEY=value``); the
    last one wins, as in Docker."""
    found = None
    for item in env or ():
        name, sep, value = item.partition("=")
        if sep and name == key:
            found = value
    return found


def parse_queue(labels: Mapping[str, str], env: Sequence[str] | None) -> QueueBounds | None:
    """The queue of a function: None when it has no concurrency limit (no
    ``max_inflight`` in its service's environment, or 0), which never queues.
    LabelError names the setting with a bad value."""
    raw = env_value(env, MAX_INFLIGHT_ENV)
    length = _length(labels.get(QUEUE_LENGTH))
    wait = _wait(labels.get(QUEUE_WAIT))
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if not is_decimal(raw):
        raise LabelError(f"{MAX_INFLIGHT_ENV}={raw!r} in the service's environment: "
                         "expected a whole number (0: no limit)")
    limit = int(raw)
    if limit == 0:
        return None
    return QueueBounds(limit, length, wait)


def _length(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_QUEUE_LENGTH
    raw = raw.strip()
    if not is_decimal(raw) or int(raw) > MAX_QUEUE_LENGTH:
        raise LabelError(f"{QUEUE_LENGTH}={raw!r}: expected an integer in "
                         f"[0, {MAX_QUEUE_LENGTH}]")
    return int(raw)


def _wait(raw: str | None) -> float:
    if raw is None:
        return DEFAULT_QUEUE_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_QUEUE_WAIT or math.isnan(value):
        raise LabelError(f"{QUEUE_WAIT}={raw!r}: expected seconds in [0, {MAX_QUEUE_WAIT:.0f}]")
    return value


def free_slots(limit: int, loads: Iterable[int], granted: int) -> int:
    """Calls that may start now: what every replica has below ``limit``, less
    the slots already handed to waiting calls that have not started yet."""
    return sum(max(limit - load, 0) for load in loads) - granted


class Decision(Enum):
    GO = "go"        # a slot is free and nobody waits before this call
    WAIT = "wait"    # into the queue
    FULL = "full"    # the queue is at its length: refused


def decide(free: int, waiting: int, length: int) -> Decision:
    """What happens to a call arriving now. A free slot goes to the queue's
    head first (arrival order), so a new call goes only past an empty queue."""
    if free > 0 and waiting == 0:
        return Decision.GO
    if waiting < length:
        return Decision.WAIT
    return Decision.FULL


class FunctionQueue:
    """One function's waiting calls, in arrival order. A waiting call holds a
    future; ``grant`` resolves the oldest ones (a slot each, counted in
    ``granted`` until the call starts and ``started`` is called)."""

    __slots__ = ("granted", "waiters")

    def __init__(self) -> None:
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.granted = 0

    def __len__(self) -> int:
        return len(self.waiters)

    def enter(self, front: bool = False) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if front:
            self.waiters.appendleft(waiter)
        else:
            self.waiters.append(waiter)
        return waiter

    def grant(self, free: int) -> int:
        """Let up to ``free`` of the oldest calls go; how many went."""
        waiters = self.waiters
        went = 0
        while went < free and waiters:
            waiter = waiters.popleft()
            if waiter.done():
                continue  # cancelled: its call is gone
            waiter.set_result(None)
            self.granted += 1
            went += 1
        return went

    def started(self) -> None:
        """A granted call took its slot (or gave it up)."""
        self.granted -= 1

    def leave(self, waiter: asyncio.Future[None]) -> bool:
        """A waiting call gives up (its client left, or its wait is over).
        True when it had been granted a slot, which then goes to the next."""
        if waiter.done() and not waiter.cancelled():
            self.granted -= 1
            return True
        waiter.cancel()
        with contextlib.suppress(ValueError):  # gone already
            self.waiters.remove(waiter)
        return False
