"""The engine gate's narrow rule for the scaler (pure): list functions, set a
replica count, nothing else; and the setting that holds the scaler's token."""

from __future__ import annotations

import copy

import pytest

from faas_sidecar.gate.config import GateConfig, GateConfigError
from faas_sidecar.gate.policy import Kind, refuse_for_scaler, refuse_scale

FUNCTION_SPEC = {
    "Name": "faas_echo",
    "Labels": {"swarmfaas.function": "true", "swarmfaas.scale.max": "8"},
    "TaskTemplate": {"ContainerSpec": {"Image": "swarmfaas/fn-echo:latest"},
                     "Networks": [{"Target": "n3tw0rk1d"}]},
    "Mode": {"Replicated": {"Replicas": 2}},
    "EndpointSpec": {"Mode": "dnsrr"},
}
CURRENT = {"ID": "abc123", "Version": {"Index": 7}, "Spec": FUNCTION_SPEC}


def scaled(replicas, change=None):
    spec = copy.deepcopy(FUNCTION_SPEC)
    spec["Mode"]["Replicated"]["Replicas"] = replicas
    if change:
        change(spec)
    return spec


def _set(path, value):
    def change(spec):
        node = spec
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return change


@pytest.mark.parametrize(("current", "spec", "refused"), [
    (CURRENT, scaled(5), None),
    (CURRENT, scaled(0), None),               # to zero
    (CURRENT, scaled(2), None),               # the same count
    (CURRENT, scaled(-1), "to a count"),
    (CURRENT, scaled(True), "to a count"),
    (CURRENT, scaled("3"), "to a count"),
    (CURRENT, scaled(3.5), "to a count"),
    (CURRENT, {"Mode": {"Replicated": {"Replicas": 3}}}, "only the replica count"),
    (CURRENT, scaled(3, _set(("TaskTemplate", "ContainerSpec", "Image"), "evil:latest")),
     "only the replica count"),
    (CURRENT, scaled(3, _set(("Labels", "swarmfaas.scale.max"), "100")),
     "only the replica count"),
    (CURRENT, scaled(3, _set(("TaskTemplate", "ContainerSpec", "Mounts"),
                             [{"Type": "bind", "Source": "/", "Target": "/host"}])),
     "only the replica count"),
    (CURRENT, scaled(3, _set(("EndpointSpec", "Ports"), [{"TargetPort": 80}])),
     "only the replica count"),
    (CURRENT, scaled(3, _set(("Mode", "Replicated", "MaxConcurrent"), 1)),
     "only the replica count"),
    (CURRENT, scaled(3, _set(("Mode",), {"Global": {}, "Replicated": {"Replicas": 3}})),
     "only the replica count"),
    (CURRENT, {**FUNCTION_SPEC, "Mode": {"Global": {}}}, "to a count"),
    ({"ID": "x", "Spec": {**FUNCTION_SPEC, "Labels": {}}}, scaled(3), "labelled"),
    ({"ID": "x", "Spec": {**FUNCTION_SPEC, "Mode": {"Global": {}}}},
     {**FUNCTION_SPEC, "Mode": {"Replicated": {"Replicas": 3}}}, "only replicated"),
])
def test_only_the_replica_count_may_change(current, spec, refused):
    why = refuse_scale(current, spec)
    if refused is None:
        assert why is None
    else:
        assert why is not None and refused in why


@pytest.mark.parametrize(("kind", "allowed"), [
    (Kind.PASS, True), (Kind.LIST_FUNCTIONS, True), (Kind.LIST_FUNCTION_TASKS, True),
    (Kind.UPDATE, True),  # and then refuse_scale, not refuse_update
    (Kind.EVENTS, False), (Kind.FUNCTION_READ, False), (Kind.CREATE, False),
    (Kind.REMOVE, False), (Kind.DENY, False),
])
def test_what_the_scaler_may_call(kind, allowed):
    assert (refuse_for_scaler(kind) is None) is allowed


BASE = {"FUNCTIONS_NETWORK": "faas_functions"}


def test_scaler_token_setting(tmp_path):
    (tmp_path / "sidecar").write_text("sidecar-token-0123456789")
    (tmp_path / "scaler").write_text("scaler-token-0123456789\n")
    config = GateConfig.from_env({**BASE, "ENGINE_GATE_TOKEN_FILE": str(tmp_path / "sidecar"),
                                  "ENGINE_GATE_SCALER_TOKEN_FILE": str(tmp_path / "scaler")})
    assert config.scaler_token == "scaler-token-0123456789"
    assert "scaler-token" not in repr(config)
    assert GateConfig.from_env(BASE).scaler_token is None


@pytest.mark.parametrize("content", ["short", "same-token-0123456789"])
def test_scaler_token_errors_name_the_setting(tmp_path, content):
    (tmp_path / "sidecar").write_text("same-token-0123456789")
    (tmp_path / "scaler").write_text(content)
    with pytest.raises(GateConfigError, match="ENGINE_GATE_SCALER_TOKEN_FILE"):
        GateConfig.from_env({**BASE, "ENGINE_GATE_TOKEN_FILE": str(tmp_path / "sidecar"),
                             "ENGINE_GATE_SCALER_TOKEN_FILE": str(tmp_path / "scaler")})
