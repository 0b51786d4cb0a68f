"""The sidecar's settings: read once from a mapping, validated, frozen.

Only ``main()`` passes ``os.environ`` here; every error names the variable and
what it accepts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .enginetoken import read_token
from .settings import ConfigError, Settings

QUEUE_TOKEN_SETTING = "QUEUE_TOKEN_FILE"
# nginx's default NGINX_MAX_BODY_SIZE (10m): the synchronous path's limit.
DEFAULT_ASYNC_BODY_LIMIT = 10 << 20
# Below the broker's max_payload (64 MiB, broker/nats.conf), with room for the head.
MAX_ASYNC_BODY_LIMIT = 60 << 20

__all__ = ["ConfigError", "SidecarConfig", "load_config"]  # the sidecar core raises the base


@dataclass(frozen=True, slots=True)
class SidecarConfig:
    functions_network: str  # FUNCTIONS_NETWORK: overlay network name (or ID) of the tasks
    host: str = "0.0.0.0"  # SIDECAR_HOST
    port: int = 8080  # SIDECAR_PORT
    docker_host: str | None = None  # DOCKER_HOST; None = docker SDK default (the unix socket)
    relist_interval: float = 10.0  # RELIST_INTERVAL seconds: re-list even without events
    debounce: float = 0.01  # RELIST_DEBOUNCE seconds: coalesce bursts of events
    workers: int = 1  # SIDECAR_WORKERS: Sanic worker processes, each with its own table
    hold_timeout: float = 5.0  # HOLD_TIMEOUT seconds: wait for a ready replica before 503
    # COLD_START_TIMEOUT seconds: the same wait for a function that scales to zero
    cold_start_timeout: float = 30.0
    connect_timeout: float = 2.0  # CONNECT_TIMEOUT seconds to open a connection to a replica
    buffer_limit: int = 1 << 20  # BUFFER_LIMIT bytes: bodies up to this are buffered (retryable)
    log_level: str = "INFO"  # LOG_LEVEL
    # FAST_PATH: serve plain /function/* requests without Sanic's request cycle
    # (fastpath.py; docs/sidecar.md has the measurement)
    fast_path: bool = True
    # CIRCUIT_BREAKER: take replicas whose connections fail out of rotation
    # (breaker.py); off only to measure what it saves
    circuit_breaker: bool = True
    # WEBHOOK_SECRETS_DIR: where the secrets swarmfaas.webhook.secrets names are
    webhook_secrets_dir: str = "/run/secrets"
    # ENGINE_GATE_TOKEN_FILE: shown to the engine gate on every Engine call
    engine_token: str | None = field(default=None, repr=False)
    # QUEUE_URL: the broker of asynchronous calls (nats://broker:4222); None: none,
    # and /async-function answers 503 queue_unavailable
    queue_url: str | None = None
    # QUEUE_TOKEN_FILE: the queue worker's token, which marks its deliveries
    queue_token: str | None = field(default=None, repr=False)
    # ASYNC_BODY_LIMIT bytes: the largest body an asynchronous call may store
    async_body_limit: int = DEFAULT_ASYNC_BODY_LIMIT
    # CALLBACK_ALLOWLIST: host globs X-Callback-Url may name (empty: no callbacks)
    callback_allowlist: tuple[str, ...] = ()
    # OPENFAAS_FUNCTIONS: also route services faas-swarm marked function=true
    # (docs/migrating-from-openfaas.md); the engine gate needs the same setting
    openfaas_functions: bool = False
    # SCALER_WAKE: the scaler's UDP host:port, nudged when a call starts waiting
    # for a function (scalerwake.py); None: no nudge, the scaler's round comes anyway
    scaler_wake: tuple[str, int] | None = None


def load_config(env: Mapping[str, str]) -> SidecarConfig:
    s = Settings(env, ConfigError)
    workers = 4 * (os.cpu_count() or 1)
    return SidecarConfig(
        functions_network=s.required("FUNCTIONS_NETWORK", "the name of the overlay network "
                                     "the function tasks are attached to (e.g. faas_functions)"),
        host=s.text("SIDECAR_HOST", "0.0.0.0"),
        port=s.port("SIDECAR_PORT", 8080),
        docker_host=s.text("DOCKER_HOST"),
        relist_interval=s.seconds("RELIST_INTERVAL", 10.0, low=0.5, high=3600),
        debounce=s.seconds("RELIST_DEBOUNCE", 0.01, low=0, high=5),
        workers=s.integer("SIDECAR_WORKERS", 1, low=1, high=workers,
                          what=f"a number of worker processes between 1 and {workers}"),
        hold_timeout=s.seconds("HOLD_TIMEOUT", 5.0, low=0, high=300),
        cold_start_timeout=s.seconds("COLD_START_TIMEOUT", 30.0, low=0, high=600),
        connect_timeout=s.seconds("CONNECT_TIMEOUT", 2.0, low=0.05, high=60),
        buffer_limit=s.size("BUFFER_LIMIT", 1 << 20, low=0, high=1 << 30),
        log_level=s.log_level(),
        fast_path=s.flag("FAST_PATH", True),
        circuit_breaker=s.flag("CIRCUIT_BREAKER", True),
        webhook_secrets_dir=s.text("WEBHOOK_SECRETS_DIR", "/run/secrets"),
        engine_token=read_token(env, ConfigError),
        queue_url=s.text("QUEUE_URL"),
        queue_token=read_token(env, ConfigError, QUEUE_TOKEN_SETTING),
        async_body_limit=s.size("ASYNC_BODY_LIMIT", DEFAULT_ASYNC_BODY_LIMIT, low=0,
                                high=MAX_ASYNC_BODY_LIMIT),
        callback_allowlist=s.globs("CALLBACK_ALLOWLIST"),
        openfaas_functions=s.flag("OPENFAAS_FUNCTIONS", False),
        scaler_wake=s.address("SCALER_WAKE", "scaler:8082"),
    )
