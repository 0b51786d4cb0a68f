"""Amazon's response limits and the forward timeout of Alexa functions (pure)."""

from __future__ import annotations

import json

from ..model import FunctionSpec
from .config import ALEXA_DEADLINE_S, ALEXA_MAX_RESPONSE_BYTES
from .labels import AlexaLabels


def forward_timeout(spec: FunctionSpec | None, labels: AlexaLabels | None, default: float) -> float:
    """``swarmfaas.alexa.timeout`` if set; else ALEXA_TIMEOUT (8 s), or less if the
    function's own ``swarmfaas.timeout`` is shorter. Amazon gives up after 8 s."""
    if labels is not None and labels.timeout is not None:
        return labels.timeout
    if spec is not None and spec.timeout > 0:
        return min(default, spec.timeout)
    return default


def response_breaches(
    status: int, body: bytes | None, size: int | None, elapsed: float
) -> list[str]:
    """Which of Amazon's limits a function's answer breaks: time, size, not_json.

    ``body`` is None for an answer still streaming; ``size`` None when unknown.
    """
    breaches = []
    if elapsed > ALEXA_DEADLINE_S:
        breaches.append("time")
    if 200 <= status < 300 and size is not None and size > ALEXA_MAX_RESPONSE_BYTES:
        breaches.append("size")
    if 200 <= status < 300 and body is not None:
        try:
            json.loads(body)
        except (ValueError, RecursionError):  # too deep for Amazon's parser as for ours
            breaches.append("not_json")
    return breaches
