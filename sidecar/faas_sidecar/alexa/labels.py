"""The ``swarmfaas.alexa.*`` service labels, parsed (pure). See docs/labels.md."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..labels import (
    ALEXA_DEFAULT,
    ALEXA_INTENTS,
    ALEXA_MAX_TIMEOUT,
    ALEXA_PREFIX,
    ALEXA_SKILL_IDS,
    ALEXA_TIMEOUT,
    ALEXA_VERIFY,
    LabelError,
)

_INTENT = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,199}$")
_SKILL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$")
_BOOLS = {"true": True, "false": False}


@dataclass(frozen=True, slots=True)
class AlexaLabels:
    skill_ids: frozenset[str] = frozenset()
    intents: frozenset[str] = frozenset()
    default: bool = False
    verify: bool = True
    timeout: float | None = None  # None: min(the ALEXA_TIMEOUT setting, swarmfaas.timeout)


def parse_alexa_labels(labels: Mapping[str, str]) -> AlexaLabels | None:
    """None when the service declares no Alexa skill; LabelError when a value is bad."""
    if not any(key.startswith(ALEXA_PREFIX) for key in labels):
        return None
    skill_ids = _csv(labels, ALEXA_SKILL_IDS, _SKILL_ID,
                     "application ids like amzn1.ask.skill.<uuid>")
    if not skill_ids:
        raise LabelError(
            f"{ALEXA_SKILL_IDS} is required on an Alexa function (its skill's application ids)"
        )
    return AlexaLabels(
        skill_ids=skill_ids,
        intents=_csv(labels, ALEXA_INTENTS, _INTENT, "intent names like HostnameIntent"),
        default=_bool(labels, ALEXA_DEFAULT, False),
        verify=_bool(labels, ALEXA_VERIFY, True),
        timeout=_seconds(labels, ALEXA_TIMEOUT),
    )


def _csv(
    labels: Mapping[str, str], key: str, pattern: re.Pattern[str], what: str
) -> frozenset[str]:
    items = [item.strip() for item in labels.get(key, "").split(",") if item.strip()]
    bad = [item for item in items if not pattern.fullmatch(item)]
    if bad:
        raise LabelError(f"{key}: {bad[0]!r} is not valid; expected comma-separated {what}")
    return frozenset(items)


def _bool(labels: Mapping[str, str], key: str, default: bool) -> bool:
    raw = labels.get(key)
    if raw is None or not raw.strip():
        return default
    value = _BOOLS.get(raw.strip().lower())
    if value is None:
        raise LabelError(f"{key}={raw!r}: expected true or false")
    return value


def _seconds(labels: Mapping[str, str], key: str) -> float | None:
    raw = labels.get(key)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= ALEXA_MAX_TIMEOUT:
        raise LabelError(f"{key}={raw!r}: expected seconds in (0, {ALEXA_MAX_TIMEOUT:.0f}]")
    return value
