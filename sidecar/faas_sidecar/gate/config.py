"""The engine gate's settings: read once from a mapping, validated, frozen.

The allowlists and the functions network are the system API's own settings
(same variable names), so one stack file gives both the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..enginetoken import read_token
from ..settings import NETWORK_NAME_RE, bounded, globs, text


class GateConfigError(ValueError):
    """A setting of the engine gate is missing or invalid; the message names it."""


DEFAULT_SOCKET = "/var/run/docker.sock"


@dataclass(frozen=True, slots=True)
class GateConfig:
    functions_network: str                 # FUNCTIONS_NETWORK: the only network a function joins
    image_allowlist: tuple[str, ...] = ()  # SYSTEM_IMAGE_ALLOWLIST
    secret_allowlist: tuple[str, ...] = ()  # SYSTEM_SECRET_ALLOWLIST
    host: str = "0.0.0.0"                  # GATE_HOST
    port: int = 2375                       # GATE_PORT
    socket: str = DEFAULT_SOCKET           # DOCKER_SOCKET: the Engine's unix socket
    max_body: int = 1 << 20                # GATE_MAX_BODY bytes of a request body
    timeout: float = 30.0                  # GATE_TIMEOUT seconds for a request head and body
    log_level: str = "INFO"                # LOG_LEVEL
    # ENGINE_GATE_TOKEN_FILE: when set, every call but /_ping must carry it
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GateConfig:
        network = text(env, "FUNCTIONS_NETWORK")
        if network is None or not NETWORK_NAME_RE.match(network):
            raise GateConfigError(
                f"FUNCTIONS_NETWORK must be the name of the functions overlay network "
                f"(e.g. faas_functions), got {network!r}")
        socket = text(env, "DOCKER_SOCKET") or DEFAULT_SOCKET
        if not socket.startswith("/"):
            raise GateConfigError(f"DOCKER_SOCKET must be an absolute path, got {socket!r}")
        level = (text(env, "LOG_LEVEL") or "INFO").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise GateConfigError(f"LOG_LEVEL={level!r}: expected DEBUG, INFO, WARNING or ERROR")
        return cls(
            functions_network=network,
            image_allowlist=globs(env, "SYSTEM_IMAGE_ALLOWLIST", GateConfigError),
            secret_allowlist=globs(env, "SYSTEM_SECRET_ALLOWLIST", GateConfigError),
            host=text(env, "GATE_HOST") or "0.0.0.0",
            port=bounded(env, "GATE_PORT", 2375, int, 1, 65535, "a TCP port (1-65535)",
                         GateConfigError),
            socket=socket,
            max_body=bounded(env, "GATE_MAX_BODY", 1 << 20, int, 1024, 64 << 20,
                             "bytes between 1024 and 67108864", GateConfigError),
            timeout=bounded(env, "GATE_TIMEOUT", 30.0, float, 1, 600,
                            "seconds between 1 and 600", GateConfigError),
            log_level=level,
            token=read_token(env, GateConfigError),
        )
