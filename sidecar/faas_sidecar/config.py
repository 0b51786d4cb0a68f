"""The sidecar's settings: read once from a mapping, validated, frozen.

Only ``main()`` passes ``os.environ`` here; every error names the variable and
what it accepts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

from .enginetoken import read_token
from .settings import bounded


class ConfigError(ValueError):
    """A setting has a value the sidecar cannot use."""


_number = partial(bounded, error=ConfigError)


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
    connect_timeout: float = 2.0  # CONNECT_TIMEOUT seconds to open a connection to a replica
    buffer_limit: int = 1 << 20  # BUFFER_LIMIT bytes: bodies up to this are buffered (retryable)
    log_level: str = "INFO"  # LOG_LEVEL
    # FAST_PATH: serve plain /function/* requests without Sanic's request cycle
    # (fastpath.py; docs/sidecar.md has the measurement)
    fast_path: bool = True
    # ENGINE_GATE_TOKEN_FILE: shown to the engine gate on every Engine call
    engine_token: str | None = field(default=None, repr=False)


def load_config(env: Mapping[str, str]) -> SidecarConfig:
    network = (env.get("FUNCTIONS_NETWORK") or "").strip()
    if not network:
        raise ConfigError(
            "FUNCTIONS_NETWORK is required: the name of the overlay network the function "
            "tasks are attached to (e.g. faas_functions)"
        )
    level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL={level!r}: expected DEBUG, INFO, WARNING or ERROR")
    cpus = os.cpu_count() or 1
    fast = (env.get("FAST_PATH") or "true").strip().lower()
    if fast not in {"true", "false"}:
        raise ConfigError(f"FAST_PATH={fast!r}: expected true or false")
    return SidecarConfig(
        functions_network=network,
        host=(env.get("SIDECAR_HOST") or "0.0.0.0").strip(),
        port=_number(env, "SIDECAR_PORT", 8080, int, 1, 65535, "a TCP port (1-65535)"),
        docker_host=(env.get("DOCKER_HOST") or "").strip() or None,
        relist_interval=_number(env, "RELIST_INTERVAL", 10.0, float, 0.5, 3600,
                                "seconds between 0.5 and 3600"),
        debounce=_number(env, "RELIST_DEBOUNCE", 0.01, float, 0, 5, "seconds between 0 and 5"),
        workers=_number(env, "SIDECAR_WORKERS", 1, int, 1, 4 * cpus,
                        f"a number of worker processes between 1 and {4 * cpus}"),
        hold_timeout=_number(env, "HOLD_TIMEOUT", 5.0, float, 0, 300,
                             "seconds between 0 and 300"),
        connect_timeout=_number(env, "CONNECT_TIMEOUT", 2.0, float, 0.05, 60,
                                "seconds between 0.05 and 60"),
        buffer_limit=_number(env, "BUFFER_LIMIT", 1 << 20, int, 0, 1 << 30,
                             "bytes between 0 and 1073741824"),
        log_level=level,
        fast_path=fast == "true",
        engine_token=read_token(env, ConfigError),
    )
