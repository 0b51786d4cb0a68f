"""Settings: read from a mapping, validated, errors name the variable."""

from __future__ import annotations

import pytest

from faas_sidecar.config import ConfigError, load_config

BASE = {"FUNCTIONS_NETWORK": "faas_functions"}


def test_defaults():
    c = load_config(BASE)
    assert (c.port, c.functions_network, c.docker_host, c.workers) == (
        8080, "faas_functions", None, 1)
    assert c.relist_interval == 10.0 and c.hold_timeout == 5.0


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"SIDECAR_PORT": "9090"}, "port", 9090),
        ({"DOCKER_HOST": "unix:///relay/docker.sock"}, "docker_host", "unix:///relay/docker.sock"),
        ({"RELIST_INTERVAL": "2.5"}, "relist_interval", 2.5),
        ({"SIDECAR_WORKERS": "2"}, "workers", 2),
        ({"HOLD_TIMEOUT": "0"}, "hold_timeout", 0.0),
        ({"LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
        ({"SIDECAR_PORT": " "}, "port", 8080),
        ({}, "scaler_wake", None),  # no nudge unless asked for
        ({"SCALER_WAKE": "scaler:8082"}, "scaler_wake", ("scaler", 8082)),
        ({"SCALER_WAKE": "[::1]:8082"}, "scaler_wake", ("::1", 8082)),
    ],
)
def test_values(env, field, expected):
    assert getattr(load_config({**BASE, **env}), field) == expected


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"FUNCTIONS_NETWORK": ""}, "FUNCTIONS_NETWORK"),
        ({"SIDECAR_PORT": "http"}, "SIDECAR_PORT"),
        ({"SIDECAR_PORT": "0"}, "SIDECAR_PORT"),
        ({"SIDECAR_PORT": "65536"}, "SIDECAR_PORT"),
        ({"RELIST_INTERVAL": "0.1"}, "RELIST_INTERVAL"),
        ({"RELIST_INTERVAL": "often"}, "RELIST_INTERVAL"),
        ({"SIDECAR_WORKERS": "0"}, "SIDECAR_WORKERS"),
        ({"HOLD_TIMEOUT": "-1"}, "HOLD_TIMEOUT"),
        ({"CONNECT_TIMEOUT": "0"}, "CONNECT_TIMEOUT"),
        ({"BUFFER_LIMIT": "1e3"}, "BUFFER_LIMIT"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"SCALER_WAKE": "scaler"}, "SCALER_WAKE"),
        ({"SCALER_WAKE": "scaler:0"}, "SCALER_WAKE"),
        ({"SCALER_WAKE": ":8082"}, "SCALER_WAKE"),
        ({"SCALER_WAKE": "scaler:\u00b2"}, "SCALER_WAKE"),  # not a digit to int()
    ],
)
def test_errors_name_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        load_config({**BASE, **env})


def test_missing_network():
    with pytest.raises(ConfigError, match="FUNCTIONS_NETWORK is required"):
        load_config({})


def test_frozen():
    c = load_config(BASE)
    with pytest.raises(AttributeError):
        c.port = 1  # type: ignore[misc]
