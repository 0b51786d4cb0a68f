"""The scaling decision: a pure function from measurements to a replica count.

``decide`` sees one function: its ScaleSpec (labels), a Window of samples
summed over every sidecar replica, the replica count Docker has now, the
time, when a human last changed the count and the scaler's own last
decision. It returns a Decision: a new count, or None to leave it, and why.

- Up fast: the latest sample alone can raise the count (one scrape, <= 1 s).
- Down slowly: the count only falls to the highest need seen over the whole
  stabilisation window (``down_window``), with a full window of history, and
  not within ``down_window`` of the scaler's last scale-up.
- Bounds: never above ``max``, never below ``min`` except to 0, which needs
  the zero opt-in, ``zero_duration`` seconds with nothing in flight, queued or
  started, and every sidecar answering over that time.
- A human wins: a count the scaler did not set is left alone ``human_hold`` s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .labels import ScaleSpec, ScaleType


@dataclass(frozen=True, slots=True)
class Sample:
    """One scrape round, summed over the sidecar replicas that answered."""

    at: float                  # seconds (the scaler's monotonic clock)
    inflight: float = 0.0      # requests in flight now
    queued: float = 0.0        # requests waiting in the sidecars' queues or holds
    rps: float | None = None   # requests started per second since the last round
    cpu: float | None = None   # cores the replicas use (None: no sidecar measured any)
    complete: bool = True      # False when a sidecar did not answer this round

    @property
    def demand(self) -> bool:
        """A request in flight, queued, or started since the last round."""
        return self.inflight > 0 or self.queued > 0 or (self.rps or 0) > 0

    @property
    def busy(self) -> bool:
        """Demand, or not known to be idle (a sidecar did not answer)."""
        return not self.complete or self.demand


@dataclass(frozen=True, slots=True)
class Window:
    """The recent samples of one function, plus what older ones left behind."""

    samples: tuple[Sample, ...] = ()
    since: float | None = None      # time of the first sample ever seen
    last_busy: float | None = None  # time of the latest busy sample


def advance(window: Window, sample: Sample, keep: float) -> Window:
    """The window with ``sample`` added and samples older than ``keep`` s dropped."""
    kept = tuple(s for s in window.samples if s.at >= sample.at - keep)
    return Window(samples=(*kept, sample),
                  since=sample.at if window.since is None else window.since,
                  last_busy=sample.at if sample.busy else window.last_busy)


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    down_window: float = 60.0   # SCALER_DOWN_WINDOW: stabilisation before a scale-down
    human_hold: float = 120.0   # SCALER_HUMAN_HOLD: a hand-set count is left alone this long


@dataclass(frozen=True, slots=True)
class LastDecision:
    at: float
    replicas: int
    previous: int


# Reasons a decision gives: a small fixed set, used as a metric label.
UP, DOWN, FROM_ZERO, TO_ZERO = "scale_up", "scale_down", "from_zero", "to_zero"
ABOVE_MAX, BELOW_MIN = "above_max", "below_min"
HELD, STEADY, NO_DATA, STABILISING = "held_by_human", "steady", "no_measurements", "stabilising"
REASONS = (UP, DOWN, FROM_ZERO, TO_ZERO, ABOVE_MAX, BELOW_MIN, HELD, STEADY, NO_DATA,
           STABILISING)


@dataclass(frozen=True, slots=True)
class Decision:
    replicas: int | None      # the new count; None leaves it as it is
    reason: str               # one of REASONS
    detail: str = field(default="", compare=False)  # a sentence for the log


def load(sample: Sample, kind: ScaleType) -> float | None:
    """The sample's load in the unit of the function's target; None if unmeasured."""
    if kind is ScaleType.INFLIGHT:
        return sample.inflight + sample.queued
    if kind is ScaleType.RPS:
        return sample.rps
    # the target is in millicores per replica (1000: one core)
    return None if sample.cpu is None else sample.cpu * 1000


def need(sample: Sample, spec: ScaleSpec) -> int | None:
    """Replicas the sample's load asks for at the target load per replica."""
    value = load(sample, spec.type)
    if value is None:
        return None
    # A tiny epsilon: 8.0000001 in flight at target 4 is 2 replicas, not 3.
    return math.ceil(value / spec.target - 1e-9)


