"""/system/logs, /system/secrets and /system/functions on the real swarm, through
the real engine gate (with its token, as deployed): the routes, the gate's
narrow rules for them, and that a secret's value is never echoed or logged.
Everything it creates is named sys-*/sysl-* and removed after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import subprocess
import time
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest
from docker.types import EndpointSpec, NetworkAttachmentConfig, ServiceMode
from sidecar_swarm import engine_gate, overlay_networks, swarm_client_or_skip
from sys_harness import GOOD_AUTH, assert_matches_openapi, serving

from faas_sidecar.app import AppConfig, create_app
from faas_sidecar.config import load_config
from faas_sidecar.system import SystemApiConfig
from faas_sidecar.system.routes import load_openapi

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NETWORK = "sysl-functions"
OTHER_NETWORK = "sysl-elsewhere"   # another stack's functions network
IMAGE = "debian:bookworm-slim"
API_IMAGE = "sysl/idle:test"  # the same image, under a name the allowlists let through
GATE_PORT = 18292
TOKEN = "sysl-token-0123456789abcdef"
SCALER_TOKEN = "sysl-scaler-0123456789abcdef"
SECRET_PREFIX = "sysl-secret-"
VALUE = "sysl-v4lue-that-must-never-show-5f1c"
OPENAPI = load_openapi()
# Prints a numbered line every 0.2 s, and exits on SIGTERM.
TALKER = ["sh", "-c", "trap 'exit 0' TERM; echo start; i=0; "
          "while true; do i=$((i+1)); echo line $i; sleep 0.2; done"]


def remove_ours(dc: docker.DockerClient) -> None:
    for service in dc.services.list():
        if service.name.startswith("sysl-"):
            service.remove()
    time.sleep(0.5)
    for secret in dc.secrets.list():
        if secret.name.startswith("sysl-"):
            # still referenced by a service being removed: the next run clears it
            with contextlib.suppress(docker.errors.APIError):
                secret.remove()


@pytest.fixture(scope="module")
def swarm():
    dc = swarm_client_or_skip()
    remove_ours(dc)
    dc.images.get(IMAGE).tag(API_IMAGE)
    networks = overlay_networks(dc, (NETWORK, OTHER_NETWORK))
    next(networks)
    yield dc
    remove_ours(dc)
    next(networks, None)
    with contextlib.suppress(docker.errors.APIError):
        dc.images.remove(API_IMAGE)  # the tag only
    dc.close()


@pytest.fixture
def gate(swarm, tmp_path):
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "scaler-token").write_text(SCALER_TOKEN)
    log_path = tmp_path / "gate.log"
    env = {"SYSTEM_SECRET_PREFIX": SECRET_PREFIX, "LOG_LEVEL": "DEBUG",
           "ENGINE_GATE_SCALER_TOKEN_FILE": str(tmp_path / "scaler-token")}
    with engine_gate(GATE_PORT, NETWORK, images="sysl/*", token=TOKEN, env=env,
                     log_path=log_path) as url:
        yield {"url": url, "token_file": str(tmp_path / "token"), "log": log_path}


def make_app(secret_files, gate):
    env = {"FUNCTIONS_NETWORK": NETWORK, "SYSTEM_IMAGE_ALLOWLIST": "sysl/*",
           "SYSTEM_SECRET_PREFIX": SECRET_PREFIX, "RELIST_INTERVAL": "1",
           "DOCKER_HOST": gate["url"], "ENGINE_GATE_TOKEN_FILE": gate["token_file"],
           **secret_files}
    config = AppConfig(sidecar=load_config(env), system=SystemApiConfig.from_env(env))
    return create_app(config, name="sysl_swarm_it")


def function_service(dc, name: str, network: str, *, function: str, secrets=()):
    return dc.services.create(
        IMAGE, command=TALKER, name=name,
        labels={"swarmfaas.function": "true", "swarmfaas.name": function},
        networks=[NetworkAttachmentConfig(network)], secrets=list(secrets),
        mode=ServiceMode("replicated", replicas=1), endpoint_spec=EndpointSpec(mode="dnsrr"))


def gate_connections(port: int) -> int:
    """Open sockets of the gate process (the listener, its docker-py pool, and
    each proxied exchange: the client's connection and the one to the Engine)."""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True,
                         text=True, check=True).stdout
    pid = re.search(r"pid=(\d+)", out).group(1)
    return sum(1 for fd in os.listdir(f"/proc/{pid}/fd")
               if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"))


async def eventually(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        assert time.monotonic() < deadline, f"not reached within {timeout} s"
        await asyncio.sleep(0.3)
    return result


async def test_logs_and_own_functions_through_the_gate(swarm, secret_files, gate):
    ours = function_service(swarm, "sysl-talker", NETWORK, function="sysl-talker")
    # Another stack's function of the same name, on its own functions network.
    function_service(swarm, "sysl-other_talker", OTHER_NETWORK, function="sysl-talker")
    app = make_app(secret_files, gate)
    async with serving(app) as http:
        # Only this platform's function is listed and found: no 409 for the shared name.
        listed = await http.get("/system/functions", headers=GOOD_AUTH)
        assert [f["name"] for f in listed.json()] == ["sysl-talker"]
        found = await http.get("/system/function/sysl-talker", headers=GOOD_AUTH)
        assert found.status_code == 200, found.text

        async def some_lines():
            response = await http.get("/system/logs?name=sysl-talker&tail=3",
                                      headers=GOOD_AUTH)
            assert response.status_code == 200, response.text
            lines = response.text.splitlines()
            return lines if len(lines) == 3 else None

        lines = [json.loads(line) for line in await eventually(some_lines)]
        task_ids = {t["ID"] for t in ours.tasks()}
        for entry in lines:
            assert entry["name"] == "sysl-talker" and entry["namespace"] == "swarmfaas-fn"
            assert entry["instance"] in task_ids
            assert re.fullmatch(r"(start|line \d+)", entry["text"]), entry
            assert entry["timestamp"].startswith("20")
        unknown = await http.get("/system/logs?name=sysl-nope", headers=GOOD_AUTH)
        assert unknown.status_code == 404
        assert_matches_openapi(OPENAPI, "/system/logs", "GET", unknown)

        # follow: new lines arrive while the client reads; when it leaves, the
        # gate's connections for it (client side and Engine side) close.
        before = gate_connections(GATE_PORT)
        texts: list[str] = []
        async with http.stream("GET", "/system/logs?name=sysl-talker&follow=true&tail=1",
                               headers=GOOD_AUTH) as stream:
            assert stream.headers["content-type"] == "application/x-ndjson"
            async for line in stream.aiter_lines():
                texts.append(json.loads(line)["text"])
                if len(texts) == 6:
                    break
            during = gate_connections(GATE_PORT)
        numbers = [int(t.split()[1]) for t in texts if t.startswith("line ")]
        assert len(numbers) >= 5 and numbers == sorted(numbers)  # live, in order
        assert during >= before + 2
        deadline = time.monotonic() + 10
        while gate_connections(GATE_PORT) > before and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert gate_connections(GATE_PORT) <= before, "the follow stream leaked"

    # The gate's rule: a function's service logs with the sidecar's token; not
    # with the scaler's, not of another service, not with other parameters.
    plain = swarm.services.create(IMAGE, command=TALKER, name="sysl-plain",
                                  mode=ServiceMode("replicated", replicas=0))
    base = f"http://127.0.0.1:{GATE_PORT}/v1.41/services"
    sidecar, scaler = ({"Authorization": f"Bearer {t}"} for t in (TOKEN, SCALER_TOKEN))
    with httpx.Client(timeout=10) as client:
        ok = client.get(f"{base}/{ours.id}/logs", params={"stdout": 1, "tail": 1},
                        headers=sidecar)
        assert ok.status_code == 200
        for url, headers in ((f"{base}/{ours.id}/logs?stdout=1", scaler),
                             (f"{base}/{ours.id}/logs?stdout=1", {}),
                             (f"{base}/{plain.id}/logs?stdout=1", sidecar),
                             (f"{base}/{ours.id}/logs?stdout=1&until=9", sidecar)):
            refused = client.get(url, headers=headers)
            assert refused.status_code in (401, 403), (url, refused.text)
            assert refused.headers["x-swarmfaas-internal"] == "engine-gate"


async def test_secrets_through_the_gate_never_show_their_value(swarm, secret_files, gate,
                                                              caplog):
    caplog.set_level(logging.DEBUG)
    outsider = swarm.secrets.create(name="sysl-outsider", data=b"not the platform's",
                                    labels={"swarmfaas.secret": "true"})
    app = make_app(secret_files, gate)
    seen: list[str] = []
    async with serving(app) as http:

        async def call(method, body=None, status=None):
            response = await http.request(method, "/system/secrets", json=body,
                                          headers=GOOD_AUTH)
            seen.append(response.text)
            assert_matches_openapi(OPENAPI, "/system/secrets", method, response)
            if status is not None:
                assert response.status_code == status, (method, body, response.text)
            return response

        await call("POST", {"name": "api-key", "value": VALUE}, 201)
        await call("POST", {"name": "api-key", "value": VALUE}, 409)
        listed = await call("GET", status=200)
        assert listed.json() == [{"name": "api-key", "namespace": "swarmfaas-fn"}]
        docker_secret = swarm.secrets.get(SECRET_PREFIX + "api-key")
        assert docker_secret.attrs["Spec"]["Labels"] == {"swarmfaas.secret": "true"}
        # PUT replaces an unused secret (a new Docker secret, the same name)
        await call("PUT", {"name": "api-key", "value": VALUE + "-2"}, 200)
        replaced = swarm.secrets.get(SECRET_PREFIX + "api-key")
        assert replaced.id != docker_secret.id
        # A function deployed through the API gets it by its API name, without
        # SYSTEM_SECRET_ALLOWLIST, at /run/secrets/api-key.
        deployed = await http.post("/system/functions", headers=GOOD_AUTH, json={
            "service": "sysl-user", "image": API_IMAGE, "secrets": ["api-key"]})
        assert deployed.status_code == 202, deployed.text
        user = swarm.services.get("sysl-user")
        (ref,) = user.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
        assert (ref["SecretID"], ref["SecretName"], ref["File"]["Name"]) == (
            replaced.id, SECRET_PREFIX + "api-key", "api-key")
        # ... and PUT and DELETE refuse a secret a function uses
        in_use = await call("PUT", {"name": "api-key", "value": VALUE}, 409)
        assert in_use.json()["error"] == "secret_in_use"
        assert (await call("DELETE", {"name": "api-key"}, 409)).json()["error"] == (
            "secret_in_use")
        user.remove()

        async def removed():
            response = await call("DELETE", {"name": "api-key"})
            return response.status_code == 204
        await eventually(removed, timeout=30)
        await call("DELETE", {"name": "api-key"}, 404)
        # A secret without the prefix is invisible and untouchable, label or not.
        await call("DELETE", {"name": "outsider"}, 404)
        assert (await call("GET", status=200)).json() == []
    outsider.reload()  # still there

    # The gate's own rules, whatever the caller sends.
    sidecar = {"Authorization": f"Bearer {TOKEN}"}
    scaler = {"Authorization": f"Bearer {SCALER_TOKEN}"}
    base = f"http://127.0.0.1:{GATE_PORT}/v1.41/secrets"
    with httpx.Client(timeout=10) as client:
        for spec, headers in (
            ({"Name": "sysl-unprefixed", "Labels": {"swarmfaas.secret": "true"},
              "Data": "eA=="}, sidecar),
            ({"Name": SECRET_PREFIX + "x", "Data": "eA=="}, sidecar),
            ({"Name": SECRET_PREFIX + "x", "Labels": {"swarmfaas.secret": "true"},
              "Data": "eA=="}, scaler),
        ):
            refused = client.post(f"{base}/create", json=spec, headers=headers)
            assert refused.status_code == 403, refused.text
        assert client.delete(f"{base}/{outsider.id}", headers=sidecar).status_code == 403
        assert not [s for s in swarm.secrets.list() if s.name == "sysl-unprefixed"]
    outsider.remove()

    for text in seen:
        assert VALUE not in text
    assert VALUE not in caplog.text
    gate_log = Path(gate["log"]).read_text()
    assert "POST" in gate_log or "refused" in gate_log  # the gate did log, at DEBUG
    assert VALUE not in gate_log
