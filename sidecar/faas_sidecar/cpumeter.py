"""CPU used by each function's replicas, from the watchdog's ``X-Swarmfaas-Cpu``
(pure; the proxy feeds it every answer's header).

The header is a replica's cumulative cgroup CPU time and the watchdog's
monotonic time of that reading, both in microseconds (watchdog/fwatchdog/
cgroupcpu.py). Two readings of one replica at least SPAN seconds apart (on
the watchdog's clock) give the cores it used between them. A function's figure
is the sum over its replicas of their latest such rate; a replica that has not
answered for STALE seconds and has no call in flight counts 0 (no calls, no
call's CPU), and one with a call in flight keeps its last rate until the call's
answer brings the next reading. Each sidecar sees every replica it balances
over, so the scaler takes the largest figure of the sidecars, not their sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .labels import is_decimal

SPAN = 1.0    # seconds of the replica's clock between two readings of one rate
STALE = 10.0  # seconds without an answer after which an idle replica counts 0


def parse_cpu_header(value: str) -> tuple[int, int] | None:
    """(usage_us, at_us) from ``<usage_us> <at_us>``; None if it is not that."""
    usage, _, at = value.strip().partition(" ")
    if not (is_decimal(usage) and is_decimal(at)):
        return None
    return int(usage), int(at)


@dataclass(slots=True)
class ReplicaCpu:
    function: str
    usage: int          # at the start of the span being measured (us)
    at: int             # (us, the replica's clock)
    seen: float         # the sidecar's clock at the latest reading
    rate: float | None = None  # cores over the last whole span


class CpuMeter:
    def __init__(self) -> None:
        self._replicas: dict[tuple[str, int], ReplicaCpu] = {}

    def observe(self, function: str, key: tuple[str, int], usage: int, at: int,
                now: float) -> None:
        """A reading from replica ``key`` of ``function``, received at ``now``."""
        known = self._replicas.get(key)
        if known is None or known.function != function or usage < known.usage or at < known.at:
            # first reading, another function's replica at that address, or a new container
            self._replicas[key] = ReplicaCpu(function, usage, at, now)
            return
        known.seen = now
        span = at - known.at
        if span >= SPAN * 1_000_000:
            known.rate = (usage - known.usage) / span
            known.usage, known.at = usage, at

    def cores(self, now: float, in_flight: Mapping[tuple[str, int], int]) -> dict[str, float]:
        """Cores each measured function uses now (see the module's docstring)."""
        out: dict[str, float] = {}
        for key, replica in self._replicas.items():
            rate = replica.rate or 0.0
            if now - replica.seen > STALE and not in_flight.get(key):
                rate = 0.0
            out[replica.function] = out.get(replica.function, 0.0) + rate
        return out

    def retain(self, keys: Iterable[tuple[str, int]]) -> None:
        """Forget replicas that are not in the routing table any more."""
        keep = set(keys)
        for key in [k for k in self._replicas if k not in keep]:
            del self._replicas[key]
