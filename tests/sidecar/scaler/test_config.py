"""The scaler's settings: defaults, values, errors that name the setting."""

from __future__ import annotations

import pytest

from faas_sidecar.scaler.config import ScalerConfig, ScalerConfigError
from faas_sidecar.scaler.policy import PolicyConfig

BASE = {"FUNCTIONS_NETWORK": "faas_functions"}


def test_defaults():
    assert ScalerConfig.from_env(BASE) == ScalerConfig(functions_network="faas_functions")


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"SCALER_SIDECARS": "tasks.sidecar:8080"}, "sidecars", (("tasks.sidecar", 8080),)),
    ({"SCALER_SIDECARS": "127.0.0.1:18301, 127.0.0.1:18302"}, "sidecars",
     (("127.0.0.1", 18301), ("127.0.0.1", 18302))),
    ({"SCALER_SIDECARS": "[::1]:8080"}, "sidecars", (("::1", 8080),)),
    ({"DOCKER_HOST": "tcp://127.0.0.1:2375"}, "docker_host", "tcp://127.0.0.1:2375"),
    ({"SCALER_INTERVAL": "0.5"}, "interval", 0.5),
    ({"SCALER_DOWN_WINDOW": "10", "SCALER_HUMAN_HOLD": "0"}, "policy",
     PolicyConfig(down_window=10.0, human_hold=0.0)),
    ({"SCALER_METRICS_PORT": "9100"}, "metrics_port", 9100),
    ({}, "wake_port", 8082),
    ({"SCALER_WAKE_PORT": "9200"}, "wake_port", 9200),
    ({"SCALER_WAKE_PORT": "0"}, "wake_port", 0),  # no nudges: rounds every interval
    ({"LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
])
def test_values(env, field, value):
    assert getattr(ScalerConfig.from_env({**BASE, **env}), field) == value


@pytest.mark.parametrize(("env", "named"), [
    ({"FUNCTIONS_NETWORK": ""}, "FUNCTIONS_NETWORK"),
    ({"SCALER_SIDECARS": "tasks.sidecar"}, "SCALER_SIDECARS"),
    ({"SCALER_SIDECARS": "a:1,b:http"}, "SCALER_SIDECARS"),
    ({"SCALER_SIDECARS": ":8080"}, "SCALER_SIDECARS"),
    ({"SCALER_INTERVAL": "2"}, "SCALER_INTERVAL"),  # up within 2 s needs rounds <= 1 s
    ({"SCALER_INTERVAL": "0"}, "SCALER_INTERVAL"),
    ({"SCALER_DOWN_WINDOW": "0"}, "SCALER_DOWN_WINDOW"),
    ({"SCALER_HUMAN_HOLD": "-1"}, "SCALER_HUMAN_HOLD"),
    ({"SCALER_METRICS_PORT": "0"}, "SCALER_METRICS_PORT"),
    ({"SCALER_WAKE_PORT": "65536"}, "SCALER_WAKE_PORT"),
    ({"SCALER_WAKE_PORT": "udp"}, "SCALER_WAKE_PORT"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ({"ENGINE_GATE_TOKEN_FILE": "/nonexistent/token"}, "ENGINE_GATE_TOKEN_FILE"),
])
def test_errors_name_the_setting(env, named):
    with pytest.raises(ScalerConfigError, match=named):
        ScalerConfig.from_env({**BASE, **env})
