"""Settings of the system API, read once from a mapping into a frozen value.

Only ``main()`` passes ``os.environ`` in; tests pass plain dicts. Every error
names the setting and what it accepts, so a bad stack file fails at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..enginetoken import read_token
from ..settings import NETWORK_NAME_RE, bounded, globs

DEFAULT_USER_FILE = "/run/secrets/basic-auth-user"
DEFAULT_PASSWORD_FILE = "/run/secrets/basic-auth-password"

# A prefix may end in '-' or '_' because a function name is appended to it.
_PREFIX_RE = re.compile(r"^([a-z0-9][a-z0-9_-]{0,30})?$")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SystemConfigError(ValueError):
    """A system API setting is missing or invalid; the message names it."""


@dataclass(frozen=True, slots=True)
class SystemApiConfig:
    auth_user_file: str = DEFAULT_USER_FILE
    auth_password_file: str = DEFAULT_PASSWORD_FILE
    # Dangerous: every /system route answers without credentials.
    auth_dangerously_disabled: bool = False
    image_allowlist: tuple[str, ...] = ()
    secret_allowlist: tuple[str, ...] = ()
    functions_network: str = "functions"
    service_prefix: str = ""
    max_replicas: int = 20
    # Seconds between health checks of the functions it deploys (the image's
    # check, run more often than its default); 0 keeps the image's interval.
    health_interval: float = 2.0
    docker_url: str = "unix:///var/run/docker.sock"
    docker_timeout: float = 30.0
    git_sha: str = "unknown"
    # ENGINE_GATE_TOKEN_FILE: shown to the engine gate on every Engine call
    engine_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SystemApiConfig:
        return cls(
            auth_user_file=_path(env, "SYSTEM_AUTH_USER_FILE", DEFAULT_USER_FILE),
            auth_password_file=_path(env, "SYSTEM_AUTH_PASSWORD_FILE", DEFAULT_PASSWORD_FILE),
            auth_dangerously_disabled=_bool(env, "SYSTEM_AUTH_DANGEROUSLY_DISABLE"),
            image_allowlist=_patterns(env, "SYSTEM_IMAGE_ALLOWLIST"),
            secret_allowlist=_patterns(env, "SYSTEM_SECRET_ALLOWLIST"),
            functions_network=_matching(env, "FUNCTIONS_NETWORK", "functions", NETWORK_NAME_RE,
                                        "a Docker network name"),
            service_prefix=_matching(env, "SYSTEM_SERVICE_PREFIX", "", _PREFIX_RE,
                                     "up to 31 characters of [a-z0-9_-], starting with [a-z0-9]"),
            max_replicas=_int(env, "SYSTEM_MAX_REPLICAS", 20, low=0, high=1000),
            health_interval=_float(env, "SYSTEM_HEALTH_INTERVAL", 2.0, low=0.0, high=300.0),
            docker_url=_nonempty(env, "DOCKER_HOST", "unix:///var/run/docker.sock"),
            docker_timeout=_float(env, "SYSTEM_DOCKER_TIMEOUT", 30.0, low=1.0, high=600.0),
            git_sha=_nonempty(env, "SWARMFAAS_GIT_SHA", "unknown"),
            engine_token=read_token(env, SystemConfigError),
        )


def _raw(env: Mapping[str, str], key: str, default: str) -> str:
    value = env.get(key)
    return default if value is None else value.strip()


def _nonempty(env: Mapping[str, str], key: str, default: str) -> str:
    value = _raw(env, key, default)
    if not value:
        raise SystemConfigError(f"{key} must not be empty")
    return value


def _path(env: Mapping[str, str], key: str, default: str) -> str:
    value = _nonempty(env, key, default)
    if not value.startswith("/"):
        raise SystemConfigError(f"{key} must be an absolute file path, got {value!r}")
    return value


def _bool(env: Mapping[str, str], key: str) -> bool:
    value = _raw(env, key, "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SystemConfigError(f"{key} must be true or false, got {value!r}")


def _int(env: Mapping[str, str], key: str, default: int, *, low: int, high: int) -> int:
    return bounded(env, key, default, int, low, high, f"an integer in [{low}, {high}]",
                   SystemConfigError)


def _float(env: Mapping[str, str], key: str, default: float, *, low: float, high: float) -> float:
    return bounded(env, key, default, float, low, high,
                   f"a number of seconds in [{low:g}, {high:g}]", SystemConfigError)


def _matching(env: Mapping[str, str], key: str, default: str, pattern: re.Pattern[str],
              what: str) -> str:
    value = _raw(env, key, default)
    if not pattern.match(value):
        raise SystemConfigError(f"{key} must be {what}, got {value!r}")
    return value


def _patterns(env: Mapping[str, str], key: str) -> tuple[str, ...]:
    return globs(env, key, SystemConfigError)
