"""The engine gate's settings: read once from a mapping, validated, frozen.

The allowlists and the functions network are the system API's own settings
(same variable names), so one stack file gives both the same values.
"""

from __future__ import annotations

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


class GateConfigError(ConfigError):
    """A setting of the engine gate is missing or invalid; the message names it."""


DEFAULT_SOCKET = "/var/run/docker.sock"
SCALER_TOKEN_SETTING = "ENGINE_GATE_SCALER_TOKEN_FILE"


@dataclass(frozen=True, slots=True)
class GateConfig:
    functions_network: str                 # FUNCTIONS_NETWORK: the only network a function joins
    image_allowlist: tuple[str, ...] = ()  # SYSTEM_IMAGE_ALLOWLIST
    secret_allowlist: tuple[str, ...] = ()  # SYSTEM_SECRET_ALLOWLIST
    # SYSTEM_SECRET_PREFIX: the only secrets the sidecar may create or remove
    secret_prefix: str = DEFAULT_SECRET_PREFIX
    host: str = "0.0.0.0"                  # GATE_HOST
    port: int = 2375                       # GATE_PORT
    socket: str = DEFAULT_SOCKET           # DOCKER_SOCKET: the Engine's unix socket
    max_body: int = 1 << 20                # GATE_MAX_BODY bytes of a request body
    timeout: float = 30.0                  # GATE_TIMEOUT seconds for a request head and body
    log_level: str = "INFO"                # LOG_LEVEL
    # ENGINE_GATE_TOKEN_FILE: when set, every call but /_ping must carry it
    token: str | None = field(default=None, repr=False)
    # ENGINE_GATE_SCALER_TOKEN_FILE: the scaler's token, which opens only listing
    # functions and setting their replica count (policy.refuse_scale)
    scaler_token: str | None = field(default=None, repr=False)
    # OPENFAAS_FUNCTIONS: faas-swarm's function=true services count as functions
    # too (listed, read, scaled); set it as the sidecar's
    openfaas_functions: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GateConfig:
        s = Settings(env, GateConfigError)
        network = s.text("FUNCTIONS_NETWORK")
        if network is None or not NETWORK_NAME_RE.fullmatch(network):
            s.fail(f"FUNCTIONS_NETWORK must be the name of the functions overlay network "
                   f"(e.g. faas_functions), got {network!r}")
        socket = s.text("DOCKER_SOCKET", DEFAULT_SOCKET)
        if not socket.startswith("/"):
            s.fail(f"DOCKER_SOCKET must be an absolute path, got {socket!r}")
        token = read_token(env, GateConfigError)
        scaler_token = read_token(env, GateConfigError, SCALER_TOKEN_SETTING)
        if scaler_token is not None and scaler_token == token:
            s.fail(f"{SCALER_TOKEN_SETTING} must hold another token than "
                   "ENGINE_GATE_TOKEN_FILE (the scaler's rights are narrower)")
        return cls(
            functions_network=network,
            image_allowlist=s.globs("SYSTEM_IMAGE_ALLOWLIST"),
            secret_allowlist=s.globs("SYSTEM_SECRET_ALLOWLIST"),
            secret_prefix=s.matching("SYSTEM_SECRET_PREFIX", DEFAULT_SECRET_PREFIX,
                                     SECRET_PREFIX_RE, SECRET_PREFIX_TEXT),
            host=s.text("GATE_HOST", "0.0.0.0"),
            port=s.port("GATE_PORT", 2375),
            socket=socket,
            max_body=s.size("GATE_MAX_BODY", 1 << 20, low=1024, high=64 << 20),
            timeout=s.seconds("GATE_TIMEOUT", 30.0, low=1, high=600),
            log_level=s.log_level(),
            token=token,
            scaler_token=scaler_token,
            openfaas_functions=s.flag("OPENFAAS_FUNCTIONS", False),
        )
