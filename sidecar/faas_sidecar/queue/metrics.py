"""The queue worker's metrics (its own registry, served on WORKER_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.attempts = Counter(
            "swarmfaas_queue_attempts_total",
            "Deliveries of stored calls, by how they ended (delivered or the cause)",
            ["function_name", "outcome"], registry=r)
        self.delivered = Counter(
            "swarmfaas_queue_delivered_total", "Stored calls delivered",
            ["function_name"], registry=r)
        self.retries = Counter(
            "swarmfaas_queue_retries_total", "Failed deliveries that will be tried again",
            ["function_name", "cause"], registry=r)
        self.dead_letters = Counter(
            "swarmfaas_queue_dead_letters_total", "Stored calls put in the dead letters",
            ["function_name", "cause"], registry=r)
        self.delivery_seconds = Histogram(
            "swarmfaas_queue_delivery_seconds", "Time of one delivery through the sidecar",
            ["function_name"], registry=r)
        self.callbacks = Counter(
            "swarmfaas_queue_callbacks_total",
            "Callbacks (X-Callback-Url), by outcome: sent, failed (after its tries), refused",
            ["function_name", "outcome"], registry=r)
        self.depth = Gauge(
            "swarmfaas_queue_depth", "Stored calls not yet delivered (the broker's count)",
            ["function_name"], registry=r)
        self.oldest_age = Gauge(
            "swarmfaas_queue_oldest_age_seconds",
            "Age of the oldest stored call not yet delivered", ["function_name"], registry=r)
