"""OPENFAAS_FUNCTIONS: which services are functions, routed and listed (pure, table-driven).

faas-swarm marked a function with the service label function=true. With the
setting on, such a service is a function too, but only on the functions
network, as every function; with it off (the default) it never is.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from faas_sidecar.config import ConfigError, load_config
from faas_sidecar.gate.config import GateConfig, GateConfigError
from faas_sidecar.gate.policy import (
    SpecRules,
    lists_only_functions,
    refuse_create,
    refuse_function_only,
    refuse_scale,
)
from faas_sidecar.labels import function_filters
from faas_sidecar.scaler.config import ScalerConfig, ScalerConfigError
from faas_sidecar.scaler.labels import parse_scale_labels
from faas_sidecar.spec import build_table, is_platform_function, marks_function, parse_service
from faas_sidecar.system.config import SystemApiConfig, SystemConfigError
from faas_sidecar.system.service_spec import function_status

from .test_spec import NET, NET_ID, _on, service, task

OURS = {"swarmfaas.function": "true"}
FAAS_SWARM = {"function": "true", "com.openfaas.function": "echo"}


@pytest.mark.parametrize(("labels", "openfaas", "routed"), [
    (OURS, False, True),
    (OURS, True, True),
    (FAAS_SWARM, False, False),               # the default: never
    (FAAS_SWARM, True, True),
    ({**FAAS_SWARM, **OURS}, False, True),
    ({"function": "True"}, True, False),      # exactly "true", as ours
    ({"function": "1"}, True, False),
    ({"function": ""}, True, False),
    ({"com.openfaas.function": "echo"}, True, False),
    ({"swarmfaas.function": "false", "function": "true"}, True, True),
    ({}, True, False),
])
def test_which_labels_mark_a_function(labels, openfaas, routed):
    assert marks_function(labels, openfaas) is routed


@pytest.mark.parametrize(("targets", "network_known", "openfaas", "routed"), [
    ((NET_ID,), True, True, True),
    ((NET,), True, True, True),
    ((NET_ID,), True, False, False),
    (("other",), True, True, False),          # another stack's network: not ours
    ((), True, True, False),
    # without the network's ID a build cannot check it: OpenFaaS-marked
    # services wait for it (ours keep the old behaviour)
    ((NET_ID,), False, True, False),
])
def test_an_openfaas_service_is_routed_only_on_the_functions_network(
        targets, network_known, openfaas, routed):
    svc = _on(service("faas_echo", labels={**FAAS_SWARM,
                                           "com.docker.stack.namespace": "faas"}), *targets)
    table = build_table([svc], [task()], NET, network_id=NET_ID if network_known else None,
                        generation=1, built_at=0, openfaas=openfaas).table
    assert ("echo" in table.functions) is routed
    if routed:
        assert table.get("echo").replicas[0].address == "10.0.1.5"
    assert not table.invalid


# The one rule routing and the system API share (is_platform_function):
# which listed services are this platform's functions.
BOTH = {**FAAS_SWARM, **OURS}


@pytest.mark.parametrize(("labels", "targets", "network_id", "openfaas", "listed"), [
    # the setting off: faas-swarm's mark means nothing, wherever the service is
    (FAAS_SWARM, (NET_ID,), NET_ID, False, False),
    (FAAS_SWARM, (NET,), NET_ID, False, False),
    (OURS, (NET_ID,), NET_ID, False, True),
    (BOTH, (NET_ID,), NET_ID, False, True),
    # the setting on: either mark, on the functions network by ID or by name
    (FAAS_SWARM, (NET_ID,), NET_ID, True, True),
    (FAAS_SWARM, (NET,), NET_ID, True, True),
    (FAAS_SWARM, ("other", NET_ID), NET_ID, True, True),
    (OURS, (NET,), NET_ID, True, True),
    (BOTH, (NET,), NET_ID, True, True),
    # label forms faas-swarm never wrote: not a function
    ({"function": "True"}, (NET_ID,), NET_ID, True, False),
    ({"function": "yes"}, (NET_ID,), NET_ID, True, False),
    ({"com.openfaas.function": "figlet"}, (NET_ID,), NET_ID, True, False),
    ({"function": "false", "com.openfaas.function": "x"}, (NET_ID,), NET_ID, True, False),
    ({}, (NET_ID,), NET_ID, True, False),
    # another network (an OpenFaaS stack's own func_functions) or none: never
    (FAAS_SWARM, ("func_functions",), NET_ID, True, False),
    (FAAS_SWARM, (), NET_ID, True, False),
    (OURS, ("func_functions",), NET_ID, True, False),
    (OURS, ("func_functions",), NET_ID, False, False),
    # the network's ID unknown: faas-swarm's mark waits for it, ours do not
    (FAAS_SWARM, (NET_ID,), None, True, False),
    (OURS, ("func_functions",), None, True, True),
])
def test_which_services_are_the_platforms_functions(labels, targets, network_id, openfaas,
                                                    listed):
    svc = _on(service("faas_figlet", labels=labels), *targets)
    assert is_platform_function(svc, NET, network_id, openfaas) is listed


def test_a_faas_swarm_service_is_described_as_faas_swarm_stored_it():
    labels = {**FAAS_SWARM, "com.docker.stack.namespace": "func",
              "com.openfaas.scale.max": "3", "com.openfaas.annotations.topic": "orders",
              "com.openfaas.annotations.owner": "ops",
              "swarmfaas.annotation.owner": "platform"}  # ours wins a key both give
    svc = service("func_figlet", labels=labels, replicas=2, image="figlet:0.1@sha256:" + "a" * 64)
    svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] = ["fprocess=figlet", "TOKEN=x"]
    status = function_status(svc, available=1)
    assert (status["name"], status["image"], status["namespace"]) == (
        "figlet", "figlet:0.1", "swarmfaas-fn")
    assert (status["replicas"], status["availableReplicas"]) == (2, 1)
    assert status["envProcess"] == "figlet"
    assert status["annotations"] == {"topic": "orders", "owner": "platform"}
    assert status["labels"] == {**FAAS_SWARM, "com.docker.stack.namespace": "func",
                                "com.openfaas.scale.max": "3"}
    assert status["scaling"]["max"] == 3
    assert "TOKEN" not in str(status)  # environment values are never shown


def test_openfaas_scale_labels_and_fprocess_carry_over():
    svc = service("figlet", labels={**FAAS_SWARM, "com.openfaas.scale.min": "2",
                                    "com.openfaas.scale.max": "7",
                                    "com.openfaas.scale.zero": "true"})
    svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] = ["fprocess=figlet",
                                                           "max_inflight=3"]
    spec = parse_service(svc, openfaas=True)
    scale = parse_scale_labels(spec.labels)
    assert (spec.name, scale.min, scale.max, spec.scales_to_zero) == ("figlet", 2, 7, True)
    assert spec.queue is not None and spec.queue.max_inflight == 3  # the watchdog's max_inflight


@pytest.mark.parametrize(("openfaas", "filters"), [
    (False, ("swarmfaas.function=true",)),
    (True, ("swarmfaas.function=true", "function=true")),
])
def test_listing_filters(openfaas, filters):
    assert function_filters(openfaas) == filters


ENV = {"FUNCTIONS_NETWORK": "faas_functions"}


@pytest.mark.parametrize(("value", "want"), [
    (None, False), ("", False), ("false", False), ("0", False),
    ("true", True), ("TRUE", True), ("1", True),
])
def test_the_setting_is_read_alike_by_sidecar_gate_scaler_and_system_api(value, want):
    env = ENV if value is None else {**ENV, "OPENFAAS_FUNCTIONS": value}
    assert load_config(env).openfaas_functions is want
    assert GateConfig.from_env(env).openfaas_functions is want
    assert ScalerConfig.from_env(env).openfaas_functions is want
    assert SystemApiConfig.from_env(env).openfaas_functions is want


@pytest.mark.parametrize("load", [load_config, GateConfig.from_env, ScalerConfig.from_env,
                                  SystemApiConfig.from_env])
def test_a_bad_value_names_the_setting(load):
    with pytest.raises((ConfigError, GateConfigError, ScalerConfigError, SystemConfigError),
                       match=r"^OPENFAAS_FUNCTIONS='yes'"):
        load({**ENV, "OPENFAAS_FUNCTIONS": "yes"})


def _listing(*labels: str) -> str:
    return urlencode({"filters": json.dumps({"label": list(labels)})})


@pytest.mark.parametrize(("query_string", "openfaas", "ok"), [
    (_listing("swarmfaas.function=true"), False, True),
    (_listing("function=true"), False, False),   # the gate's default: refused
    (_listing("function=true"), True, True),
    (_listing("swarmfaas.function=true"), True, True),
    (_listing("function"), True, False),
    (_listing("function=false"), True, False),
    (_listing(), True, False),
])
def test_the_gate_lists_openfaas_functions_only_with_the_setting(query_string, openfaas, ok):
    assert lists_only_functions(query_string, openfaas) is ok


FAAS_SWARM_SERVICE = {"ID": "s1", "Spec": {"Name": "figlet", "Labels": FAAS_SWARM,
                                           "Mode": {"Replicated": {"Replicas": 1}}}}


@pytest.mark.parametrize("openfaas", [False, True])
def test_the_gate_reads_and_scales_an_openfaas_function_only_with_the_setting(openfaas):
    scaled = {**FAAS_SWARM_SERVICE["Spec"], "Mode": {"Replicated": {"Replicas": 3}}}
    refused = [refuse_function_only(FAAS_SWARM_SERVICE, "read", openfaas),
               refuse_scale(FAAS_SWARM_SERVICE, scaled, openfaas)]
    assert refused == [None, None] if openfaas else all(refused)


def test_the_gate_never_creates_an_openfaas_marked_service():
    rules = SpecRules(networks=frozenset({"faas_functions"}), image_allowlist=("*",),
                      secret_allowlist=())
    spec = {"Name": "x", "Labels": FAAS_SWARM, "TaskTemplate": {
        "ContainerSpec": {"Image": "i"}, "Networks": [{"Target": "faas_functions"}]}}
    assert "not labelled swarmfaas.function=true" in refuse_create(spec, rules)
