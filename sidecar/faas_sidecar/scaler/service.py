"""The scaler's loop: every round, list functions, scrape every sidecar, decide, write.

One process per swarm makes every decision (docs/scaling.md says why and how
stack.yml keeps it one). A round: list the function services and their tasks
through the engine gate; resolve the sidecar names to every replica's address
and read each one's /metrics; sum them into one sample per function; ask the
policy; set the counts it asks for. Every decision that changes a count is
logged with its reason and counted. A round that fails is logged and the
next one starts over: the windows live here, in memory.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..engineclient import EngineError
from ..spec import InvalidFunction, parse_service, service_networks, task_is_ready
from .config import ScalerConfig
from .labels import ScaleLabelError, ScaleSpec, parse_scale_labels
from .measure import Reading, Round, parse_metrics, samples
from .metrics import ScalerMetrics
from .policy import LastDecision, Sample, Window, advance, decide, noticed_by_hand

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FunctionView:
    """A function as one round sees it."""

    name: str
    service: Mapping[str, Any]  # the listing's JSON (ID, Version, Spec)
    replicas: int               # Docker's count
    ready: int
    scale: ScaleSpec


def function_views(services: Iterable[Mapping[str, Any]], tasks: Iterable[Mapping[str, Any]],
                   network: frozenset[str], openfaas: bool = False,
                   ) -> tuple[list[FunctionView], dict[str, str]]:
    """(functions the scaler can scale, {service name: why not}) on ``network``
    (its name and id); global services are not scaled, and are not reported."""
    ready: dict[str, int] = {}
    for task in tasks:
        if task_is_ready(task):
            ready[task.get("ServiceID", "")] = ready.get(task.get("ServiceID", ""), 0) + 1
    views, invalid = [], {}
    for service in services:
        if not service_networks(service) & network:
            continue
        try:
            spec = parse_service(service, openfaas)
            scale = parse_scale_labels(spec.labels)
        except (InvalidFunction, ScaleLabelError) as exc:
            invalid[(service.get("Spec") or {}).get("Name", "")] = str(exc)
            continue
        if spec.desired_replicas is None:
            continue
        views.append(FunctionView(spec.name, service, spec.desired_replicas,
                                  ready.get(spec.service_id, 0), scale))
    return views, invalid


@dataclass
class FunctionState:
    service_id: str = ""                # a service re-created under the name starts afresh
    window: Window = field(default_factory=Window)
    expected: int | None = None         # the count the scaler set or last saw
    last_human: float | None = None
    last: LastDecision | None = None


Scrape = Callable[[str, int], Awaitable[Mapping[str, Reading]]]

# Rounds begin at least this far apart however often sidecars nudge: a nudged
# round costs what any round does (a listing through the gate, a scrape of
# every sidecar), and this bounds it to 1 / WAKE_GAP rounds a second.
WAKE_GAP = 0.25
MIN_PAUSE = 0.05  # between rounds without a nudge, even after a long round


def round_delay(elapsed: float, interval: float, woken: bool) -> float:
    """Seconds from now until the next round, ``elapsed`` seconds after the
    last one began: the rest of the interval, or once woken the rest of
    WAKE_GAP (never more than the interval's rest)."""
    if woken:
        return max(min(WAKE_GAP, interval) - elapsed, 0.0)
    return max(interval - elapsed, MIN_PAUSE)


class EngineCalls(Protocol):
    """The Engine calls a round makes (engine.ScalerEngine; blocking, run in a thread)."""

    def network_id(self, network: str) -> str: ...
    def list_functions(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]: ...
    def set_replicas(self, service: Mapping[str, Any], replicas: int) -> None: ...


class Scaler:
    def __init__(self, config: ScalerConfig, engine: EngineCalls, metrics: ScalerMetrics, *,
                 scrape: Scrape | None = None,
                 resolve: Callable[[str, int], Awaitable[list[str]]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._engine = engine
        self._metrics = metrics
        self._scrape = scrape or scrape_metrics
        self._resolve = resolve or resolve_all
        self._clock = clock
        self._states: dict[str, FunctionState] = {}
        self._previous: Round | None = None
        self._network: frozenset[str] | None = None
        self._reported: dict[str, str] = {}
        self._woken = asyncio.Event()  # a sidecar's nudge: round now (wake)
        # samples kept: the stabilisation window and a round's slack
        self._keep = config.policy.down_window + 2 * config.interval

    def wake(self, what: str = "") -> None:
        """A sidecar's nudge (a call started waiting): the next round starts at
        once, or WAKE_GAP after the last one began. Safe to call any time on
        the loop; nudges during a round make one more round, not one each."""
        self._metrics.wakes.inc()
        log.debug("woken: a call waits for %s", what or "a function")
        self._woken.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = self._clock()
            self._woken.clear()  # a nudge from now on is seen by another round
            try:
                await self.round()
            except Exception as exc:  # the next round starts over
                self._metrics.failures.labels("round").inc()
                log.warning("scaling round failed: %s", exc)
            self._metrics.round_seconds.observe(self._clock() - started)
            await self._until_next_round(stop, started)

    async def _until_next_round(self, stop: asyncio.Event, started: float) -> None:
        """Wait out the interval; a nudge cuts it short (not below WAKE_GAP)."""
        elapsed = self._clock() - started
        woken = asyncio.ensure_future(self._woken.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((woken, stopped), timeout=round_delay(
                elapsed, self.config.interval, False), return_when=asyncio.FIRST_COMPLETED)
            if self._woken.is_set() and not stop.is_set():
                delay = round_delay(self._clock() - started, self.config.interval, True)
                if delay > 0:
                    await asyncio.wait((stopped,), timeout=delay)
        finally:
            woken.cancel()
            stopped.cancel()

    async def round(self) -> None:
        if self._network is None:
            network_id = await asyncio.to_thread(self._engine.network_id,
                                                 self.config.functions_network)
            self._network = frozenset({self.config.functions_network, network_id})
        services, tasks = await asyncio.to_thread(self._engine.list_functions)
        views, invalid = function_views(services, tasks, self._network,
                                        self.config.openfaas_functions)
        self._report(invalid)
        current = await self._read_sidecars()
        now = current.at
        sampled = samples([v.name for v in views], current, self._previous)
        self._previous = current
        for gone in set(self._states) - {v.name for v in views}:
            del self._states[gone]
            self._metrics.forget(gone)
        for view in views:
            await self._scale(view, sampled[view.name], now)

    async def _scale(self, view: FunctionView, sample: Sample, now: float) -> None:
        service_id = str(view.service.get("ID", ""))
        state = self._states.get(view.name)
        if state is None or state.service_id != service_id:
            state = self._states[view.name] = FunctionState(service_id)
        if noticed_by_hand(view.replicas, state.expected):
            state.last_human = now
            log.info("%s: %d replicas set by hand (was %d); left alone for %g s", view.name,
                     view.replicas, state.expected, self.config.policy.human_hold)
        state.expected = view.replicas
        state.window = advance(state.window, sample, self._keep)
        decision = decide(view.scale, state.window, current=view.replicas, now=now,
                          last_human=state.last_human, last=state.last,
                          config=self.config.policy)
        m = self._metrics
        m.replicas.labels(view.name).set(view.replicas)
        m.ready.labels(view.name).set(view.ready)
        m.inflight.labels(view.name).set(sample.inflight)
        m.queued.labels(view.name).set(sample.queued)
        m.rps.labels(view.name).set(sample.rps if sample.rps is not None else float("nan"))
        m.cpu.labels(view.name).set(sample.cpu if sample.cpu is not None else float("nan"))
        wanted = view.replicas if decision.replicas is None else decision.replicas
        m.desired.labels(view.name).set(wanted)
        if decision.replicas is None or decision.replicas == view.replicas:
            log.debug("%s: %s (%s)", view.name, decision.reason, decision.detail)
            return
        try:
            await asyncio.to_thread(self._engine.set_replicas, view.service, decision.replicas)
        except EngineError as exc:
            if exc.status != 404:
                self._failed_write(view, decision.replicas, decision.reason, exc)
                return
            # Removed since this round listed it (the gate's or Docker's 404, by
            # ID: a service re-created under the name is another): nothing to scale.
            log.info("%s: went away before %d -> %d replicas (%s) was written; "
                     "decision dropped", view.name, view.replicas, decision.replicas,
                     decision.reason)
            self._states.pop(view.name, None)
            m.forget(view.name)
            return
        except Exception as exc:
            self._failed_write(view, decision.replicas, decision.reason, exc)
            return
        state.expected = decision.replicas
        state.last = LastDecision(now, decision.replicas, view.replicas)
        m.decisions.labels(view.name, decision.reason).inc()
        log.info("%s: %d -> %d replicas, %s: %s", view.name, view.replicas,
                 decision.replicas, decision.reason, decision.detail)

    def _failed_write(self, view: FunctionView, replicas: int, reason: str,
                      exc: Exception) -> None:
        self._metrics.failures.labels("scale").inc()
        log.warning("%s: could not set %d replicas (%s): %s", view.name, replicas, reason, exc)

    async def _read_sidecars(self) -> Round:
        addresses: list[tuple[str, int]] = []
        for host, port in self.config.sidecars:
            try:
                addresses += [(a, port) for a in await self._resolve(host, port)]
            except OSError as exc:
                log.warning("cannot resolve sidecars at %s: %s", host, exc)
        results = await asyncio.gather(*(self._scrape(a, p) for a, p in addresses),
                                       return_exceptions=True)
        readings: dict[str, Mapping[str, Reading] | None] = {}
        for (address, port), result in zip(addresses, results, strict=True):
            if isinstance(result, BaseException):
                log.debug("sidecar %s:%d did not answer: %s", address, port, result)
                readings[f"{address}:{port}"] = None
            else:
                readings[f"{address}:{port}"] = result
        failed = sum(1 for r in readings.values() if r is None)
        self._metrics.sidecars.labels("answered").set(len(readings) - failed)
        self._metrics.sidecars.labels("failed").set(failed)
        return Round(self._clock(), readings)

    def _report(self, invalid: Mapping[str, str]) -> None:
        for name, why in invalid.items():
            if self._reported.get(name) != why:
                log.warning("not scaling %s: %s", name, why)
        self._reported = dict(invalid)


# -- the network edge ------------------------------------------------------------

class WakeListener(asyncio.DatagramProtocol):
    """SCALER_WAKE_PORT: each datagram is a sidecar's nudge (the function's name,
    for the log only); its content decides nothing (scalerwake.py)."""

    def __init__(self, scaler: Scaler) -> None:
        self._scaler = scaler

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._scaler.wake(data[:64].decode("ascii", "replace"))


async def listen_for_wakes(scaler: Scaler, port: int) -> asyncio.DatagramTransport:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: WakeListener(scaler), local_addr=("0.0.0.0", port))
    return transport


async def resolve_all(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``tasks.sidecar``: one per replica)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
SCRAPE_TIMEOUT = 0.8  # seconds: a round lasts about a second


async def scrape_metrics(address: str, port: int) -> Mapping[str, Reading]:
    host = f"[{address}]" if ":" in address else address
    return await asyncio.to_thread(_get_readings, f"http://{host}:{port}/metrics")


def _get_readings(url: str) -> Mapping[str, Reading]:
    with _OPENER.open(url, timeout=SCRAPE_TIMEOUT) as response:
        return parse_metrics(response.read().decode("utf-8", "replace"))

