"""The queue worker's settings: read once from a mapping, validated, frozen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..enginetoken import read_token
from ..labels import is_decimal
from ..settings import ConfigError, Settings
from .policy import Backoff

TOKEN_SETTING = "QUEUE_TOKEN_FILE"


class WorkerConfigError(ConfigError):
    """A setting of the queue worker is missing or invalid; the message names it."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    queue_url: str  # QUEUE_URL: the broker (nats://broker:4222)
    token: str = field(repr=False)  # QUEUE_TOKEN_FILE: marks deliveries to the sidecar
    sidecar: tuple[str, int] = ("sidecar", 8080)  # WORKER_SIDECAR host:port
    concurrency: int = 64  # WORKER_CONCURRENCY: deliveries in flight, all functions
    # WORKER_ACK_WAIT seconds: a call a worker holds this long without a sign of
    # life goes to another worker (the worker signs every third of it)
    ack_wait: float = 30.0
    # WORKER_DELIVERY_TIMEOUT seconds: one delivery's bound (above the
    # functions' swarmfaas.timeout, which the sidecar enforces)
    delivery_timeout: float = 600.0
    connect_timeout: float = 2.0  # CONNECT_TIMEOUT seconds to the sidecar
    # WORKER_BACKOFF_BASE, WORKER_BACKOFF_CAP seconds
    backoff: Backoff = field(default_factory=Backoff)
    # CALLBACK_ALLOWLIST: host globs an X-Callback-Url may name (empty: none)
    callback_allowlist: tuple[str, ...] = ()
    callback_attempts: int = 3  # CALLBACK_ATTEMPTS: tries of one callback
    callback_timeout: float = 10.0  # CALLBACK_TIMEOUT seconds for one try
    metrics_port: int = 8082  # WORKER_METRICS_PORT (/metrics)
    log_level: str = "INFO"  # LOG_LEVEL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerConfig:
        s = Settings(env, WorkerConfigError)
        url = s.required("QUEUE_URL", "the broker's address, e.g. nats://broker:4222")
        token = read_token(env, WorkerConfigError, TOKEN_SETTING)
        if token is None:
            s.fail(f"{TOKEN_SETTING} must name the file of the queue token the sidecar "
                   "knows too (QUEUE_TOKEN_FILE of the sidecar)")
        raw = s.text("WORKER_SIDECAR", "sidecar:8080")
        host, _, port = raw.rpartition(":")
        if not host or not is_decimal(port) or not 1 <= int(port) <= 65535:
            s.fail(f"WORKER_SIDECAR={raw!r}: expected host:port, e.g. sidecar:8080")
        base = s.seconds("WORKER_BACKOFF_BASE", 1.0, low=0.01, high=3600)
        return cls(
            queue_url=url,
            token=token,  # type: ignore[arg-type]
            sidecar=(host, int(port)),
            concurrency=s.integer("WORKER_CONCURRENCY", 64, low=1, high=10000),
            ack_wait=s.seconds("WORKER_ACK_WAIT", 30.0, low=1, high=3600),
            delivery_timeout=s.seconds("WORKER_DELIVERY_TIMEOUT", 600.0, low=1,
                                       high=24 * 3600 + 120),
            connect_timeout=s.seconds("CONNECT_TIMEOUT", 2.0, low=0.05, high=60),
            backoff=Backoff(base=base,
                            cap=s.seconds("WORKER_BACKOFF_CAP", 300.0, low=base, high=86400)),
            callback_allowlist=s.globs("CALLBACK_ALLOWLIST"),
            callback_attempts=s.integer("CALLBACK_ATTEMPTS", 3, low=1, high=20),
            callback_timeout=s.seconds("CALLBACK_TIMEOUT", 10.0, low=0.1, high=300),
            metrics_port=s.port("WORKER_METRICS_PORT", 8082),
            log_level=s.log_level(),
        )
