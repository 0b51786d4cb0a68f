"""The scaler's Prometheus metrics: OpenFaaS's names where they exist.

``gateway_service_count`` here is the replica count Docker has (OpenFaaS's
meaning: the provider's count); each sidecar's own series of that name is the
ready replicas in its routing table, and comes with that sidecar's job label.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ScalerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        by_function = ["function_name"]
        self.replicas = Gauge("gateway_service_count", "Replicas Docker runs for each "
                              "function (its service's count)", by_function, registry=r)
        self.ready = Gauge("gateway_service_ready_count", "Ready replicas of each function",
                           by_function, registry=r)
        self.inflight = Gauge("gateway_function_invocation_inflight", "Invocations in "
                              "flight, summed over every sidecar", by_function, registry=r)
        self.queued = Gauge("swarmfaas_scaler_queued", "Requests held or queued, summed "
                            "over every sidecar", by_function, registry=r)
        self.rps = Gauge("swarmfaas_scaler_requests_per_second", "Invocations started per "
                         "second, summed over every sidecar", by_function, registry=r)
        self.cpu = Gauge("swarmfaas_scaler_cpu_cores", "Cores each function's replicas "
                         "use, the largest of the sidecars' figures", by_function, registry=r)
        self.desired = Gauge("swarmfaas_scaler_desired_replicas", "Replicas the scaler "
                             "wants for each function", by_function, registry=r)
        self.decisions = Counter("swarmfaas_scaler_decisions", "Replica counts the scaler "
                                 "set, by reason", ["function_name", "reason"], registry=r)
        self.failures = Counter("swarmfaas_scaler_failures", "Rounds or writes that failed",
                                ["action"], registry=r)
        self.wakes = Counter("swarmfaas_scaler_wakes", "Nudges from sidecars (a call "
                             "started waiting) that brought a round forward", registry=r)
        self.sidecars = Gauge("swarmfaas_scaler_sidecars", "Sidecar replicas in the last "
                              "round, by whether they answered", ["state"], registry=r)
        self.round_seconds = Histogram(
            "swarmfaas_scaler_round_seconds", "One round: list, scrape, decide, write",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r)

    def forget(self, name: str) -> None:
        """A function that left: drop its gauges (its decision counts stay)."""
        for gauge in (self.replicas, self.ready, self.inflight, self.queued, self.rps,
                      self.cpu, self.desired):
            with contextlib.suppress(KeyError):
                gauge.remove(name)
