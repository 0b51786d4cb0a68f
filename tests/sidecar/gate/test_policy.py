"""The engine gate's policy (pure): which Engine API calls pass, which specs a
function may have."""

from __future__ import annotations

import json
import random
from urllib.parse import urlencode

import pytest

from faas_sidecar.engine import EVENT_FILTERS
from faas_sidecar.gate.policy import (
    Kind,
    SpecRules,
    events_allowed,
    lists_only_functions,
    needs_token,
    refuse_create,
    refuse_for_scaler,
    refuse_function_only,
    refuse_logs_query,
    refuse_secret_create,
    refuse_secret_remove,
    refuse_update,
    route,
    task_services,
    violations,
)

RULES = SpecRules(networks=frozenset({"faas_functions", "n3tw0rk1d"}),
                  image_allowlist=("swarmfaas/*",), secret_allowlist=("fn-*",))


@pytest.mark.parametrize(("method", "path", "kind", "target"), [
    ("GET", "/v1.41/_ping", Kind.PASS, ""),
    ("HEAD", "/_ping", Kind.PASS, ""),
    ("GET", "/v1.44/version", Kind.PASS, ""),
    ("GET", "/v1.41/events", Kind.EVENTS, ""),
    ("GET", "/v1.41/tasks", Kind.LIST_FUNCTION_TASKS, ""),
    ("GET", "/v1.41/networks/faas_functions", Kind.PASS, "faas_functions"),
    ("GET", "/v1.41/secrets", Kind.PASS, ""),
    ("GET", "/v1.41/services", Kind.LIST_FUNCTIONS, ""),
    ("GET", "/v1.41/services/abc123", Kind.FUNCTION_READ, "abc123"),
    ("GET", "/v1.41/services/faas_echo/logs", Kind.FUNCTION_LOGS, "faas_echo"),
    ("POST", "/v1.41/secrets/create", Kind.SECRET_CREATE, ""),
    ("DELETE", "/v1.41/secrets/abc123", Kind.SECRET_REMOVE, "abc123"),
    ("POST", "/v1.41/services/create", Kind.CREATE, ""),
    ("POST", "/v1.41/services/abc123/update", Kind.UPDATE, "abc123"),
    ("DELETE", "/v1.41/services/abc123", Kind.REMOVE, "abc123"),
    # everything else the sidecar never needs
    ("GET", "/v1.41/info", Kind.DENY, ""),
    ("GET", "/v1.41/containers/json", Kind.DENY, ""),
    ("POST", "/v1.41/containers/create", Kind.DENY, ""),
    ("POST", "/v1.41/containers/abc/exec", Kind.DENY, ""),
    ("POST", "/v1.41/images/create", Kind.DENY, ""),
    ("POST", "/v1.41/swarm/leave", Kind.DENY, ""),
    ("GET", "/v1.41/secrets/abc", Kind.DENY, ""),
    ("POST", "/v1.41/secrets/abc/update", Kind.DENY, ""),  # the secrets API has no updates
    ("GET", "/v1.41/tasks/t1/logs", Kind.DENY, ""),
    ("GET", "/v1.41/containers/abc/logs", Kind.DENY, ""),
    ("DELETE", "/v1.41/secrets/..", Kind.DENY, ""),
    ("GET", "/v1.41/tasks/t1", Kind.DENY, ""),  # any task's spec: not needed
    ("DELETE", "/v1.41/networks/faas_functions", Kind.DENY, ""),
    ("POST", "/v1.41/services/abc/update/x", Kind.DENY, ""),
    ("PUT", "/v1.41/services/create", Kind.DENY, ""),
    ("DELETE", "/v1.41/services/..", Kind.DENY, ""),          # no dot names
    ("DELETE", "/v1.41/services/%2e%2e", Kind.DENY, ""),
    ("GET", "/v1.41//services", Kind.DENY, ""),
    ("GET", "/services/abc/../../info", Kind.DENY, ""),
])
def test_routes(method, path, kind, target):
    got = route(method, path)
    assert (got.kind, got.target) == (kind, target)
    if kind is Kind.DENY:
        assert method in got.reason and "engine gate" in got.reason


