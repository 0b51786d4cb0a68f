"""A function's scaling labels -> ScaleSpec (pure). The keys are faas_sidecar.labels'.

Our names (``swarmfaas.scale.*``) win; OpenFaaS's (``com.openfaas.scale.*``)
are read where ours are absent, so a stack written for OpenFaaS keeps its
bounds. Every error names the label, the value and what it accepts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from ..labels import (
    DEFAULT_SCALE_MAX,
    DEFAULT_SCALE_MIN,
    DEFAULT_SCALE_ZERO_DURATION,
    OPENFAAS_SCALE,
    SCALE_MAX,
    SCALE_MIN,
    SCALE_TARGET,
    SCALE_TYPE,
    SCALE_ZERO,
    SCALE_ZERO_DURATION,
    is_decimal,
)

MAX_REPLICAS = 1000


class ScaleType(Enum):
    INFLIGHT = "inflight"  # requests in flight plus queued, summed over every sidecar
    RPS = "rps"            # requests started per second, summed over every sidecar
    CPU = "cpu"            # cores the replicas use (their watchdogs' cgroup counts)


# Targets per replica: calls, calls per second, millicores (1000: one core).
DEFAULT_TARGET = {ScaleType.INFLIGHT: 4.0, ScaleType.RPS: 50.0, ScaleType.CPU: 800.0}
DEFAULT_MIN, DEFAULT_MAX = DEFAULT_SCALE_MIN, DEFAULT_SCALE_MAX
DEFAULT_ZERO_DURATION = DEFAULT_SCALE_ZERO_DURATION


class ScaleLabelError(ValueError):
    """A scaling label has a value the scaler cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    min: int = DEFAULT_MIN
    max: int = DEFAULT_MAX
    target: float = DEFAULT_TARGET[ScaleType.INFLIGHT]  # load per replica
    type: ScaleType = ScaleType.INFLIGHT
    zero: bool = False                                  # may go to 0 when idle
    zero_duration: float = DEFAULT_ZERO_DURATION        # seconds idle before 0


def _lookup(labels: Mapping[str, str], key: str) -> tuple[str, str] | None:
    """(label actually used, its value) for one setting, ours first."""
    for name in (key, OPENFAAS_SCALE[key]):
        value = labels.get(name)
        if value is not None and value.strip():
            return name, value.strip()
    return None


def scales_to_zero(labels: Mapping[str, str]) -> bool:
    """Whether the function opted into scale to zero (ours, else OpenFaaS's
    label): the sidecar then holds a request at zero until a replica starts.
    A bad value is False here; the scaler reports it."""
    found = _lookup(labels, SCALE_ZERO)
    return found is not None and found[1].lower() == "true"


def scales_on_cpu(labels: Mapping[str, str]) -> bool:
    """Whether the function's scale type is cpu (ours, else OpenFaaS's label):
    the sidecar then measures its replicas' CPU. A bad value is False here."""
    found = _lookup(labels, SCALE_TYPE)
    return found is not None and found[1].lower() == ScaleType.CPU.value


def _int(labels: Mapping[str, str], key: str, default: int, low: int) -> int:
    found = _lookup(labels, key)
    if found is None:
        return default
    name, raw = found
    if not is_decimal(raw) or not low <= int(raw) <= MAX_REPLICAS:
        raise ScaleLabelError(f"label {name}={raw!r}: expected an integer from {low} "
                              f"to {MAX_REPLICAS}")
    return int(raw)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(raw: str) -> float | None:
    """Seconds from ``300``, ``2.5`` or a Go duration (``15m``, ``1m30s``); None if neither."""
    try:
        seconds = float(raw)
    except ValueError:
        parts = _DURATION_PART.findall(raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            return None
        seconds = sum(float(n) * _UNIT[u] for n, u in parts)
    return seconds if math.isfinite(seconds) else None


def parse_scale_labels(labels: Mapping[str, str]) -> ScaleSpec:
    """The scaling spec of a function from its service labels (docs/scaling.md)."""
    low = _int(labels, SCALE_MIN, DEFAULT_MIN, 1)
    high = _int(labels, SCALE_MAX, max(DEFAULT_MAX, low), 1)
    if high < low:  # only when a max label is there: the default follows the minimum
        name = (_lookup(labels, SCALE_MAX) or (SCALE_MAX, ""))[0]
        raise ScaleLabelError(f"label {name}={high}: must not be below the minimum ({low})")

    kind = ScaleType.INFLIGHT
    if (found := _lookup(labels, SCALE_TYPE)) is not None:
        name, raw = found
        try:
            kind = ScaleType(raw.lower())
        except ValueError:
            raise ScaleLabelError(f"label {name}={raw!r}: expected inflight, rps or cpu") from None

    target = DEFAULT_TARGET[kind]
    if (found := _lookup(labels, SCALE_TARGET)) is not None:
        name, raw = found
        try:
            target = float(raw)
        except ValueError:
            target = math.nan
        if not (math.isfinite(target) and target > 0):
            raise ScaleLabelError(f"label {name}={raw!r}: expected a number above 0 "
                                  "(load per replica)")

    zero = False
    if (found := _lookup(labels, SCALE_ZERO)) is not None:
        name, raw = found
        if raw.lower() not in ("true", "false"):
            raise ScaleLabelError(f"label {name}={raw!r}: expected true or false")
        zero = raw.lower() == "true"

    duration = DEFAULT_ZERO_DURATION
    if (found := _lookup(labels, SCALE_ZERO_DURATION)) is not None:
        name, raw = found
        seconds = parse_duration(raw)
        if seconds is None or not 1 <= seconds <= 7 * 86400:
            raise ScaleLabelError(f"label {name}={raw!r}: expected seconds or a duration "
                                  "like 15m, from 1 s to 7 days")
        duration = seconds

    return ScaleSpec(min=low, max=high, target=target, type=kind, zero=zero,
                     zero_duration=duration)
