"""A function's settings that come from its labels alone: port, timeout,
signature check, rate limit, queue, async policy, schedule, scaling flags.

They depend only on the labels that start with ``SETTINGS_PREFIXES`` (and
``max_inflight`` in the service's environment), and the services of a swarm
mostly share those: many carry none but ``swarmfaas.function=true``. So
``spec.build_table`` parses each distinct set once per build (``cached``)
rather than once per service (issue 18: 10,000 functions, a few parses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from . import labels as keys
from .callqueue import MAX_INFLIGHT_ENV, QueueBounds, env_value, parse_queue
from .labels import DEFAULT_PORT, DEFAULT_TIMEOUT, MAX_TIMEOUT, LabelError
from .queue.labels import AsyncPolicy, parse_async_labels
from .ratelimit import RateLimit, parse_rate_limit
from .scaler.labels import scales_on_cpu, scales_to_zero
from .schedule import Schedule, parse_schedule
from .webhooks.labels import WebhookCheck, parse_webhook_labels

# Every label a setting is read from starts so (tests/sidecar/test_spec_settings.py
# checks it against labels.DOCUMENTED): the others cannot change the settings.
SETTINGS_PREFIXES = (keys.PREFIX, "com.openfaas.")


class Settings(NamedTuple):
    """The FunctionSpec fields a function's labels (and max_inflight) decide."""

    port: int
    timeout: float
    webhook: WebhookCheck | None
    rate_limit: RateLimit | None
    scales_to_zero: bool
    measures_cpu: bool
    queue: QueueBounds | None
    async_policy: AsyncPolicy
    schedule: Schedule | None


SettingsKey = tuple[tuple[tuple[str, str], ...], str | None]


def settings_key(labels: Mapping[str, str], env: Sequence[str] | None) -> SettingsKey:
    """All that ``parse_settings`` reads: the labels with a settings prefix
    (less swarmfaas.name, which names the function and differs on each) and
    max_inflight. Label order is kept: the same set in another order is only
    a second parse."""
    # a list comprehension: a generator costs a third more, once per service
    return (tuple([item for item in labels.items()
                   if item[0].startswith(SETTINGS_PREFIXES) and item[0] != keys.NAME]),
            env_value(env, MAX_INFLIGHT_ENV))


def _port(labels: Mapping[str, str]) -> int:
    raw = labels.get(keys.PORT)
    if raw is None:
        return DEFAULT_PORT
    if not keys.is_decimal(raw) or not 1 <= int(raw) <= 65535:
        raise LabelError(f"{keys.PORT}={raw!r} is not a port number (1-65535)")
    return int(raw)


def _timeout(labels: Mapping[str, str]) -> float:
    raw = labels.get(keys.TIMEOUT)
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_TIMEOUT:
        raise LabelError(
            f"{keys.TIMEOUT}={raw!r} is not a number of seconds in (0, {MAX_TIMEOUT:.0f}]"
        )
    return value


def parse_settings(labels: Mapping[str, str], env: Sequence[str] | None) -> Settings:
    """The settings, or LabelError for the first bad one in this order:
    webhook, rate limit, queue, async, schedule, port, timeout."""
    webhook = parse_webhook_labels(labels)
    rate_limit = parse_rate_limit(labels)
    queue = parse_queue(labels, env)
    async_policy = parse_async_labels(labels)
    schedule = parse_schedule(labels)
    return Settings(port=_port(labels), timeout=_timeout(labels), webhook=webhook,
                    rate_limit=rate_limit, scales_to_zero=scales_to_zero(labels),
                    measures_cpu=scales_on_cpu(labels), queue=queue,
                    async_policy=async_policy, schedule=schedule)


def cached(labels: Mapping[str, str], env: Sequence[str] | None,
           cache: dict[SettingsKey, Settings | str]) -> Settings | str:
    """``parse_settings`` through ``cache`` (one build's: it holds at most one
    entry per service listed); a bad label's message in place of the error."""
    key = settings_key(labels, env)
    found = cache.get(key)
    if found is None:
        try:
            found = parse_settings(labels, env)
        except LabelError as exc:
            found = str(exc)
        cache[key] = found
    return found