def query(filters) -> str:
    return urlencode({"filters": json.dumps(filters)})


@pytest.mark.parametrize(("query_string", "ok"), [
    (query({"label": ["swarmfaas.function=true"]}), True),
    (query({"label": ["team=a", "swarmfaas.function=true"]}), True),
    (query({"label": {"swarmfaas.function=true": True}}), True),
    (query({"label": {"swarmfaas.function=true": False}}), False),
    (query({"label": ["swarmfaas.function"]}), False),
    (query({"label": ["swarmfaas.function=false"]}), False),
    (query({"name": ["swarmfaas.function=true"]}), False),
    (query(["swarmfaas.function=true"]), False),
    ("filters=%7Bnot-json", False),
    ("", False),
    ("status=true", False),
])
def test_listing_services_needs_the_function_filter(query_string, ok):
    assert lists_only_functions(query_string) is ok


DISCOVERY = EVENT_FILTERS  # the sidecar's subscription


@pytest.mark.parametrize(("query_string", "ok"), [
    (query(DISCOVERY), True),                         # what the sidecar sends
    (query({"type": ["service"], "event": ["create", "remove"]}), True),
    (query({"type": {"service": True, "network": True}, "event": {"update": True}}), True),
    (query({**DISCOVERY, "label": ["a=b"]}), True),   # narrower still
    (query({"type": ["service"]}), False),            # every action
    (query({"type": ["container"], "event": ["health_status", "exec_create"]}), False),
    (query({"type": ["container"], "event": ["exec_die"]}), False),
    (query({"type": ["container"], "event": ["attach"]}), False),
    (query({"type": ["container"], "event": []}), False),
    (query({"type": ["container"], "event": {"start": True, "exec_start": True}}), False),
    (query({"type": ["service", "image"], "event": ["create"]}), False),
    (query({"type": ["daemon"], "event": ["reload"]}), False),
    (query({"type": ["plugin"], "event": ["create"]}), False),
    (query({"type": [], "event": ["create"]}), False),
    (query({"event": ["create"]}), False),            # every type
    ("since=0", False),
    ("", False),
    ("filters=%7Bnot-json", False),
])
def test_events_only_of_the_types_discovery_uses(query_string, ok):
    assert events_allowed(query_string) is ok


@pytest.mark.parametrize(("query_string", "services"), [
    (query({"service": ["id1"], "desired-state": ["running"]}), ["id1"]),
    (query({"service": ["id1", "id2"]}), ["id1", "id2"]),
    (query({"service": {"id1": True, "id2": False}}), ["id1"]),
    (query({"desired-state": ["running"]}), []),      # every service's tasks
    (query({"service": []}), []),
    (query({"service": "id1"}), []),                   # not Docker's shape
    (query({"service": [1]}), []),
    (query(["id1"]), []),
    ("filters=%7Bnot-json", []),
    ("", []),
])
def test_listing_tasks_names_the_services(query_string, services):
    assert task_services(query_string) == services


def spec(**container) -> dict:
    """A spec like the one the system API sends for a function."""
    return {
        "Name": "fn-hello",
        "Labels": {"swarmfaas.function": "true", "swarmfaas.name": "hello"},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "swarmfaas/fn-hello:1", "Env": ["fprocess=cat"],
                              **container},
            "Networks": [{"Target": "faas_functions"}],
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        "EndpointSpec": {"Mode": "dnsrr"},
    }


def with_(base: dict, **top) -> dict:
    return {**base, **top}


DIGEST = "@sha256:" + "a" * 64


