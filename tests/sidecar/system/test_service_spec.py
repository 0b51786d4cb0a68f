"""Deployment -> docker-py service kwargs, and service JSON -> FunctionStatus."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from faas_sidecar.system.payloads import Deployment, Resources
from faas_sidecar.system.service_spec import (
    display_image,
    function_name_of,
    function_status,
    is_function,
    replicas_of,
    service_kwargs,
)


def dep(**kw) -> Deployment:
    base = {"name": "hello", "image": "swarmfaas/fn-echo:1"}
    base.update(kw)
    for key in ("env_vars", "labels", "annotations"):
        if key in base:
            base[key] = MappingProxyType(base[key])
    return Deployment(**base)


def kwargs_of(deployment: Deployment, **kw):
    args = {"service_name": "sys-hello", "network": "faas_functions", "replicas": 1,
            "secret_ids": {}}
    args.update(kw)
    return service_kwargs(deployment, **args)


def test_minimal_deployment_becomes_a_dnsrr_function_service_on_the_network():
    kwargs = kwargs_of(dep())
    assert kwargs["name"] == "sys-hello"
    assert kwargs["image"] == "swarmfaas/fn-echo:1"
    assert kwargs["labels"] == {"swarmfaas.function": "true", "swarmfaas.name": "hello"}
    assert kwargs["networks"] == ["faas_functions"]
    assert kwargs["endpoint_spec"] == {"Mode": "dnsrr"}
    assert kwargs["mode"] == {"replicated": {"Replicas": 1}}
    assert kwargs["update_config"]["Order"] == "start-first"
    # the drain the stack's functions have (service_spec.DRAIN_ENV)
    assert kwargs["env"] == ["healthcheck_interval=1s"]
    assert kwargs["constraints"] == [] and kwargs["secrets"] == []
    # Contained by default: a read-only root, 1 CPU and 512 MiB, no capabilities,
    # a tmpfs for /tmp.
    assert kwargs["read_only"] is True
    assert kwargs["resources"] == {"Limits": {"NanoCPUs": 10**9, "MemoryBytes": 2**29,
                                              "Pids": 512}}
    assert kwargs["cap_drop"] == ["ALL"]
    assert kwargs["mounts"] == [{"Target": "/tmp", "Source": None, "Type": "tmpfs",
                                 "ReadOnly": False,
                                 "TmpfsOptions": {"SizeBytes": 64 * 1024 * 1024}}]
    # A rotated log: a function that floods stderr fills at most 30 MiB of disk.
    assert kwargs["log_driver"] == "json-file"
    assert kwargs["log_driver_options"] == {"max-size": "10m", "max-file": "3"}


@pytest.mark.parametrize(("deployment", "key", "expected"), [
    (dep(env_process="cat"), "env", ["fprocess=cat", "healthcheck_interval=1s"]),
    (dep(env_vars={"B": "2", "A": "1"}), "env", ["A=1", "B=2", "healthcheck_interval=1s"]),
    # envProcess wins over an fprocess in envVars
    (dep(env_process="cat", env_vars={"fprocess": "sh"}), "env",
     ["fprocess=cat", "healthcheck_interval=1s"]),
    # envVars set the drain's interval (0: none)
    (dep(env_vars={"healthcheck_interval": "0"}), "env", ["healthcheck_interval=0"]),
    (dep(labels={"team": "a", "swarmfaas.timeout": "5"}), "labels",
     {"team": "a", "swarmfaas.timeout": "5", "swarmfaas.function": "true",
      "swarmfaas.name": "hello"}),
    (dep(annotations={"topic": "t"}), "labels",
     {"swarmfaas.annotation.topic": "t", "swarmfaas.function": "true",
      "swarmfaas.name": "hello"}),
    (dep(constraints=("node.role==manager",)), "constraints", ["node.role==manager"]),
    (dep(read_only_root=False), "read_only", False),
    (dep(limits=Resources(memory_bytes=2**27, nano_cpus=5 * 10**8)), "resources",
     {"Limits": {"NanoCPUs": 5 * 10**8, "MemoryBytes": 2**27, "Pids": 512}}),
    (dep(limits=None, requests=Resources(memory_bytes=2**26)), "resources",
     {"Limits": {"Pids": 512}, "Reservations": {"MemoryBytes": 2**26}}),
    (dep(limits=None, labels={"swarmfaas.pids_limit": "100"}), "resources",
     {"Limits": {"Pids": 100}}),
])
def test_deployment_fields_map_to_service_kwargs(deployment, key, expected):
    assert kwargs_of(deployment)[key] == expected


def test_no_limits_at_all_when_asked():
    kwargs = kwargs_of(dep(limits=None, labels={"swarmfaas.pids_limit": "0"}))
    assert "resources" not in kwargs


def test_secrets_are_referenced_by_id_and_name():
    kwargs = kwargs_of(dep(secrets=("fn-key",)), secret_ids={"fn-key": "sid123"})
    (ref,) = kwargs["secrets"]
    assert ref["SecretID"] == "sid123" and ref["SecretName"] == "fn-key"
    assert ref["File"]["Name"] == "fn-key"


def test_a_platform_secret_is_mounted_under_its_api_name():
    kwargs = kwargs_of(dep(secrets=("api-key",)), secret_ids={"api-key": "sid9"},
                       secret_names={"api-key": "swarmfaas-fn-api-key"})
    (ref,) = kwargs["secrets"]
    assert (ref["SecretID"], ref["SecretName"]) == ("sid9", "swarmfaas-fn-api-key")
    assert ref["File"]["Name"] == "api-key"


@pytest.mark.parametrize(("seconds", "expected"), [
    (2.0, {"Test": None, "Interval": 2_000_000_000, "Timeout": None, "Retries": None,
           "StartPeriod": None}),
    (0.5, {"Test": None, "Interval": 500_000_000, "Timeout": None, "Retries": None,
           "StartPeriod": None}),
    (0.0, None),  # the image's own interval
])
def test_health_interval_sets_only_how_often_the_images_check_runs(seconds, expected):
    kwargs = kwargs_of(dep(), health_interval=seconds)
    assert kwargs.get("healthcheck") == expected


def test_replicas_are_the_callers_choice():
    assert kwargs_of(dep(), replicas=0)["mode"] == {"replicated": {"Replicas": 0}}


def test_kwargs_are_accepted_by_docker_py():
    # docker-py's own translation into an API body must take every key we emit.
    from docker.models.services import _get_create_service_kwargs

    body = _get_create_service_kwargs("create", kwargs_of(
        dep(env_process="cat", limits=Resources(2**27, 10**9), constraints=("a==b",)),
    ))
    spec = body["task_template"]
    assert spec["ContainerSpec"]["Env"] == ["fprocess=cat", "healthcheck_interval=1s"]
    assert spec["Placement"]["Constraints"] == ["a==b"]
    assert spec["Networks"] == [{"Target": "faas_functions"}]
    assert body["endpoint_spec"] == {"Mode": "dnsrr"}
    assert spec["ContainerSpec"]["CapabilityDrop"] == ["ALL"]
    assert spec["ContainerSpec"]["Mounts"][0]["Type"] == "tmpfs"


def service(name="faas_echo", labels=None, mode=None, container=None, **extra):
    return {
        "ID": "svc1",
        "CreatedAt": "2026-11-27T00:00:00.123456789Z",
        "Spec": {
            "Name": name,
            "Labels": {"swarmfaas.function": "true"} if labels is None else labels,
            "Mode": mode or {"Replicated": {"Replicas": 2}},
            "TaskTemplate": {"ContainerSpec": container or {"Image": "swarmfaas/fn-echo:1"},
                             **extra},
        },
    }


@pytest.mark.parametrize(("svc", "expected"), [
    (service(name="hello"), "hello"),
    (service(name="faas_echo", labels={"com.docker.stack.namespace": "faas"}), "echo"),
    (service(name="faas_echo", labels={"com.docker.stack.namespace": "other"}), "faas_echo"),
    (service(name="sys-x", labels={"swarmfaas.name": "x"}), "x"),
    (service(name="faas_e", labels={"swarmfaas.name": "y", "com.docker.stack.namespace": "faas"}),
     "y"),
])
def test_function_name_of(svc, expected):
    assert function_name_of(svc) == expected


@pytest.mark.parametrize(("labels", "expected"), [
    ({"swarmfaas.function": "true"}, True),
    ({"swarmfaas.function": "false"}, False),
    ({"swarmfaas.function": "TRUE"}, False),
    ({}, False),
])
def test_is_function(labels, expected):
    assert is_function(service(labels=labels)) is expected


@pytest.mark.parametrize(("mode", "expected"), [
    ({"Replicated": {"Replicas": 3}}, 3), ({"Replicated": {}}, 0), ({"Global": {}}, None),
])
def test_replicas_of(mode, expected):
    assert replicas_of(service(mode=mode)) == expected


@pytest.mark.parametrize(("image", "expected"), [
    ("swarmfaas/x:1@sha256:" + "a" * 64, "swarmfaas/x:1"),
    ("swarmfaas/x@sha256:" + "a" * 64, "swarmfaas/x@sha256:" + "a" * 64),
    ("host:5000/x:2", "host:5000/x:2"),
])
def test_display_image(image, expected):
    assert display_image(image) == expected


def test_function_status_of_a_full_service():
    svc = service(
        name="sys-hello",
        labels={"swarmfaas.function": "true", "swarmfaas.name": "hello",
                "swarmfaas.annotation.topic": "t", "team": "a"},
        container={"Image": "swarmfaas/fn-echo:1@sha256:" + "b" * 64,
                   "Env": ["fprocess=cat -n", "SECRET_TOKEN=hide=me"],
                   "Secrets": [{"SecretName": "fn-key", "SecretID": "x"}], "ReadOnly": True},
        Placement={"Constraints": ["node.role==manager"]},
        Resources={"Limits": {"MemoryBytes": 134217728, "NanoCPUs": 500000000},
                   "Reservations": {"MemoryBytes": 67108864}},
    )
    status = function_status(svc, available=1, invocations=7)
    assert status == {
        "name": "hello",
        "image": "swarmfaas/fn-echo:1",
        "namespace": "swarmfaas-fn",
        "labels": {"swarmfaas.function": "true", "swarmfaas.name": "hello", "team": "a"},
        "annotations": {"topic": "t"},
        "constraints": ["node.role==manager"],
        "secrets": ["fn-key"],
        "readOnlyRootFilesystem": True,
        "replicas": 2,
        "availableReplicas": 1,
        "envProcess": "cat -n",
        "createdAt": "2026-11-27T00:00:00.123456789Z",
        "limits": {"memory": "134217728", "cpu": "0.5"},
        "requests": {"memory": "67108864"},
        "invocationCount": 7,
        "scaling": {"min": 1, "max": 20, "type": "inflight", "target": 4.0, "zero": False,
                    "zeroDuration": 300.0},
    }
    assert "hide=me" not in repr(status)  # env values are not exposed


def test_function_status_of_a_global_stack_service():
    svc = service(labels={"swarmfaas.function": "true", "com.docker.stack.namespace": "faas"},
                  mode={"Global": {}})
    status = function_status(svc, available=3)
    assert status["name"] == "echo" and status["namespace"] == "swarmfaas-fn"
    assert status["replicas"] == 3 and status["availableReplicas"] == 3
    assert "envProcess" not in status and "invocationCount" not in status


@pytest.mark.parametrize(("labels", "want"), [
    ({}, None),
    ({"swarmfaas.schedule": "CRON_TZ=Europe/Berlin 0 9 * * 1-5"},
     {"expression": "CRON_TZ=Europe/Berlin 0 9 * * 1-5", "timeZone": "Europe/Berlin",
      "catchUp": 60.0,
      # Friday 4 December 2026, 10:00 UTC: Monday to Wednesday next, 09:00 CET
      "nextRuns": ["2026-12-07T08:00:00Z", "2026-12-08T08:00:00Z", "2026-12-09T08:00:00Z"]}),
    ({"swarmfaas.schedule": "every day"}, "error"),
])
def test_a_scheduled_function_shows_its_next_runs(labels, want):
    from datetime import UTC, datetime

    svc = service(labels={"swarmfaas.function": "true", **labels})
    status = function_status(svc, available=1, now=datetime(2026, 12, 4, 10, tzinfo=UTC))
    if want is None:
        assert "schedule" not in status
    elif want == "error":
        assert status["schedule"]["expression"] == "every day"
        assert "swarmfaas.schedule" in status["schedule"]["error"]
    else:
        assert status["schedule"] == want


@pytest.mark.parametrize(("labels", "want"), [
    ({"swarmfaas.scale.min": "2", "swarmfaas.scale.max": "8", "swarmfaas.scale.type": "rps",
      "swarmfaas.scale.zero": "true", "swarmfaas.scale.zero_duration": "15m"},
     {"min": 2, "max": 8, "type": "rps", "target": 50.0, "zero": True, "zeroDuration": 900.0}),
    ({"com.openfaas.scale.max": "3"},  # OpenFaaS's names where ours are absent
     {"min": 1, "max": 3, "type": "inflight", "target": 4.0, "zero": False,
      "zeroDuration": 300.0}),
])
def test_a_function_shows_its_scaling_bounds(labels, want):
    status = function_status(service(labels={"swarmfaas.function": "true", **labels}),
                             available=1)
    assert status["scaling"] == want


def test_bad_scaling_labels_are_shown_not_raised():
    status = function_status(service(labels={"swarmfaas.function": "true",
                                             "swarmfaas.scale.max": "many"}), available=1)
    assert "swarmfaas.scale.max" in status["scaling"]["error"]
