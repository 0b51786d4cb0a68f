"""The system API against the real swarm: the core's app factory, real discovery,
real Docker mutations. Everything it creates is named sys-* and removed after.
"""

from __future__ import annotations

import asyncio
import io
import time

import docker
import docker.errors
import pytest
from sidecar_swarm import engine_gate, swarm_client_or_skip
from sys_harness import (
    GOOD_AUTH,
    PASSWORD,
    USER,
    assert_matches_openapi,
    basic,
    concrete_path,
    registered_system_routes,
    serving,
)

from faas_sidecar.app import AppConfig, create_app
from faas_sidecar.config import load_config
from faas_sidecar.system import SystemApiConfig
from faas_sidecar.system.routes import load_openapi

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NETWORK = "sys-functions"
IMAGE = "swarmfaas/sys-idle:test"
IMAGE2 = "swarmfaas/sys-idle:test2"
PREFIX = "sys-"
OPENAPI = load_openapi()
# An idle HTTP server that exits on SIGTERM (as PID 1 Python would ignore it).
IDLE = ("import signal, sys, http.server as h; "
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
        "h.HTTPServer(('', 8080), h.BaseHTTPRequestHandler).serve_forever()")
DOCKERFILE = f'FROM debian:bookworm-slim\nCMD ["python3", "-c", "{IDLE}"]\n'.encode()


@pytest.fixture(scope="module")
def client():
    dc = swarm_client_or_skip()
    yield dc
    dc.close()


def remove_ours(dc: docker.DockerClient) -> None:
    for service in dc.services.list():
        if service.name.startswith(PREFIX):
            service.remove()


@pytest.fixture(scope="module")
def swarm(client):
    """The sys-functions network and the idle image; leftovers of earlier runs removed."""
    remove_ours(client)
    client.images.build(fileobj=io.BytesIO(DOCKERFILE), tag=IMAGE, rm=True)
    client.images.get(IMAGE).tag(IMAGE2)
    if not client.networks.list(names=[NETWORK]):
        client.networks.create(NETWORK, driver="overlay", attachable=True)
    yield client
    remove_ours(client)
    deadline = time.monotonic() + 30
    # By name, a swarm network is found by list, not always by inspect.
    while (networks := client.networks.list(names=[NETWORK])) and time.monotonic() < deadline:
        try:
            networks[0].remove()
        except docker.errors.APIError:
            time.sleep(0.5)  # tasks still detaching
    for tag in (IMAGE2, IMAGE):
        # Stopping containers may still use it for a few seconds.
        while time.monotonic() < deadline + 30:
            try:
                client.images.remove(tag)
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                time.sleep(0.5)


@pytest.fixture(params=["socket", "engine gate"])
def engine_url(request, swarm, tmp_path):
    """The sidecar talks to the Engine's socket, or through the engine gate as in
    stack.yml (same allowlist, and the sidecar's token); both must behave the same."""
    if request.param == "socket":
        yield {}
        return
    token = "sys-token-0123456789abcdef"
    (tmp_path / "engine-gate-token").write_text(token)
    with engine_gate(18291, NETWORK, images="swarmfaas/sys-*", token=token) as url:
        yield {"DOCKER_HOST": url,
               "ENGINE_GATE_TOKEN_FILE": str(tmp_path / "engine-gate-token")}


def make_app(secret_files, **extra):
    env = {
        "FUNCTIONS_NETWORK": NETWORK,
        "SYSTEM_SERVICE_PREFIX": PREFIX,
        "SYSTEM_IMAGE_ALLOWLIST": "swarmfaas/sys-*",
        "SYSTEM_MAX_REPLICAS": "3",
        "RELIST_INTERVAL": "1",
        **secret_files,
        **extra,
    }
    config = AppConfig(sidecar=load_config(env), system=SystemApiConfig.from_env(env))
    return create_app(config, name="sys_swarm_it")


