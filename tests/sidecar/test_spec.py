"""Parsing services and tasks into the routing table (pure, table-driven)."""

from __future__ import annotations

import pytest

from faas_sidecar.spec import (
    InvalidFunction,
    build_table,
    function_name,
    parse_service,
    parse_task,
    read_task,
    services_without_ready,
    task_address,
    task_failure,
    task_is_ready,
    task_is_settling,
)

NET = "faas_functions"
NET_ID = "netid123"


def service(name="echo", labels=None, sid="s1", replicas=1, created="2026-01-01T00:00:00Z",
            image="swarmfaas/fn-echo:1@sha256:abc", mode="replicated"):
    lab = {"swarmfaas.function": "true"} if labels is None else labels
    spec_mode = {"Replicated": {"Replicas": replicas}} if mode == "replicated" else {"Global": {}}
    return {"ID": sid, "CreatedAt": created,
            "Spec": {"Name": name, "Labels": lab, "Mode": spec_mode,
                     "TaskTemplate": {"ContainerSpec": {"Image": image}}}}


def task(tid="t1", sid="s1", state="running", desired="running", addr="10.0.1.5/24",
         net=NET, node="n1", err=None, at="2026-01-01T00:00:00.1Z", message=""):
    attachments = [] if addr is None else [
        {"Network": {"ID": "ingressid", "Spec": {"Name": "ingress"}},
         "Addresses": ["10.255.0.9/16"]},
        {"Network": {"ID": NET_ID, "Spec": {"Name": net}}, "Addresses": [addr]},
    ]
    return {"ID": tid, "ServiceID": sid, "NodeID": node, "DesiredState": desired,
            "Status": {"State": state, "Timestamp": at, "Message": message,
                       **({"Err": err} if err is not None else {})},
            "NetworksAttachments": attachments}


@pytest.mark.parametrize(
    ("service_name", "labels", "expected"),
    [
        ("hello", {}, "hello"),
        ("faas_echo", {"com.docker.stack.namespace": "faas"}, "echo"),
        ("faas_echo", {"com.docker.stack.namespace": "other"}, "faas_echo"),
        ("faas_echo", {"com.docker.stack.namespace": "faas", "swarmfaas.name": "e2"}, "e2"),
        ("x", {"swarmfaas.name": "named"}, "named"),
    ],
)
def test_function_name(service_name, labels, expected):
    assert function_name(service_name, labels) == expected


@pytest.mark.parametrize(
    ("labels", "field", "expected"),
    [
        ({}, "port", 8080),
        ({"swarmfaas.port": "9000"}, "port", 9000),
        ({}, "timeout", 60.0),
        ({"swarmfaas.timeout": "2.5"}, "timeout", 2.5),
        ({}, "image", "swarmfaas/fn-echo:1"),
        ({}, "desired_replicas", 1),
        ({}, "scales_to_zero", False),
        ({"swarmfaas.scale.zero": "true"}, "scales_to_zero", True),
        ({"com.openfaas.scale.zero": "true"}, "scales_to_zero", True),  # OpenFaaS's name
        ({"swarmfaas.scale.zero": "false", "com.openfaas.scale.zero": "true"},
         "scales_to_zero", False),  # ours wins
        ({"swarmfaas.scale.zero": "maybe"}, "scales_to_zero", False),  # the scaler reports it
        ({}, "measures_cpu", False),
        ({"swarmfaas.scale.type": "cpu"}, "measures_cpu", True),
        ({"swarmfaas.scale.type": "CPU"}, "measures_cpu", True),
        ({"com.openfaas.scale.type": "cpu"}, "measures_cpu", True),  # OpenFaaS's name
        ({"swarmfaas.scale.type": "rps", "com.openfaas.scale.type": "cpu"},
         "measures_cpu", False),  # ours wins
        ({"swarmfaas.scale.type": "inflight"}, "measures_cpu", False),
    ],
)
def test_parse_service_fields(labels, field, expected):
    spec = parse_service(service(labels={"swarmfaas.function": "true", **labels}))
    assert getattr(spec, field) == expected


def test_parse_service_global_mode_has_no_desired_count():
    assert parse_service(service(mode="global")).desired_replicas is None


@pytest.mark.parametrize(
    ("name", "labels", "message"),
    [
        ("echo", {"swarmfaas.function": "yes"}, "not labelled"),
        ("echo", {}, "not labelled"),
        ("Echo", {"swarmfaas.function": "true"}, "does not match"),
        ("echo", {"swarmfaas.function": "true", "swarmfaas.name": "-bad"}, "does not match"),
        ("e" * 64, {"swarmfaas.function": "true"}, "does not match"),
        ("echo", {"swarmfaas.function": "true", "swarmfaas.port": "0"}, "swarmfaas.port"),
        ("echo", {"swarmfaas.function": "true", "swarmfaas.port": "http"}, "swarmfaas.port"),
        ("echo", {"swarmfaas.function": "true", "swarmfaas.port": "70000"}, "swarmfaas.port"),
        ("echo", {"swarmfaas.function": "true", "swarmfaas.timeout": "-1"}, "swarmfaas.timeout"),
        ("echo", {"swarmfaas.function": "true", "swarmfaas.timeout": "nan"}, "swarmfaas.timeout"),
        ("echo", {"swarmfaas.function": "true", "swarmfaas.timeout": "soon"},
         "swarmfaas.timeout"),
    ],
)
def test_parse_service_rejects(name, labels, message):
    with pytest.raises(InvalidFunction, match=message):
        parse_service(service(name=name, labels=labels))


