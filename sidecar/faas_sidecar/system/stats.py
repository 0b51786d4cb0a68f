"""Metrics the system API reads and writes on the sidecar's registry."""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

INVOCATIONS_METRIC = "gateway_function_invocation"  # family name of ..._total


def invocation_counts(registry: CollectorRegistry | None) -> dict[str, int] | None:
    """Invocations per function summed over status codes, or None without metrics."""
    if registry is None:
        return None
    counts: Tally[str] = Tally()
    for family in registry.collect():
        if family.name != INVOCATIONS_METRIC:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and "function_name" in sample.labels:
                counts[sample.labels["function_name"]] += int(sample.value)
    return dict(counts)


@dataclass(frozen=True, slots=True)
class SystemMetrics:
    auth_failures: Counter | None = None
    operations: Counter | None = None

    @classmethod
    def register(cls, registry: CollectorRegistry | None) -> SystemMetrics:
        if registry is None:
            return cls()
        return cls(
            auth_failures=Counter(
                "swarmfaas_system_auth_failures",
                "Requests to /system/* refused for missing or wrong credentials.",
                registry=registry,
            ),
            operations=Counter(
                "swarmfaas_system_operations",
                "Mutations through the system API, by operation and HTTP status.",
                ["operation", "code"],
                registry=registry,
            ),
        )

    def auth_failed(self) -> None:
        if self.auth_failures is not None:
            self.auth_failures.inc()

    def operation(self, operation: str, code: int) -> None:
        if self.operations is not None:
            self.operations.labels(operation=operation, code=str(code)).inc()
