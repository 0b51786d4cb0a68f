"""Scheduled functions: each due tick of a function labelled
``swarmfaas.schedule`` becomes one stored asynchronous call.

Every sidecar process runs a ``Scheduler``; there is no leader. Each one
stores every due tick under the tick's one id (``schedule.tick_id``), and
the broker keeps the first message with an id and drops the others within its
duplicate window (``DUPLICATE_WINDOW``, longer than any catch-up). So a tick
runs once whether one sidecar is up or ten, and while any one is. The call
then goes the way of every asynchronous call: the queue worker delivers it
through the sidecar, with retries and dead letters (docs/webhooks.md).

The pure rules (the calendar, the missed-tick policy) are ``schedule``'s;
``Scheduler.due_now`` is the bookkeeping, ``run`` the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..labels import SCHEDULE
from ..model import FunctionSpec, RoutingTable
from ..schedule import due, tick_id, ticks_after
from .message import StoredCall

if TYPE_CHECKING:
    from prometheus_client import Counter

    from .broker import Broker

log = logging.getLogger("faas_sidecar.schedule")

TICK_HEADER = "X-Schedule-Tick"  # the tick's time, UTC, RFC 3339
SCHEDULE_HEADER = "X-Schedule"  # the label as written
MAX_SLEEP = 30.0  # seconds; a table change wakes the loop sooner
RETRY_PAUSE = 2.0  # after the broker refused a tick, within its catch-up


def scheduled_call(spec: FunctionSpec, tick: datetime) -> StoredCall:
    """The stored call of one tick: the same in every process that makes it
    (its call id is derived from the tick's id)."""
    assert spec.schedule is not None
    ident = tick_id(spec.name, tick)
    stamp = tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = ((TICK_HEADER, stamp), (SCHEDULE_HEADER, spec.labels.get(SCHEDULE, "")))
    policy = spec.async_policy
    return StoredCall(str(uuid.uuid5(uuid.NAMESPACE_URL, ident)), spec.name, "POST", "/", "",
                      headers, b"", tick.timestamp(), policy.attempts, policy.concurrency)


class Scheduler:
    def __init__(self, table: Callable[[], RoutingTable], changed: Callable[[], asyncio.Event],
                 broker: Broker, ticks: Counter | None = None) -> None:
        self._table = table
        self._changed = changed
        self._broker = broker
        self._ticks = ticks  # swarmfaas_schedule_ticks_total{function_name,outcome}
        self._last: dict[str, datetime] = {}  # per function: ticks up to here are done
        self._first = True

    def due_now(self, now: datetime) -> list[tuple[FunctionSpec, datetime]]:
        """The ticks to store now, and the bookkeeping of what was looked at.
        At a process's first look it looks back one catch-up (a tick missed
        while it was starting runs, once: the broker has its id if another
        process stored it); a function that appears later starts from now."""
        out: list[tuple[FunctionSpec, datetime]] = []
        seen: dict[str, datetime] = {}
        for spec in self._table().functions.values():
            schedule = spec.schedule
            if schedule is None:
                continue
            last = self._last.get(spec.name)
            if last is None:
                last = now - timedelta(seconds=schedule.catch_up) if self._first else now
            result = due(schedule, last, now)
            if result.missed:
                log.warning("schedule of %s: %d tick(s) missed, skipped (catch-up %gs)",
                            spec.name, result.missed, schedule.catch_up)
                self._count(spec.name, "missed", result.missed)
            if result.tick is not None:
                out.append((spec, result.tick))
            seen[spec.name] = now
        self._last = seen  # functions gone or unscheduled are forgotten
        self._first = False
        return out

    def next_wake(self, now: datetime) -> float:
        """Seconds until the next tick of any scheduled function, at most MAX_SLEEP."""
        wait = MAX_SLEEP
        for spec in self._table().functions.values():
            if spec.schedule is not None:
                (tick,) = ticks_after(spec.schedule, now, 1)
                wait = min(wait, (tick - now).total_seconds())
        return max(0.0, wait)

    async def store(self, spec: FunctionSpec, tick: datetime) -> bool:
        from .broker import BrokerUnavailable

        call = scheduled_call(spec, tick)
        try:
            await self._broker.store(call, msg_id=tick_id(spec.name, tick))
        except BrokerUnavailable as exc:
            log.warning("schedule of %s: tick %s not stored: %s", spec.name, tick, exc)
            self._count(spec.name, "failed")
            return False
        self._count(spec.name, "stored")
        return True

    async def run(self, clock: Callable[[], float] = time.time) -> None:
        """Until cancelled: store what is due, sleep until the next tick or a
        new table. A tick the broker refused is tried again while it is within
        its catch-up (``_last`` is moved back to just before it)."""
        while True:
            now = datetime.fromtimestamp(clock(), UTC)
            for spec, tick in self.due_now(now):
                if not await self.store(spec, tick):
                    self._last[spec.name] = tick - timedelta(microseconds=1)
            wait = self.next_wake(datetime.fromtimestamp(clock(), UTC))
            if any(t < now for t in self._last.values()):
                wait = min(wait, RETRY_PAUSE)
            changed = self._changed()
            try:
                async with asyncio.timeout(wait + 0.05):  # a little past the tick
                    await changed.wait()
            except TimeoutError:
                pass

    def _count(self, name: str, outcome: str, amount: int = 1) -> None:
        if self._ticks is not None:
            self._ticks.labels(name, outcome).inc(amount)
