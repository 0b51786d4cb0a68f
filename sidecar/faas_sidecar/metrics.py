"""Prometheus metrics: the OpenFaaS gateway names, plus discovery health.

One registry per app (``app.ctx.metrics.registry``); other pieces of the
sidecar may register their own collectors on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .model import RoutingTable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
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


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.invocations = Counter(
            "gateway_function_invocation", "Function invocations by status code",
            ["function_name", "code"], registry=r)
        self.seconds = Histogram(
            "gateway_functions_seconds", "Time to the function's response head",
            ["function_name", "code"], buckets=BUCKETS, registry=r)
        self.started_total = Counter(
            "gateway_function_invocation_started", "Function invocations started",
            ["function_name"], registry=r)
        self.retries = Counter(
            "swarmfaas_proxy_retries", "Requests retried on another replica",
            ["function_name"], registry=r)
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
        self.relist_seconds = Histogram(
            "swarmfaas_discovery_relist_seconds", "Duration of one re-list",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5), registry=r)

        self._children: dict[tuple[str, str], tuple[object, object]] = {}
        self._started: dict[str, object] = {}

    def watch_table(self, table: Callable[[], RoutingTable]) -> None:
        self.registry.register(TableCollector(table))

    # called by the proxy
    # Labelled children are cached: .labels() costs more than the increment.
    def started(self, name: str) -> None:
        child = self._started.get(name)
        if child is None:
            child = self._started[name] = self.started_total.labels(name)
        child.inc()  # type: ignore[attr-defined]

    def observed(self, name: str, code: str, seconds: float) -> None:
        children = self._children.get((name, code))
        if children is None:
            children = self._children[(name, code)] = (
                self.invocations.labels(name, code), self.seconds.labels(name, code))
        children[0].inc()  # type: ignore[attr-defined]
        children[1].observe(seconds)  # type: ignore[attr-defined]

    def forget(self, names: set[str]) -> None:
        """Drop cached children of functions that are gone (bounded memory)."""
        for key in [k for k in self._children if k[0] not in names]:
            del self._children[key]
        for name in [n for n in self._started if n not in names]:
            del self._started[name]

    def retried(self, name: str) -> None:
        self.retries.labels(name).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