def noticed_by_hand(observed: int, expected: int | None) -> bool:
    """True when Docker's count is not the one the scaler set or last saw."""
    return expected is not None and observed != expected


def decide(spec: ScaleSpec, window: Window, *, current: int, now: float,
           last_human: float | None, last: LastDecision | None,
           config: PolicyConfig) -> Decision:
    if last_human is not None and now - last_human < config.human_hold:
        left = config.human_hold - (now - last_human)
        return Decision(None, HELD, f"{current} replicas were set by hand; left alone for "
                        f"another {left:.0f} s")
    if current > spec.max:
        return Decision(spec.max, ABOVE_MAX, f"{current} replicas is above the maximum "
                        f"{spec.max}")
    if current < spec.min and not (current == 0 and spec.zero):
        return Decision(spec.min, BELOW_MIN, f"{current} replicas is below the minimum "
                        f"{spec.min}")
    latest = window.samples[-1] if window.samples else None
    if latest is None:
        return Decision(None, NO_DATA, "no measurements yet")

    if current == 0:
        if latest.demand:
            start = max(spec.min, 1, min(need(latest, spec) or 1, spec.max))
            return Decision(start, FROM_ZERO, f"a request for a function at zero replicas "
                            f"({latest.inflight:g} in flight, {latest.queued:g} queued)")
        return Decision(None, STEADY, "idle at zero replicas")

    wanted = need(latest, spec)
    if wanted is not None and wanted > current and current < spec.max:
        new = min(wanted, spec.max)
        return Decision(new, UP, f"{_describe(latest, spec)} asks for {wanted} replicas "
                        f"at {spec.target:g} per replica" + (
                            f", capped at the maximum {spec.max}" if wanted > new else ""))

    if spec.zero and not latest.busy:
        idle_from = window.last_busy if window.last_busy is not None else window.since
        idle = now - idle_from if idle_from is not None else 0.0
        if idle >= spec.zero_duration:
            return Decision(0, TO_ZERO, f"idle for {idle:.0f} s (scale to zero after "
                            f"{spec.zero_duration:g} s)")

    if current > spec.min:
        return _down(spec, window, current=current, now=now, last=last, config=config)
    return Decision(None, STEADY, f"{_describe(latest, spec)} at {current} replicas")


def _down(spec: ScaleSpec, window: Window, *, current: int, now: float,
          last: LastDecision | None, config: PolicyConfig) -> Decision:
    start = now - config.down_window
    if window.since is None or window.since > start:
        return Decision(None, STABILISING, f"less than {config.down_window:g} s of "
                        "measurements: no scale-down yet")
    if last is not None and last.replicas > last.previous and last.at > start:
        return Decision(None, STABILISING, f"scaled up {now - last.at:.0f} s ago: no "
                        f"scale-down within {config.down_window:g} s")
    needs = [need(s, spec) for s in window.samples if s.at >= start and s.complete]
    known = [n for n in needs if n is not None]
    if not known:
        what = f"no complete {spec.type.value} measurement in the window"
        return Decision(None, STABILISING, what)
    highest = max(known)
    new = max(highest, spec.min)
    if new >= current:
        return Decision(None, STEADY, f"the window's highest need is {highest} replicas, "
                        f"at {current}")
    return Decision(new, DOWN, f"at most {highest} replicas needed over the last "
                    f"{config.down_window:g} s" + (f"; the minimum is {spec.min}"
                                                   if highest < spec.min else ""))


def _describe(sample: Sample, spec: ScaleSpec) -> str:
    if spec.type is ScaleType.INFLIGHT:
        return f"{sample.inflight:g} in flight + {sample.queued:g} queued"
    if spec.type is ScaleType.RPS:
        return f"{sample.rps if sample.rps is not None else 'unknown'} requests/s"
    if sample.cpu is None:
        return "cpu unknown (no replica's report yet)"
    return f"{sample.cpu * 1000:.0f} millicores in use"