async def eventually(check, timeout=60.0, interval=0.3):
    """Poll ``check`` (async, returns truthy when done) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {check.__name__}")
        await asyncio.sleep(interval)


async def test_every_system_route_needs_credentials_on_the_real_app(swarm, secret_files):
    app = make_app(secret_files)
    async with serving(app) as http:
        routes = registered_system_routes(app)
        assert {p for p, _ in routes} >= {"/system/functions", "/system/function/{name}",
                                          "/system/scale-function/{name}", "/system/info"}
        for headers in ({}, basic(USER, "nope"), basic("", "")):
            for path, method in sorted(routes):
                response = await http.request(method, concrete_path(path), headers=headers,
                                              content=b"{}")
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["www-authenticate"] == 'Basic realm="swarmfaas"'
                assert response.json()["component"] == "sidecar"
        # /healthz and /metrics stay public, /system/* is not on the metrics page
        assert (await http.get("/healthz")).status_code in (200, 503)
        metrics = (await http.get("/metrics")).text
        assert f"swarmfaas_system_auth_failures_total {3 * len(routes)}.0" in metrics
        assert PASSWORD not in metrics


async def test_deploy_list_scale_update_delete_on_the_real_swarm(swarm, secret_files,
                                                                 engine_url):
    app = make_app(secret_files, **engine_url)
    name = "sys-it-hello"
    service_name = PREFIX + name
    async with serving(app) as http:

        async def status():
            response = await http.get(f"/system/function/{name}", headers=GOOD_AUTH)
            assert_matches_openapi(OPENAPI, "/system/function/{name}", "GET", response)
            return response.json() if response.status_code == 200 else None

        deployment = {
            "service": name, "image": IMAGE, "envProcess": "cat",
            "envVars": {"MODE": "test"}, "labels": {"swarmfaas.timeout": "5", "team": "sys"},
            "annotations": {"owner": "system-api-test"},
            "limits": {"memory": "64M", "cpu": "0.25"},
        }
        response = await http.post("/system/functions", json=deployment, headers=GOOD_AUTH)
        assert response.status_code == 202, response.text
        assert_matches_openapi(OPENAPI, "/system/functions", "POST", response)

        spec = swarm.services.get(service_name).attrs["Spec"]
        assert spec["Labels"]["swarmfaas.function"] == "true"
        assert spec["Labels"]["swarmfaas.name"] == name
        assert spec["EndpointSpec"]["Mode"] == "dnsrr"
        assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
        network_id = swarm.networks.get(NETWORK).id
        assert [n["Target"] for n in spec["TaskTemplate"]["Networks"]] == [network_id]
        container = spec["TaskTemplate"]["ContainerSpec"]
        assert sorted(container["Env"]) == ["MODE=test", "fprocess=cat",
                                            "healthcheck_interval=1s"]
        # the image's own check (none here), run every 2 s (SYSTEM_HEALTH_INTERVAL)
        assert container["Healthcheck"] == {"Interval": 2_000_000_000}
        assert spec["TaskTemplate"]["Resources"]["Limits"] == {
            "MemoryBytes": 64 * 2**20, "NanoCPUs": 250_000_000, "Pids": 512}
        assert spec["TaskTemplate"]["LogDriver"] == {
            "Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}}
        # Contained by default, as stack.yml's functions are: a read-only root
        # (the request did not ask for a writable one), a process limit, no
        # capabilities, a tmpfs at /tmp.
        assert container["ReadOnly"] is True
        assert container["CapabilityDrop"] == ["ALL"]
        assert [(m["Type"], m["Target"]) for m in container["Mounts"]] == [("tmpfs", "/tmp")]

        # The same name again is a conflict, not a second service.
        again = await http.post("/system/functions", json=deployment, headers=GOOD_AUTH)
        assert again.status_code == 409 and again.json()["error"] == "function_exists"

        async def ready_one():
            s = await status()
            return s if s and s["availableReplicas"] == 1 else None

        shown = await eventually(ready_one)  # real discovery put the task in the table
        assert shown["image"] == IMAGE and shown["envProcess"] == "cat"
        assert shown["labels"]["team"] == "sys" and shown["annotations"] == {
            "owner": "system-api-test"}
        assert shown["limits"] == {"memory": str(64 * 2**20), "cpu": "0.25"}
        assert "MODE" not in str(shown)  # env values are not exposed

        listed = await http.get("/system/functions", headers=GOOD_AUTH)
        assert_matches_openapi(OPENAPI, "/system/functions", "GET", listed)
        assert name in [f["name"] for f in listed.json()]
        assert all(not f["name"].startswith("sys-plain") for f in listed.json())

        # scale 1 -> 2
        response = await http.post(f"/system/scale-function/{name}", headers=GOOD_AUTH,
                                   json={"serviceName": name, "replicas": 2})
        assert response.status_code == 202, response.text
        assert replicas(swarm, service_name) == 2

        async def ready_two():
            s = await status()
            return s if s and s["replicas"] == 2 and s["availableReplicas"] == 2 else None

        await eventually(ready_two)
        over = await http.post(f"/system/scale-function/{name}", headers=GOOD_AUTH,
                               json={"replicas": 4})
        assert over.status_code == 400 and replicas(swarm, service_name) == 2

        # update: new image tag, new process, labels replaced, scale kept
        updated = {"service": name, "image": IMAGE2, "envProcess": "cat -n",
                   "labels": {"team": "sys2"}}
        response = await http.put("/system/functions", json=updated, headers=GOOD_AUTH)
        assert response.status_code == 202, response.text
        assert_matches_openapi(OPENAPI, "/system/functions", "PUT", response)
        spec = swarm.services.get(service_name).attrs["Spec"]
        assert spec["TaskTemplate"]["ContainerSpec"]["Image"].startswith(IMAGE2)
        assert spec["TaskTemplate"]["ContainerSpec"]["Env"] == [
            "fprocess=cat -n", "healthcheck_interval=1s"]
        assert spec["Labels"] == {"team": "sys2", "swarmfaas.function": "true",
                                  "swarmfaas.name": name}
        assert spec["Mode"] == {"Replicated": {"Replicas": 2}}
        assert spec["EndpointSpec"]["Mode"] == "dnsrr"
        # not sent, so the containment defaults again
        assert spec["TaskTemplate"]["Resources"]["Limits"] == {
            "MemoryBytes": 512 * 2**20, "NanoCPUs": 10**9, "Pids": 512}
        shown = await status()
        assert shown["image"] == IMAGE2 and shown["envProcess"] == "cat -n"

        # an image outside the allowlist is refused, and nothing is created
        refused = await http.post("/system/functions", headers=GOOD_AUTH,
                                  json={"service": "sys-it-evil", "image": "debian:bookworm-slim"})
        assert refused.status_code == 403 and refused.json()["error"] == "image_not_allowed"
        assert "allowlist" in refused.json()["reason"]
        assert not swarm.services.list(filters={"name": PREFIX + "sys-it-evil"})
        refused = await http.put("/system/functions", headers=GOOD_AUTH,
                                 json={"service": name, "image": "debian:bookworm-slim"})
        assert refused.status_code == 403
        assert swarm.services.get(service_name).attrs["Spec"]["TaskTemplate"][
            "ContainerSpec"]["Image"].startswith(IMAGE2)

        # delete
        response = await http.request("DELETE", "/system/functions", headers=GOOD_AUTH,
                                      json={"functionName": name})
        assert response.status_code == 202, response.text
        with pytest.raises(docker.errors.NotFound):
            swarm.services.get(service_name)
        gone = await http.get(f"/system/function/{name}", headers=GOOD_AUTH)
        assert gone.status_code == 404 and gone.json()["error"] == "function_not_found"
        again = await http.request("DELETE", "/system/functions", headers=GOOD_AUTH,
                                   json={"functionName": name})
        assert again.status_code == 404


def replicas(dc: docker.DockerClient, service_name: str) -> int:
    return dc.services.get(service_name).attrs["Spec"]["Mode"]["Replicated"]["Replicas"]


@pytest.mark.parametrize("labels", [{}, {"swarmfaas.function": "false"},
                                    {"swarmfaas.name": "sys-plain"}])
async def test_services_not_labelled_as_functions_are_never_touched(swarm, secret_files,
                                                                     labels, engine_url):
    plain = swarm.services.create(IMAGE, name="sys-plain", labels=labels,
                                  mode=docker.types.ServiceMode("replicated", replicas=0),
                                  endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"))
    try:
        version = plain.attrs["Version"]["Index"]
        app = make_app(secret_files, **engine_url)
        async with serving(app) as http:
            attempts = [
                ("GET", "/system/function/sys-plain", None),
                ("POST", "/system/scale-function/sys-plain", {"replicas": 2}),
                ("PUT", "/system/functions", {"service": "sys-plain", "image": IMAGE2}),
                ("DELETE", "/system/functions", {"functionName": "sys-plain"}),
            ]
            for method, path, body in attempts:
                response = await http.request(method, path, json=body, headers=GOOD_AUTH)
                assert response.status_code == 404, (method, path, response.text)
                assert response.json()["error"] == "function_not_found"
            listed = await http.get("/system/functions", headers=GOOD_AUTH)
            assert "sys-plain" not in [f["name"] for f in listed.json()]
            # Deploying over its name collides in Docker: a conflict, not a takeover.
            response = await http.post("/system/functions", headers=GOOD_AUTH,
                                       json={"service": "plain", "image": IMAGE})
            assert response.status_code == 409, response.text
        plain.reload()
        assert plain.attrs["Version"]["Index"] == version  # never updated
        assert plain.attrs["Spec"]["Labels"] == labels
    finally:
        plain.remove()
