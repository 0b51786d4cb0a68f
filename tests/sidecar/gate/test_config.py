"""The engine gate's settings: defaults, values, and errors that name the setting."""

from __future__ import annotations

import pytest

from faas_sidecar.gate.config import GateConfig, GateConfigError

BASE = {"FUNCTIONS_NETWORK": "faas_functions"}


def test_defaults():
    config = GateConfig.from_env(BASE)
    assert config == GateConfig(functions_network="faas_functions")
    assert (config.port, config.socket, config.image_allowlist) == (
        2375, "/var/run/docker.sock", ())


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"SYSTEM_IMAGE_ALLOWLIST": "swarmfaas/*, acme/fn-*"}, "image_allowlist",
     ("swarmfaas/*", "acme/fn-*")),
    ({"SYSTEM_SECRET_ALLOWLIST": "fn-*"}, "secret_allowlist", ("fn-*",)),
    ({"SYSTEM_SECRET_ALLOWLIST": " "}, "secret_allowlist", ()),
    ({"GATE_PORT": "2376"}, "port", 2376),
    ({"GATE_HOST": "127.0.0.1"}, "host", "127.0.0.1"),
    ({"DOCKER_SOCKET": "/relay/docker.sock"}, "socket", "/relay/docker.sock"),
    ({"GATE_MAX_BODY": "4096"}, "max_body", 4096),
    ({"GATE_TIMEOUT": "5"}, "timeout", 5.0),
    ({"LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
])
def test_values(env, field, value):
    assert getattr(GateConfig.from_env({**BASE, **env}), field) == value


@pytest.mark.parametrize(("env", "named"), [
    ({"FUNCTIONS_NETWORK": ""}, "FUNCTIONS_NETWORK"),
    ({"FUNCTIONS_NETWORK": "bad name"}, "FUNCTIONS_NETWORK"),
    ({"GATE_PORT": "0"}, "GATE_PORT"),
    ({"GATE_PORT": "http"}, "GATE_PORT"),
    ({"DOCKER_SOCKET": "docker.sock"}, "DOCKER_SOCKET"),
    ({"GATE_MAX_BODY": "10"}, "GATE_MAX_BODY"),
    ({"GATE_TIMEOUT": "0"}, "GATE_TIMEOUT"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ({"SYSTEM_IMAGE_ALLOWLIST": "swarmfaas/*;rm -rf"}, "SYSTEM_IMAGE_ALLOWLIST"),
])
def test_errors_name_the_setting(env, named):
    with pytest.raises(GateConfigError, match=named):
        GateConfig.from_env({**BASE, **env})


def test_network_is_required():
    with pytest.raises(GateConfigError, match="FUNCTIONS_NETWORK"):
        GateConfig.from_env({})