@pytest.mark.parametrize(
    ("kwargs", "ready", "settling"),
    [
        ({}, True, False),
        ({"state": "starting"}, False, True),  # healthcheck not passed yet
        ({"state": "preparing"}, False, True),
        ({"state": "pending"}, False, True),
        ({"desired": "shutdown"}, False, True),  # being stopped: out before it stops
        ({"desired": "remove"}, False, True),  # scaled away
        ({"desired": "shutdown", "state": "shutdown"}, False, False),
        ({"state": "failed"}, False, False),
        ({"state": "complete"}, False, False),
    ],
)
def test_task_readiness(kwargs, ready, settling):
    t = task(**kwargs)
    assert task_is_ready(t) is ready
    assert task_is_settling(t) is settling


@pytest.mark.parametrize("kwargs", [
    {}, {"state": "starting"}, {"desired": "shutdown"}, {"desired": "remove"},
    {"desired": "shutdown", "state": "shutdown"}, {"state": "failed"},
    {"net": "elsewhere"}, {"net": "elsewhere", "state": "starting"}, {"addr": None},
])
def test_read_task_is_parse_task_and_task_is_settling_in_one(kwargs):
    t = task(**kwargs)
    replica = parse_task(t, NET, 9000)
    assert read_task(t, NET, 9000) == (task_is_settling(t) if replica is None else replica)


@pytest.mark.parametrize(
    ("network", "kwargs", "expected"),
    [
        (NET, {}, "10.0.1.5"),
        (NET_ID, {}, "10.0.1.5"),
        ("other", {}, None),
        (NET, {"addr": None}, None),
        (NET, {"addr": "fd00::5/64"}, "fd00::5"),
    ],
)
def test_task_address(network, kwargs, expected):
    assert task_address(task(**kwargs), network) == expected


def test_parse_task_skips_unready_and_off_network():
    assert parse_task(task(state="starting"), NET, 8080) is None
    assert parse_task(task(net="elsewhere"), NET, 8080) is None
    replica = parse_task(task(), NET, 9000)
    assert (replica.address, replica.port, replica.task_id, replica.node_id) == (
        "10.0.1.5", 9000, "t1", "n1")


def test_build_table_whole_snapshot():
    services = [
        service("echo", sid="s1", replicas=3),
        service("plain", labels={}, sid="s2"),  # not a function: never routable
        service("bad", labels={"swarmfaas.function": "true", "swarmfaas.port": "x"}, sid="s3"),
        service("idle", sid="s4", replicas=0),
    ]
    tasks = [
        task("t2", "s1", addr="10.0.1.7/24"),
        task("t1", "s1", addr="10.0.1.6/24"),
        task("t3", "s1", state="starting", addr="10.0.1.8/24"),
        task("t4", "s2", addr="10.0.1.9/24"),
        task("t5", "s3", addr="10.0.1.10/24"),
    ]
    result = build_table(services, tasks, NET, generation=7, built_at=123.0)
    table = result.table
    assert sorted(table.functions) == ["echo", "idle"]
    assert [r.address for r in table.get("echo").replicas] == ["10.0.1.6", "10.0.1.7"]
    assert table.get("idle").replicas == ()
    assert "plain" not in table.functions and "plain" not in table.invalid
    assert "swarmfaas.port" in table.invalid["bad"]
    assert table.generation == 7 and table.built_at == 123.0
    assert result.settling is True


def test_build_table_oldest_service_keeps_a_contested_name():
    old = service("a_echo", labels={"swarmfaas.function": "true", "swarmfaas.name": "echo"},
                  sid="old", created="2026-01-01T00:00:00Z")
    new = service("b_echo", labels={"swarmfaas.function": "true", "swarmfaas.name": "echo"},
                  sid="new", created="2026-02-01T00:00:00Z")
    table = build_table([new, old], [task("t1", "old"), task("t2", "new", addr="10.0.1.9/24")],
                        NET, generation=1, built_at=0).table
    assert table.get("echo").service_id == "old"
    assert [r.task_id for r in table.get("echo").replicas] == ["t1"]
    assert "already used" in table.invalid["b_echo"]


