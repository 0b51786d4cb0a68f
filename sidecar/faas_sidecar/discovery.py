"""Discovery: Docker events trigger re-lists; each re-list publishes a whole table.

The events stream is read in a thread (docker-py blocks) and only wakes the
re-list loop; events are never applied as deltas. The loop also re-lists on a
timer, after every (re)connection, in a short burst after service events (the
orchestrator changes tasks just after the service), and quickly while tasks
are starting or stopping. A failed re-list or a broken stream keeps the last
good table. See docs/sidecar.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable

from .engine import Engine, EventStream
from .engineclient import EngineError
from .metrics import Metrics
from .model import EMPTY_TABLE, RoutingTable
from .spec import EMPTY_MEMO, build_table

log = logging.getLogger("faas_sidecar.discovery")

SERVICE_FOLLOW_UPS = (0.1, 0.3, 1.0)  # seconds after a service event
# Re-list pace while tasks start or stop: from 30 ms, growing to 100 ms; after
# 30 s of continuous settling (a crash-looping task), growing to 1 s.
SETTLE_FIRST, SETTLE_GROWTH, SETTLE_MAX = 0.03, 1.25, 0.1
SETTLE_LONG, SETTLE_LONG_MAX = 30.0, 1.0
RETRY_FIRST = 0.25  # after a failed re-list, doubling up to the interval
STREAM_BACKOFF_FIRST, STREAM_BACKOFF_MAX = 0.1, 2.0
LIST_TIMEOUT = 15.0
# A re-list waits at least its own last cost times this before the next one,
# so re-listing takes at most about half of a core whatever the event rate: a
# few ms on small swarms (no change), a second at 10,000 functions, where a
# listing is 28 MB of JSON (docs/scaling-out.md).
RELIST_PACE = 1.0


class Discovery:
    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        network: str,
        metrics: Metrics,
        *,
        relist_interval: float = 10.0,
        debounce: float = 0.01,
        openfaas: bool = False,
    ) -> None:
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self._network = network
        self._metrics = metrics
        self._relist_interval = relist_interval
        self._debounce = debounce
        self._openfaas = openfaas  # OPENFAAS_FUNCTIONS: faas-swarm's function=true too
        self._table: RoutingTable = EMPTY_TABLE
        self._changed = asyncio.Event()
        self._kick = asyncio.Event()
        self._first_table = asyncio.Event()
        self._stop = threading.Event()
        self._stream: EventStream | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._thread: threading.Thread | None = None
        self._settle_delay = SETTLE_FIRST
        self._settling_since: float | None = None
        self._retry_delay = RETRY_FIRST
        self._connections = 0
        self.stream_connected = False
        # The functions network's ID, looked up again after a network event, a
        # reconnect (events may have been missed) or a quiet interval; the
        # epoch keeps a re-list in flight from storing an ID already stale.
        self._network_id: str | None = None
        self._network_epoch = 0
        self._memo = EMPTY_MEMO  # the last build's parse, reused for unchanged documents
        self._relist_cost = 0.0  # seconds the last re-list took, listing and build

    # what handlers read
    @property
    def table(self) -> RoutingTable:
        return self._table

    def changed(self) -> asyncio.Event:
        """An event set at the next change of the table (for held requests)."""
        return self._changed

    async def wait_ready(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._first_table.wait()
            return True
        except TimeoutError:
            return False

    # lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._watch, name="docker-events", daemon=True)
        self._thread.start()
        self._tasks.append(asyncio.create_task(self._relist_loop(), name="relist"))

    async def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2.0)

    # the events thread
    def _call(self, fn: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(fn, *args)

    def _watch(self) -> None:
        backoff = STREAM_BACKOFF_FIRST
        engine: Engine | None = None
        while not self._stop.is_set():
            connected_at = None
            try:
                engine = engine or self._engine_factory()
                stream = engine.events()  # subscribed from here on
                self._stream = stream
                connected_at = time.monotonic()
                self._call(self._on_connected)
                for event in stream:
                    if self._stop.is_set():
                        break
                    self._call(self._on_event, event.get("Type", ""), event.get("Action", ""))
                if not self._stop.is_set():
                    log.warning("the Docker events stream ended")
            except EngineError as exc:
                if not self._stop.is_set():
                    log.warning("Docker events stream: %s", exc)
            finally:
                self._stream = None
                if connected_at is not None:
                    self._call(self._on_disconnected)
            if connected_at is not None and time.monotonic() - connected_at > 10:
                backoff = STREAM_BACKOFF_FIRST
            self._stop.wait(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, STREAM_BACKOFF_MAX)

    # loop callbacks
    def _forget_network_id(self) -> None:
        self._network_id = None
        self._network_epoch += 1

    def _on_connected(self) -> None:
        self._forget_network_id()
        self._connections += 1
        if self._connections > 1:
            self._metrics.reconnects.inc()
            log.info("Docker events stream reconnected: re-listing")
        self.stream_connected = True
        self._metrics.stream_up.set(1)
        self._kick.set()

    def _on_disconnected(self) -> None:
        self.stream_connected = False
        self._metrics.stream_up.set(0)

    def _on_event(self, kind: str, action: str) -> None:
        if action.startswith("exec_"):
            # Health check probes: the subscription leaves them out
            # (model.EVENT_ACTIONS); a Docker that sent them anyway is noise.
            return
        self._metrics.events.labels(kind or "unknown").inc()
        if kind == "network":
            self._forget_network_id()
        # Something moved: watch task states at the fast pace again (a task
        # reports "running" shortly after its container's start event, and
        # that report has no event of its own).
        self._settle_delay = SETTLE_FIRST
        self._kick.set()
        if kind == "service":
            for delay in SERVICE_FOLLOW_UPS:
                self._kick_later(delay)

    def _kick_later(self, delay: float) -> None:
        assert self._loop is not None
        self._loop.call_later(delay, self._kick.set)

    # the re-list loop
    async def _relist_loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._relist_interval):
                    await self._kick.wait()
            except TimeoutError:
                self._forget_network_id()  # bounds how long a lost event can matter
            pause = max(self._debounce, self._relist_cost * RELIST_PACE)
            if pause:
                await asyncio.sleep(pause)
            self._kick.clear()
            await self.relist()

    async def relist(self) -> bool:
        started = time.perf_counter()
        epoch = self._network_epoch
        try:
            if self._engine is None:
                self._engine = await asyncio.to_thread(self._engine_factory)
            async with asyncio.timeout(LIST_TIMEOUT):
                network_id, (services, tasks) = await asyncio.to_thread(
                    self._list, self._network_id)
        except (EngineError, TimeoutError) as exc:
            self._forget_network_id()
            self._metrics.relists.labels("error").inc()
            log.warning("re-list failed, keeping table %d: %s", self._table.generation,
                        exc or "timed out")
            self._kick_later(self._retry_delay)
            self._retry_delay = min(self._retry_delay * 2, self._relist_interval)
            return False
        self._retry_delay = RETRY_FIRST
        if self._network_epoch == epoch:
            self._network_id = network_id
        took = time.perf_counter() - started
        self._metrics.relists.labels("ok").inc()
        self._metrics.relist_seconds.observe(took)
        result = build_table(services, tasks, self._network, network_id=network_id,
                             generation=self._table.generation + 1, built_at=time.time(),
                             memo=self._memo, openfaas=self._openfaas)
        self._memo = result.memo
        self._relist_cost = time.perf_counter() - started
        self._publish(result.table)
        log.debug("re-list took %.1f ms, %d tasks, settling=%s, next settle in %.0f ms",
                  took * 1000, len(tasks), result.settling, self._settle_delay * 1000)
        if result.settling:
            now = time.monotonic()
            if self._settling_since is None:
                self._settling_since = now
            cap = SETTLE_MAX if now - self._settling_since < SETTLE_LONG else SETTLE_LONG_MAX
            self._kick_later(self._settle_delay)
            self._settle_delay = min(self._settle_delay * SETTLE_GROWTH, cap)
        else:
            self._settling_since = None
            self._settle_delay = SETTLE_FIRST
        return True

    def _list(self, network_id: str | None) -> tuple[str, tuple[list, list]]:
        """Runs in a thread. A re-created network gets a new ID: the loop forgets
        the known one on network events (see ``_forget_network_id``)."""
        engine = self._engine
        assert engine is not None
        if network_id is None:
            network_id = engine.network_id(self._network)
        return network_id, engine.list_functions()

    def _publish(self, table: RoutingTable) -> None:
        old = self._table
        if old.generation and table.functions == old.functions and table.invalid == old.invalid:
            # Same content: keep the generation (pools and waiters rely on it).
            self._table = RoutingTable(functions=old.functions, built_at=table.built_at,
                                       generation=old.generation, invalid=old.invalid)
        else:
            self._table = table
            log.info("routing table %d: %s", table.generation, describe(table))
            for service, reason in table.invalid.items():
                if old.invalid.get(service) != reason:
                    log.warning("service %s is not routable: %s", service, reason)
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()
        self._first_table.set()


def describe(table: RoutingTable) -> str:
    parts = [f"{name}={len(spec.replicas)}" for name, spec in sorted(table.functions.items())]
    return ", ".join(parts) or "no functions"
