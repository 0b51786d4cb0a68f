"""Sidecars' /metrics -> one Sample per function per round (pure).

Every sidecar replica counts only the requests it proxied, so a round's
sample is the sum over all of them. The request rate comes from each
sidecar's started counter between two rounds; a counter that went down (the
sidecar restarted) counts from zero. A sidecar that did not answer makes the
round incomplete: the policy then may raise a count from it, never lower it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from ..metrics import CPU_METRIC, INFLIGHT_METRIC, QUEUED_METRIC, STARTED_METRIC
from .policy import Sample


@dataclass(frozen=True, slots=True)
class Reading:
    """One sidecar's figures for one function."""

    inflight: float = 0.0
    queued: float = 0.0
    started: float = 0.0  # a counter
    cpu: float | None = None  # cores its replicas use, as this sidecar measured them


_FIELDS = {INFLIGHT_METRIC: "inflight", QUEUED_METRIC: "queued",
           STARTED_METRIC: "started", STARTED_METRIC + "_total": "started",
           CPU_METRIC: "cpu"}


def parse_metrics(text: str) -> dict[str, Reading]:
    """Per function name, what one sidecar's /metrics says; raises ValueError if
    the text is not Prometheus exposition."""
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            field = _FIELDS.get(sample.name)
            name = sample.labels.get("function_name")
            if field is None or not name:
                continue
            found.setdefault(name, {})[field] = float(sample.value)
    return {name: Reading(**values) for name, values in found.items()}


@dataclass(frozen=True, slots=True)
class Round:
    """What every sidecar said at one time: by sidecar address, None if it failed."""

    at: float
    readings: Mapping[str, Mapping[str, Reading] | None]


def samples(functions: Iterable[str], current: Round, previous: Round | None
            ) -> dict[str, Sample]:
    """One Sample per function from this round and the one before."""
    # No sidecar at all (none resolved) is not "all idle": it says nothing.
    complete = bool(current.readings) and all(r is not None for r in current.readings.values())
    out: dict[str, Sample] = {}
    for name in functions:
        inflight = queued = 0.0
        rate: float | None = None
        cpu: float | None = None
        for address, readings in current.readings.items():
            if readings is None:
                continue
            now = readings.get(name, Reading())
            inflight += now.inflight
            queued += now.queued
            if now.cpu is not None:
                # every sidecar measures every replica it balances over: the
                # largest figure, not the sum (cpumeter.py)
                cpu = now.cpu if cpu is None else max(cpu, now.cpu)
            before = _reading(previous, address, name)
            if before is None or previous is None or current.at <= previous.at:
                continue
            delta = now.started - before.started
            if delta < 0:  # restarted: its counter began again at zero
                delta = now.started
            rate = (rate or 0.0) + delta / (current.at - previous.at)
        out[name] = Sample(current.at, inflight, queued, rate, cpu, complete)
    return out


def _reading(previous: Round | None, address: str, name: str) -> Reading | None:
    """The sidecar's reading for ``name`` last round: zeros if it answered
    without the function, None if it did not answer or was not there."""
    if previous is None:
        return None
    readings = previous.readings.get(address)
    if readings is None:
        return None
    return readings.get(name, Reading())