def test_build_table_is_immutable():
    table = build_table([service()], [task()], NET, generation=1, built_at=0).table
    with pytest.raises(TypeError):
        table.functions["x"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        table.generation = 2  # type: ignore[misc]


def test_build_table_not_settling_when_stable():
    assert build_table([service()], [task()], NET, generation=1, built_at=0).settling is False


def _on(svc, *targets):
    svc["Spec"]["TaskTemplate"]["Networks"] = [{"Target": t} for t in targets]
    return svc


@pytest.mark.parametrize(
    ("targets", "included"),
    [((NET_ID,), True), ((NET,), True), (("other", NET_ID), True), (("other",), False),
     ((), False)],
)
def test_build_table_only_services_on_the_functions_network(targets, included):
    svc = _on(service("echo"), *targets)
    table = build_table([svc], [task()], NET, network_id=NET_ID, generation=1,
                        built_at=0).table
    assert ("echo" in table.functions) is included
    assert "echo" not in table.invalid  # another sidecar's function: not ours to report


def test_build_table_other_stacks_do_not_contest_names():
    ours = _on(service("a_echo", labels={"swarmfaas.function": "true", "swarmfaas.name": "echo"},
                       sid="ours", created="2026-02-01T00:00:00Z"), NET_ID)
    theirs = _on(service("b_echo", labels={"swarmfaas.function": "true",
                                            "swarmfaas.name": "echo"},
                         sid="theirs", created="2026-01-01T00:00:00Z"), "elsewhere")
    table = build_table([theirs, ours], [task("t1", "ours")], NET, network_id=NET_ID,
                        generation=1, built_at=0).table
    assert table.get("echo").service_id == "ours" and not table.invalid


def _with_env(svc, env):
    svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] = env
    return svc


@pytest.mark.parametrize(("env", "labels", "limit", "length"), [
    (None, {}, None, None),                        # no max_inflight: never queues
    (["max_inflight=4"], {}, 4, 100),
    (["max_inflight=2"], {"swarmfaas.queue.length": "3"}, 2, 3),
    (["max_inflight=0"], {"swarmfaas.queue.length": "3"}, None, None),
])
def test_parse_service_reads_the_watchdogs_max_inflight(env, labels, limit, length):
    svc = _with_env(service(labels={"swarmfaas.function": "true", **labels}), env)
    got = build_table([svc], [task()], NET, generation=1, built_at=0.0).table.get("echo")
    assert got.replicas  # the queue survives the table's build with replicas
    if limit is None:
        assert got.queue is None
    else:
        assert (got.queue.max_inflight, got.queue.length) == (limit, length)


@pytest.mark.parametrize(("env", "labels", "message"), [
    (["max_inflight=lots"], {}, "max_inflight"),
    (["max_inflight=1"], {"swarmfaas.queue.wait": "-2"}, "swarmfaas.queue.wait"),
])
def test_parse_service_rejects_a_bad_queue_setting(env, labels, message):
    with pytest.raises(InvalidFunction, match=message):
        parse_service(_with_env(service(labels={"swarmfaas.function": "true", **labels}), env))


@pytest.mark.parametrize(("kwargs", "want"), [
    ({}, None),
    ({"state": "shutdown", "desired": "shutdown"}, None),       # stopped on purpose
    ({"state": "complete", "desired": "shutdown"}, None),
    ({"state": "rejected", "err": "No such image: nope:1", "message": "preparing"},
     "task rejected: No such image: nope:1"),
    ({"state": "failed", "err": "task: non-zero exit (3)", "message": "started"},
     "task failed: task: non-zero exit (3)"),
    ({"state": "failed", "message": "started"}, "task failed: started"),
    ({"state": "failed"}, "task failed: no detail"),
    ({"state": "preparing", "err": "starting container failed: oci"},
     "task preparing: starting container failed: oci"),
])
def test_task_failure(kwargs, want):
    got = task_failure(task(**kwargs))
    assert (got[1] if got else None) == want


@pytest.mark.parametrize(("replicas", "mode", "tasks", "want"), [
    (1, "replicated", [task()], []),
    (1, "replicated", [], ["s1"]),
    (1, "replicated", [task(state="starting")], ["s1"]),
    (0, "replicated", [], []),                      # at 0 on purpose: nothing to explain
    (1, "global", [], ["s1"]),
    (2, "replicated", [task(sid="other")], ["s1"]),
])
def test_services_without_ready(replicas, mode, tasks, want):
    assert services_without_ready([service(replicas=replicas, mode=mode)], tasks) == want


def test_the_newest_task_error_of_a_function_with_no_ready_replica_is_in_its_spec():
    failed = [task("t1", state="rejected", desired="shutdown", err="No such image: old",
                   at="2026-01-01T00:00:01.5Z"),
              task("t2", state="rejected", desired="shutdown", err="No such image: new",
                   at="2026-01-01T00:00:03.2Z"),
              task("t3", state="pending", at="2026-01-01T00:00:04Z")]
    got = build_table([service()], failed, NET, generation=1, built_at=0.0).table.get("echo")
    assert got.replicas == () and got.task_error == "task rejected: No such image: new"
    # a ready replica: no error to tell (the 503 cannot happen)
    ready = build_table([service()], [*failed, task("t4")], NET, generation=2, built_at=0.0)
    assert ready.table.get("echo").task_error == ""