@pytest.mark.parametrize(("service_spec", "found"), [
    (spec(), set()),
    (spec(Image="swarmfaas/fn-hello:1" + DIGEST), set()),
    (spec(ReadOnly=True, User="nobody", Mounts=[{"Type": "tmpfs", "Target": "/tmp"}]), set()),
    (spec(Secrets=[{"SecretID": "s1", "SecretName": "fn-token"}]), set()),
    (with_(spec(), Networks=[{"Target": "n3tw0rk1d"}]), set()),
    (with_(spec(), Labels={"swarmfaas.function": "false"}),
     {"the service is not labelled swarmfaas.function=true"}),
    (with_(spec(), Labels=None), {"the service is not labelled swarmfaas.function=true"}),
    (spec(Image="debian:bookworm-slim"),
     {"image 'debian:bookworm-slim' is not in the image allowlist"}),
    (spec(Image=""), {"image '' is not in the image allowlist"}),
    (spec(Mounts=[{"Type": "bind", "Source": "/var/run/docker.sock",
                   "Target": "/var/run/docker.sock"}]),
     {"bind mount /var/run/docker.sock -> /var/run/docker.sock"}),
    (spec(Mounts=[{"Type": "volume", "Source": "faas_letsencrypt", "Target": "/le"}]),
     {"volume mount faas_letsencrypt -> /le"}),
    (spec(Mounts=[{"Type": "volume", "Target": "/x", "VolumeOptions": {"DriverConfig": {
        "Name": "local", "Options": {"type": "none", "o": "bind", "device": "/"}}}}]),
     {"volume mount  -> /x"}),
    (spec(Mounts=[{"Source": "/etc", "Target": "/etc"}]), {"volume mount /etc -> /etc"}),
    (spec(Mounts=[{"Type": "npipe", "Source": "x", "Target": "y"}]), {"npipe mount x -> y"}),
    (spec(Privileges={"SELinuxContext": {"Disable": True}}), {"privileges: SELinuxContext"}),
    (spec(Privileges={"Seccomp": {"Mode": "unconfined"}, "NoNewPrivileges": False}),
     {"privileges: Seccomp"}),
    (spec(Privileges={"CredentialSpec": None}), set()),
    (spec(CapabilityAdd=["CAP_SYS_ADMIN"]), {"ContainerSpec.CapabilityAdd"}),
    (spec(CapabilityDrop=["CAP_NET_RAW"]), set()),
    (spec(Sysctls={"net.ipv4.ip_forward": "1"}), {"ContainerSpec.Sysctls"}),
    (spec(Configs=[{"ConfigName": "x"}]), {"ContainerSpec.Configs"}),
    (spec(Isolation="hyperv"), {"isolation 'hyperv'"}),
    (spec(Isolation="default"), set()),
    (spec(Secrets=[{"SecretID": "s2", "SecretName": "faas_tls-key-1"}]),
     {"secret 'faas_tls-key-1' is not in the secret allowlist"}),
    (with_(spec(), TaskTemplate={**spec()["TaskTemplate"], "Runtime": "plugin",
                                 "PluginSpec": {"Name": "x"}}),
     {"runtime 'plugin' (only containers)", "TaskTemplate.PluginSpec (only containers)"}),
    (with_(spec(), TaskTemplate={**spec()["TaskTemplate"], "LogDriver": {"Name": "syslog"}}),
     {"log driver 'syslog' (only the platform's rotated json-file)"}),
    # The platform's own, rotated: what the system API sets on every function.
    (with_(spec(), TaskTemplate={**spec()["TaskTemplate"], "LogDriver": {
        "Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}}}), set()),
    (with_(spec(), TaskTemplate={**spec()["TaskTemplate"], "LogDriver": {
        "Name": "json-file", "Options": {"max-size": "100g", "max-file": "3"}}}),
     {"log driver 'json-file' (only the platform's rotated json-file)"}),
    (with_(spec(), TaskTemplate={**spec()["TaskTemplate"], "LogDriver": {"Name": "json-file"}}),
     {"log driver 'json-file' (only the platform's rotated json-file)"}),
    (with_(spec(), TaskTemplate={**spec()["TaskTemplate"],
                                 "Networks": [{"Target": "host"}]}),
     {"network 'host' (only the functions network)"}),
    (with_(spec(), Networks=[{"Target": "faas_edge"}]),
     {"network 'faas_edge' (only the functions network)"}),
    (with_(spec(), EndpointSpec={"Mode": "vip", "Ports": [{"TargetPort": 8080,
                                                           "PublishedPort": 80}]}),
     {"published ports (functions are reached through the sidecar)"}),
    ({}, {"the service is not labelled swarmfaas.function=true",
          "image '' is not in the image allowlist"}),
])
def test_violations(service_spec, found):
    assert violations(service_spec, RULES) == found


def test_create_needs_a_clean_spec():
    assert refuse_create(spec(), RULES) is None
    why = refuse_create(spec(Image="evil/x", CapabilityAdd=["ALL"]), RULES)
    assert why == ("the engine gate refuses to create this service: "
                   "ContainerSpec.CapabilityAdd; image 'evil/x' is not in the image allowlist")


STACK_FUNCTION = {  # deployed by the operator with a volume, as webhookstash is
    "ID": "svc1",
    "Spec": spec(Mounts=[{"Type": "volume", "Source": "faas_webhookstash", "Target": "/data"}]),
}


@pytest.mark.parametrize(("current", "new", "refused"), [
    # scaling a stack-deployed function sends its whole spec back: allowed
    (STACK_FUNCTION, with_(STACK_FUNCTION["Spec"], Mode={"Replicated": {"Replicas": 3}}), None),
    # the system API's update drops the volume: fewer violations, allowed
    (STACK_FUNCTION, spec(), None),
    # ... but may not add one
    (STACK_FUNCTION, spec(Mounts=[
        {"Type": "volume", "Source": "faas_webhookstash", "Target": "/data"},
        {"Type": "bind", "Source": "/", "Target": "/host"}]), "bind mount / -> /host"),
    # nor unmark the function
    ({"Spec": spec()}, with_(spec(), Labels={}),
     "the service is not labelled swarmfaas.function=true"),
    # nor touch a service that is not a function, whatever the new spec says
    ({"Spec": with_(spec(), Labels={"com.docker.stack.namespace": "faas"})}, spec(),
     "only updates services labelled swarmfaas.function=true"),
    ({}, spec(), "only updates services labelled"),
])
def test_update_may_keep_but_not_add_violations(current, new, refused):
    why = refuse_update(current, new, RULES)
    if refused is None:
        assert why is None
    else:
        assert why is not None and refused in why


@pytest.mark.parametrize(("labels", "allowed"), [
    ({"swarmfaas.function": "true"}, True),
    ({"swarmfaas.function": "True"}, False),
    ({}, False),
])
def test_remove_and_read_only_functions(labels, allowed):
    why = refuse_function_only({"Spec": {"Labels": labels}}, "remove")
    assert (why is None) is allowed
    if not allowed:
        assert "remove" in why


def test_any_json_shape_gives_a_verdict_or_a_shape_error():
    """The server turns AttributeError/TypeError/ValueError into a 400; nothing
    else may escape, whatever JSON a caller sends (seeded random shapes)."""
    rng = random.Random(4)
    leaves = [None, True, 0, 1.5, "", "x", "swarmfaas/x", [], {}, ["a"], {"a": 1}]
    keys = ["Labels", "TaskTemplate", "ContainerSpec", "Image", "Mounts", "Type", "Source",
            "Privileges", "CapabilityAdd", "Secrets", "SecretName", "Networks", "Target",
            "EndpointSpec", "Ports", "Runtime", "LogDriver", "Name", "Isolation"]

    def shape(depth: int):
        if depth == 0 or rng.random() < 0.3:
            return rng.choice(leaves)
        if rng.random() < 0.3:
            return [shape(depth - 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(keys): shape(depth - 1) for _ in range(rng.randint(0, 5))}

    verdicts = 0
    for _ in range(3000):
        doc = shape(4)
        if not isinstance(doc, dict):
            continue
        try:
            assert isinstance(violations(doc, RULES), frozenset)
            verdicts += 1
        except (AttributeError, TypeError, ValueError):
            pass
    assert verdicts > 100


@pytest.mark.parametrize(("path", "needed"), [
    ("/_ping", False),
    ("/v1.41/_ping", False),
    ("/v1.44/_ping", False),
    ("/v1.41/_ping/x", True),
    ("/v1.41/x/_ping", True),
    ("/_pingx", True),
    ("/v1/_ping", True),
    ("/v1.41/version", True),
    ("/v1.41/services", True),
    ("/", True),
])
def test_every_call_but_ping_needs_the_token(path, needed):
    assert needs_token(path) is needed


# -- /system/logs and /system/secrets ------------------------------------------

@pytest.mark.parametrize(("query_string", "ok"), [
    ("", True),
    ("stdout=1&stderr=1&timestamps=1&details=1&follow=1&tail=all", True),
    ("stdout=1&since=1733500000.5&tail=10", True),
    ("stdout=1&until=5", False),           # a parameter /system/logs never sends
    ("stdout=1&filters=%7B%7D", False),
    ("tail=1&x", False),
])
def test_logs_query(query_string, ok):
    why = refuse_logs_query(query_string)
    assert (why is None) is ok
    if not ok:
        assert "logs" in why


PREFIX = "swarmfaas-fn-"
LABEL = {"swarmfaas.secret": "true"}


@pytest.mark.parametrize(("spec", "ok"), [
    ({"Name": PREFIX + "api-key", "Labels": LABEL, "Data": "eA=="}, True),
    ({"Name": "api-key", "Labels": LABEL, "Data": "eA=="}, False),           # no prefix
    ({"Name": PREFIX, "Labels": LABEL, "Data": "eA=="}, False),               # prefix only
    ({"Name": "faas_basic-auth-password", "Labels": LABEL}, False),
    ({"Name": PREFIX + "k", "Data": "eA=="}, False),                          # no label
    ({"Name": PREFIX + "k", "Labels": {**LABEL, "x": "y"}, "Data": "eA=="}, False),
    ({"Name": PREFIX + "k", "Labels": {"swarmfaas.secret": "false"}}, False),
    ({"Name": PREFIX + "k", "Labels": LABEL, "Driver": {"Name": "vault"}}, False),
    ({"Name": PREFIX + "k", "Labels": LABEL, "Templating": {"Name": "golang"}}, False),
    ({"Name": 5, "Labels": LABEL}, False),
])
def test_secret_create(spec, ok):
    why = refuse_secret_create(spec, PREFIX)
    assert (why is None) is ok, why


@pytest.mark.parametrize(("secret", "ok"), [
    ({"ID": "s1", "Spec": {"Name": PREFIX + "api-key", "Labels": LABEL}}, True),
    ({"ID": "s1", "Spec": {"Name": PREFIX + "api-key"}}, False),
    ({"ID": "s1", "Spec": {"Name": "faas_engine-gate-token", "Labels": LABEL}}, False),
    ({"ID": "s1", "Spec": {"Name": "other-api-key", "Labels": LABEL}}, False),
    ({"ID": "s1"}, False),
])
def test_secret_remove(secret, ok):
    assert (refuse_secret_remove(secret, PREFIX) is None) is ok


@pytest.mark.parametrize("kind", [Kind.FUNCTION_LOGS, Kind.SECRET_CREATE, Kind.SECRET_REMOVE])
def test_the_scaler_may_not_read_logs_or_touch_secrets(kind):
    assert refuse_for_scaler(kind) is not None


@pytest.mark.parametrize(("secret", "prefix", "ok"), [
    ("fn-key", None, True),                    # the allowlist
    ("swarmfaas-fn-api-key", None, False),
    ("swarmfaas-fn-api-key", "swarmfaas-fn-", True),  # a platform secret
    ("faas_basic-auth-password", "swarmfaas-fn-", False),
])
def test_a_function_may_get_allowlisted_and_platform_secrets(secret, prefix, ok):
    rules = SpecRules(networks=RULES.networks, image_allowlist=RULES.image_allowlist,
                      secret_allowlist=RULES.secret_allowlist, secret_prefix=prefix)
    spec = {"Labels": {"swarmfaas.function": "true"}, "TaskTemplate": {"ContainerSpec": {
        "Image": "swarmfaas/fn:1", "Secrets": [{"SecretName": secret, "SecretID": "x"}]}}}
    assert (not violations(spec, rules)) is ok
