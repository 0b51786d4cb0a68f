"""Watchdog configuration: read once from a mapping into a frozen, validated object.

Variable names follow OpenFaaS's watchdogs where the meaning is the same, so
existing function images and habits carry over. Every error names the variable
and says what it accepts.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

MODES = ("fork", "stream", "http")
# OpenFaaS of-watchdog spellings accepted as aliases.
MODE_ALIASES = {"serializing": "fork", "streaming": "stream"}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    None: 1, "b": 1,
    "k": 1024, "kb": 1000, "kib": 1024,
    "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
}


# The longest a draining watchdog keeps answering replica_draining before its
# port closes (Config.drain_linger): it adds to the stop time that the
# service's stop_grace_period must cover.
DRAIN_LINGER_MAX = 5.0


class ConfigError(ValueError):
    """A setting has a value the watchdog cannot use; the message names it."""


@dataclass(frozen=True)
class Config:
    fprocess: tuple[str, ...]
    mode: str = "fork"
    upstream_url: str = ""
    read_timeout: float = 10.0
    write_timeout: float = 10.0
    exec_timeout: float = 10.0  # 0 means no limit
    max_inflight: int = 0  # 0 means no limit
    content_type: str = ""
    combine_output: bool = False
    cgi_headers: bool = True
    port: int = 8080
    healthcheck_interval: float = 0.0
    request_limit: int = 16 * 1024**2
    response_limit: int = 32 * 1024**2
    kill_grace: float = 2.0
    suppress_lock: bool = False
    no_new_privileges: bool = True  # prctl(PR_SET_NO_NEW_PRIVS): Swarm has no such option
    workers: int = 0  # 0: decided at start-up by default_workers()

    @property
    def upstream_host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.upstream_url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Build the configuration from environment-like `env`; raise ConfigError."""
        raw = env.get("fprocess") or env.get("function_process") or ""
        try:
            fprocess = tuple(shlex.split(raw))
        except ValueError as exc:
            raise ConfigError(f"fprocess: cannot split {raw!r} into arguments ({exc})") from None
        if not fprocess:
            raise ConfigError(
                "fprocess (or function_process): required, the command to run, e.g. 'cat'"
            )

        mode = env.get("mode", "fork").strip().lower() or "fork"
        mode = MODE_ALIASES.get(mode, mode)
        if mode not in MODES:
            raise ConfigError(f"mode: {env.get('mode')!r} is not one of {', '.join(MODES)}")

        upstream_url = env.get("upstream_url", "").strip()
        if mode == "http":
            parts = urlsplit(upstream_url)
            try:
                port_ok = parts.port is not None
            except ValueError:
                port_ok = False
            if parts.scheme != "http" or not parts.hostname or not port_ok:
                raise ConfigError(
                    f"upstream_url: {upstream_url!r} is not an http://host:port URL "
                    "(required when mode=http)"
                )

        workers = _int(env, "workers", 0, minimum=0, maximum=256)
        if mode == "http" and workers > 1:
            raise ConfigError(
                f"workers: {workers} with mode=http; http mode runs one upstream process and "
                "one proxy (more proxies did not help, docs/watchdog.md): use 1 or leave unset"
            )
        return cls(
            fprocess=fprocess,
            mode=mode,
            upstream_url=upstream_url,
            read_timeout=_duration(env, "read_timeout", 10.0, allow_zero=False),
            write_timeout=_duration(env, "write_timeout", 10.0, allow_zero=False),
            exec_timeout=_duration(env, "exec_timeout", 10.0),
            max_inflight=_int(env, "max_inflight", 0, minimum=0),
            content_type=env.get("content_type", "").strip(),
            combine_output=_bool(env, "combine_output", False),
            cgi_headers=_bool(env, "cgi_headers", True),
            port=_int(env, "port", 8080, minimum=1, maximum=65535),
            healthcheck_interval=_duration(env, "healthcheck_interval", 0.0),
            request_limit=_size(env, "request_limit", 16 * 1024**2),
            response_limit=_size(env, "response_limit", 32 * 1024**2),
            kill_grace=_duration(env, "kill_grace", 2.0),
            suppress_lock=_bool(env, "suppress_lock", False),
            no_new_privileges=_bool(env, "no_new_privileges", True),
            workers=workers,
        )

    @property
    def drain_linger(self) -> float:
        """How long from the drain's start new requests still get 503
        replica_draining (the port open) even when nothing is in flight:
        healthcheck_interval again, for routers that had not noticed the stop
        within the first one, at most DRAIN_LINGER_MAX."""
        return min(self.healthcheck_interval, DRAIN_LINGER_MAX)

    def worker_count(self, cpus: int) -> int:
        """`workers` if set, else default_workers() for this mode and CPU count."""
        return self.workers or default_workers(self.mode, cpus)


def default_workers(mode: str, cpus: int) -> int:
    """One worker per CPU we may run on in fork/stream mode (spawning is CPU-bound
    and a vfork blocks its loop until the child has exec'd); one in http mode,
    where the upstream needs the other cores (measured: docs/watchdog.md)."""
    if mode == "http":
        return 1
    return max(1, cpus)


def parse_duration(text: str) -> float:
    """'10s', '500ms', '1m', '2h' or bare seconds ('1.5') to seconds; ValueError if not."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(text: str) -> int:
    """'1048576', '512KiB', '10MiB', '1MB' to bytes; ValueError if not."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(text)
    unit = match.group(2).lower() if match.group(2) else None
    return int(match.group(1)) * _SIZE_UNITS[unit]


def _duration(env: Mapping[str, str], name: str, default: float, allow_zero: bool = True) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = parse_duration(raw)
    except ValueError:
        raise ConfigError(
            f"{name}: {raw!r} is not a duration; use e.g. '10s', '500ms', '1m' or seconds"
        ) from None
    if not allow_zero and value <= 0:
        raise ConfigError(f"{name}: must be greater than zero, got {raw!r}")
    return value


def _size(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = parse_size(raw)
    except ValueError:
        raise ConfigError(
            f"{name}: {raw!r} is not a size; use bytes or e.g. '512KiB', '10MiB', '1MB'"
        ) from None
    if value <= 0:
        raise ConfigError(f"{name}: must be greater than zero, got {raw!r}")
    return value


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name}: {value} is out of range (between {minimum}{upper})")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}: {raw!r} is not a boolean; use true/false, 1/0, yes/no, on/off")
