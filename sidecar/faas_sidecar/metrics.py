"""Prometheus metrics: the OpenFaaS gateway names, plus discovery health.

One registry per app (``app.ctx.metrics.registry``); other pieces of the
sidecar may register their own collectors on it.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .model import RoutingTable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# --- the series the scaler reads from every sidecar (faas_sidecar/scaler/measure.py) ---
STARTED_METRIC = "gateway_function_invocation_started"    # counter, per function_name
INFLIGHT_METRIC = "gateway_function_invocation_inflight"  # gauge: started, no response head yet
# gauge: calls waiting in a sidecar's queue of a function whose replicas are full
# (callqueue.py; exported by CallCollector from Proxy.queued); read as 0 while absent.
QUEUED_METRIC = "swarmfaas_function_queued"
# cores each function's replicas use, from the watchdogs' reports (cpumeter.py)
CPU_METRIC = "swarmfaas_function_cpu_cores"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class TableCollector:
    """Gauges read from the current snapshot at scrape time (never stale)."""

    def __init__(self, table: Callable[[], RoutingTable]) -> None:
        self._table = table

    def collect(self):
        table = self._table()
        replicas = GaugeMetricFamily(
            "gateway_service_count", "Ready replicas of each function",
            labels=["function_name"])
        for name, spec in sorted(table.functions.items()):
            replicas.add_metric([name], len(spec.replicas))
        yield replicas
        age = GaugeMetricFamily("swarmfaas_discovery_table_age_seconds",
                                "Seconds since the routing table was last rebuilt")
        age.add_metric([], time.time() - table.built_at if table.built_at else float("nan"))
        yield age
        gen = GaugeMetricFamily("swarmfaas_discovery_table_generation",
                                "Generation number of the current routing table")
        gen.add_metric([], table.generation)
        yield gen
        invalid = GaugeMetricFamily("swarmfaas_discovery_invalid_functions",
                                    "Labelled services that are not routable")
        invalid.add_metric([], len(table.invalid))
        yield invalid


class CallCollector:
    """The per-call metrics, kept as plain numbers and turned into metric
    families at scrape time. Every proxied request updates them; prometheus_client's
    Counter/Histogram children (a lock per value, a Python loop over buckets)
    cost ~1.8 us per request here against ~0.5 us for these. One event loop
    thread updates them, so no lock is needed; the scrape runs on that thread too."""

    def __init__(self) -> None:
        self.started: dict[str, int] = {}
        # calls waiting in each function's queue (Proxy.queued): started, not
        # yet at a replica
        self.queued: Callable[[], Mapping[str, int]] = dict
        self.cpu: Callable[[], Mapping[str, float]] = dict  # Proxy.cpu's figures
        # (function, code) -> [count, sum of seconds, per-bucket counts (+Inf last)]
        self.calls: dict[tuple[str, str], list] = {}

    def collect(self):
        started = CounterMetricFamily(STARTED_METRIC,
                                      "Function invocations started", labels=["function_name"])
        for name, count in sorted(self.started.items()):
            started.add_metric([name], count)
        invocations = CounterMetricFamily("gateway_function_invocation",
                                          "Function invocations by status code",
                                          labels=["function_name", "code"])
        seconds = HistogramMetricFamily("gateway_functions_seconds",
                                        "Time to the function's response head",
                                        labels=["function_name", "code"])
        for (name, code), (count, total, per_bucket) in sorted(self.calls.items()):
            invocations.add_metric([name, code], count)
            cumulative, running = [], 0
            for bound, n in zip((*map(_bound, BUCKETS), "+Inf"), per_bucket, strict=True):
                running += n
                cumulative.append((bound, running))
            seconds.add_metric([name, code], cumulative, total)
        yield invocations
        yield seconds
        yield started
        queued = self.queued()
        yield self._inflight(queued)
        waiting = GaugeMetricFamily(QUEUED_METRIC, "Calls waiting in the sidecar's queue "
                                    "of a function whose replicas are full",
                                    labels=["function_name"])
        for name, count in sorted(queued.items()):
            waiting.add_metric([name], count)
        yield waiting
        cores = GaugeMetricFamily(CPU_METRIC, "Cores the function's replicas use, from "
                                  "their watchdogs' cgroup counts (the scaler's cpu type)",
                                  labels=["function_name"])
        for name, value in sorted(self.cpu().items()):
            cores.add_metric([name], value)
        yield cores

    def _inflight(self, queued: Mapping[str, int]) -> GaugeMetricFamily:
        """Started minus answered, per function: every start is answered (a code,
        499 for a client that left) exactly once, at its response head. Calls
        in the queue are not counted (they are QUEUED_METRIC's; the scaler adds
        the two)."""
        answered: dict[str, int] = {}
        for (name, _code), entry in self.calls.items():
            answered[name] = answered.get(name, 0) + entry[0]
        inflight = GaugeMetricFamily(INFLIGHT_METRIC, "Function invocations in flight "
                                     "(started, not queued, no response head yet)",
                                     labels=["function_name"])
        for name, count in sorted(self.started.items()):
            inflight.add_metric([name], max(count - answered.get(name, 0)
                                            - queued.get(name, 0), 0))
        return inflight


def _bound(value: float) -> str:
    return str(float(value))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = CallCollector()
        r.register(self.calls)
        self.retries = Counter(
            "swarmfaas_proxy_retries", "Requests retried on another replica",
            ["function_name"], registry=r)
        self.breaker_openings = Counter(
            "swarmfaas_proxy_breaker_openings",
            "Replicas taken out of rotation because connections to them failed "
            "(the circuit breaker, docs/sidecar.md)", ["function_name"], registry=r)
        self.replicas_out = Gauge(
            "swarmfaas_proxy_replicas_out",
            "Replicas out of rotation now because connections to them failed", registry=r)
        self.events = Counter(
            "swarmfaas_discovery_events", "Docker events received", ["type"], registry=r)
        self.relists = Counter(
            "swarmfaas_discovery_relists", "Re-lists of services and tasks", ["result"],
            registry=r)
        self.reconnects = Counter(
            "swarmfaas_discovery_reconnects", "Reconnections of the events stream",
            registry=r)
        self.stream_up = Gauge(
            "swarmfaas_discovery_stream_connected", "1 while the events stream is connected",
            registry=r)
        self.rate_limited = Counter(
            "swarmfaas_rate_limited", "Calls refused by the function's swarmfaas.ratelimit.rps",
            ["function_name"], registry=r)
        self.webhook_rejections = Counter(
            "swarmfaas_webhook_rejections", "Signed-webhook requests refused, by cause",
            ["function_name", "cause"], registry=r)
        self.webhook_replays = Counter(
            "swarmfaas_webhook_replays",
            "Signed-webhook deliveries seen again and answered without a call",
            ["function_name"], registry=r)
        self.schedule_ticks = Counter(
            "swarmfaas_schedule_ticks_total",
            "Ticks of scheduled functions by outcome: stored (by this process; the "
            "broker keeps one per tick), missed (skipped, past the catch-up), failed",
            ["function_name", "outcome"], registry=r)
        self.cold_start_seconds = Histogram(
            "swarmfaas_cold_start_seconds",
            "How long a request to a scale-to-zero function waited for a ready replica",
            ["function_name"], buckets=(0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60),
            registry=r)
        self.queue_wait_seconds = Histogram(
            "swarmfaas_queue_wait_seconds",
            "How long a call waited in its function's queue for a free slot",
            ["function_name"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                        10, 30, 60),
            registry=r)
        self.queue_drops = Counter(
            "swarmfaas_queue_dropped", "Calls that left a function's queue without a slot, "
            "by cause: length or wait (answered 429), left (the client went away)",
            ["function_name", "cause"], registry=r)
        self.relist_seconds = Histogram(
            "swarmfaas_discovery_relist_seconds", "Duration of one re-list",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5), registry=r)

    def watch_table(self, table: Callable[[], RoutingTable]) -> None:
        self.registry.register(TableCollector(table))

    # called by the proxy, on every request: plain arithmetic (CallCollector)
    def started(self, name: str) -> None:
        started = self.calls.started
        started[name] = started.get(name, 0) + 1

    def observed(self, name: str, code: str, seconds: float) -> None:
        entry = self.calls.calls.get((name, code))
        if entry is None:
            entry = self.calls.calls[(name, code)] = [0, 0.0, [0] * (len(BUCKETS) + 1)]
        entry[0] += 1
        entry[1] += seconds
        entry[2][bisect_left(BUCKETS, seconds)] += 1  # le: a value on a bound counts there

    def watch_queues(self, queued: Callable[[], Mapping[str, int]]) -> None:
        self.calls.queued = queued

    def watch_cpu(self, cores: Callable[[], Mapping[str, float]]) -> None:
        self.calls.cpu = cores

    def queue_waited(self, name: str, seconds: float) -> None:
        self.queue_wait_seconds.labels(name).observe(seconds)

    def queue_dropped(self, name: str, cause: str) -> None:
        self.queue_drops.labels(name, cause).inc()

    def cold_start_waited(self, name: str, seconds: float) -> None:
        self.cold_start_seconds.labels(name).observe(seconds)

    def watch_breakers(self, out: Callable[[], int]) -> None:
        self.replicas_out.set_function(out)

    def breaker_opened(self, name: str) -> None:
        self.breaker_openings.labels(name).inc()

    def retried(self, name: str) -> None:
        self.retries.labels(name).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
