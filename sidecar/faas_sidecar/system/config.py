"""Settings of the system API, read once from a mapping into a frozen value.

Only ``main()`` passes ``os.environ`` in; tests pass plain dicts. Every error
names the setting and what it accepts, so a bad stack file fails at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..enginetoken import read_token
from ..settings import (
    DEFAULT_SECRET_PREFIX,
    NETWORK_NAME_RE,
    SECRET_PREFIX_RE,
    SECRET_PREFIX_TEXT,
    ConfigError,
    Settings,
)

DEFAULT_USER_FILE = "/run/secrets/basic-auth-user"
DEFAULT_PASSWORD_FILE = "/run/secrets/basic-auth-password"

# A prefix may end in '-' or '_' because a function name is appended to it.
_PREFIX_RE = re.compile(r"^([a-z0-9][a-z0-9_-]{0,30})?$")



class SystemConfigError(ConfigError):
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
    # The Docker name prefix of the secrets /system/secrets makes and may touch
    secret_prefix: str = DEFAULT_SECRET_PREFIX
    # ENGINE_GATE_TOKEN_FILE: shown to the engine gate on every Engine call
    engine_token: str | None = field(default=None, repr=False)
    # OPENFAAS_FUNCTIONS: list and manage faas-swarm's function=true services
    # too, as routing takes them (docs/migrating-from-openfaas.md)
    openfaas_functions: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SystemApiConfig:
        s = Settings(env, SystemConfigError)
        return cls(
            auth_user_file=s.absolute_path("SYSTEM_AUTH_USER_FILE", DEFAULT_USER_FILE),
            auth_password_file=s.absolute_path("SYSTEM_AUTH_PASSWORD_FILE",
                                               DEFAULT_PASSWORD_FILE),
            auth_dangerously_disabled=s.flag("SYSTEM_AUTH_DANGEROUSLY_DISABLE", False),
            image_allowlist=s.globs("SYSTEM_IMAGE_ALLOWLIST"),
            secret_allowlist=s.globs("SYSTEM_SECRET_ALLOWLIST"),
            functions_network=s.matching("FUNCTIONS_NETWORK", "functions", NETWORK_NAME_RE,
                                         "a Docker network name"),
            service_prefix=s.matching("SYSTEM_SERVICE_PREFIX", "", _PREFIX_RE,
                                      "up to 31 characters of [a-z0-9_-], starting with [a-z0-9]"),
            max_replicas=s.integer("SYSTEM_MAX_REPLICAS", 20, low=0, high=1000),
            health_interval=s.seconds("SYSTEM_HEALTH_INTERVAL", 2.0, low=0.0, high=300.0),
            docker_url=s.nonempty("DOCKER_HOST", "unix:///var/run/docker.sock"),
            docker_timeout=s.seconds("SYSTEM_DOCKER_TIMEOUT", 30.0, low=1.0, high=600.0),
            git_sha=s.nonempty("SWARMFAAS_GIT_SHA", "unknown"),
            secret_prefix=s.matching("SYSTEM_SECRET_PREFIX", DEFAULT_SECRET_PREFIX,
                                     SECRET_PREFIX_RE, SECRET_PREFIX_TEXT),
            engine_token=read_token(env, SystemConfigError),
            openfaas_functions=s.flag("OPENFAAS_FUNCTIONS", False),
        )
