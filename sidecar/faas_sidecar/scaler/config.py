"""The scaler's settings: read once from a mapping, validated, frozen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..enginetoken import read_token
from ..settings import NETWORK_NAME_RE, ConfigError, Settings, parse_address
from .policy import PolicyConfig


class ScalerConfigError(ConfigError):
    """A setting of the scaler is missing or invalid; the message names it."""


@dataclass(frozen=True, slots=True)
class ScalerConfig:
    functions_network: str                       # FUNCTIONS_NETWORK: only its functions
    # SCALER_SIDECARS: host:port names that resolve to every sidecar replica
    sidecars: tuple[tuple[str, int], ...] = (("tasks.sidecar", 8080),)
    docker_host: str = "tcp://engine-gate:2375"  # DOCKER_HOST: the engine gate
    interval: float = 1.0                        # SCALER_INTERVAL seconds between rounds
    # SCALER_DOWN_WINDOW, SCALER_HUMAN_HOLD
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    metrics_port: int = 8081                     # SCALER_METRICS_PORT (/metrics)
    log_level: str = "INFO"                      # LOG_LEVEL
    # ENGINE_GATE_TOKEN_FILE: the scaler's own token (the gate knows it as
    # ENGINE_GATE_SCALER_TOKEN_FILE)
    token: str | None = field(default=None, repr=False)
    # OPENFAAS_FUNCTIONS: scale faas-swarm's function=true services too, as the
    # sidecar routes them
    openfaas_functions: bool = False
    # SCALER_WAKE_PORT: UDP port where a sidecar's nudge starts a round at once
    # (scalerwake.py); 0: none, rounds only every interval
    wake_port: int = 8082

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ScalerConfig:
        s = Settings(env, ScalerConfigError)
        network = s.text("FUNCTIONS_NETWORK")
        if network is None or not NETWORK_NAME_RE.fullmatch(network):
            s.fail(f"FUNCTIONS_NETWORK must be the name of the functions overlay network "
                   f"(e.g. faas_functions), got {network!r}")
        return cls(
            functions_network=network,
            sidecars=_sidecars(s.text("SCALER_SIDECARS", "tasks.sidecar:8080")),
            docker_host=s.text("DOCKER_HOST", "tcp://engine-gate:2375"),
            # at most 1 s: a scale-up must follow its signal within 2 s
            interval=s.seconds("SCALER_INTERVAL", 1.0, low=0.1, high=1.0),
            policy=PolicyConfig(
                down_window=s.seconds("SCALER_DOWN_WINDOW", 60.0, low=1, high=3600),
                human_hold=s.seconds("SCALER_HUMAN_HOLD", 120.0, low=0, high=86400)),
            metrics_port=s.port("SCALER_METRICS_PORT", 8081),
            log_level=s.log_level(),
            token=read_token(env, ScalerConfigError),
            openfaas_functions=s.flag("OPENFAAS_FUNCTIONS", False),
            wake_port=s.integer("SCALER_WAKE_PORT", 8082, low=0, high=65535,
                                what="a UDP port (1-65535), or 0 for none"),
        )


def _sidecars(raw: str) -> tuple[tuple[str, int], ...]:
    found = []
    for item in (part.strip() for part in raw.split(",")):
        address = parse_address(item)
        if address is None:
            raise ScalerConfigError(f"SCALER_SIDECARS={raw!r}: expected comma-separated "
                                    f"host:port names (e.g. tasks.sidecar:8080), got {item!r}")
        found.append(address)
    return tuple(found)
