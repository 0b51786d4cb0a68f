"""The /system routes on a real Sanic server, with a fake discovery and Docker adapter.

Pure handler tests: the Docker side is a narrow fake recording calls (the real
swarm is exercised in test_system_api_swarm.py). Every response is checked
against the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from types import MappingProxyType

import pytest
from prometheus_client import CollectorRegistry, Counter
from sanic import Sanic
from sys_harness import (
    GOOD_AUTH,
    PASSWORD,
    USER,
    assert_matches_openapi,
    basic,
    concrete_path,
    fake_discovery,
    registered_system_routes,
    render_platform_errors,
    serving,
)

from faas_sidecar.errors import INTERNAL_HEADER, PlatformError
from faas_sidecar.model import FunctionSpec, Replica, RoutingTable
from faas_sidecar.system import CredentialsError, SystemApiConfig, setup_system_api
from faas_sidecar.system.routes import load_openapi

OPENAPI = load_openapi()

SERVICE = {
    "ID": "svc-echo",
    "CreatedAt": "2026-11-27T00:00:00.5Z",
    "Spec": {
        "Name": "faas_echo",
        "Labels": {"swarmfaas.function": "true", "com.docker.stack.namespace": "faas",
                   "swarmfaas.scale.min": "2", "swarmfaas.scale.max": "5"},
        "Mode": {"Replicated": {"Replicas": 3}},
        "TaskTemplate": {"ContainerSpec": {"Image": "swarmfaas/fn-echo:1",
                                           "Env": ["fprocess=cat"]}},
    },
}
TABLE = RoutingTable(functions=MappingProxyType({
    "echo": FunctionSpec(name="echo", service_id="svc-echo", service_name="faas_echo",
                         image="swarmfaas/fn-echo:1", desired_replicas=3,
                         replicas=(Replica("t1", "10.0.0.2", 8080),
                                   Replica("t2", "10.0.0.3", 8080))),
}))


class FakeAdmin:
    """Stands in for SwarmAdmin: the five calls the handlers make, recorded."""

    def __init__(self, services=(SERVICE,)):
        self.services = list(services)
        self.calls: list[tuple] = []

    async def list_functions(self):
        return self.services

    async def get_function(self, name):
        for service in self.services:
            if service["Spec"]["Name"].split("_")[-1] == name:
                return service
        raise PlatformError(404, "function_not_found", f"no function named {name!r}")

    async def deploy(self, deployment):
        self.calls.append(("deploy", deployment))

    async def update(self, deployment):
        self.calls.append(("update", deployment))

    async def scale(self, name, replicas):
        await self.get_function(name)
        self.calls.append(("scale", name, replicas))

    async def remove(self, name):
        await self.get_function(name)
        self.calls.append(("remove", name))

    def close(self):
        self.calls.append(("close",))

    async def logs(self, name, query):
        await self.get_function(name)
        self.calls.append(("logs", name, query))

        async def frames():
            try:
                async for data in lines():
                    yield data
                while query.follow:  # a quiet follow stream, until the client leaves
                    await asyncio.sleep(0.05)
            finally:
                self.calls.append(("logs closed", name))

        async def lines():
            for text in self.log_lines:
                payload = (f"2026-12-06T23:08:40.5Z com.docker.swarm.node.id=n1,"
                           f"com.docker.swarm.task.id={text[0]} {text[1]}\n").encode()
                # split each frame in two reads: the route must join them
                data = struct.pack(">BxxxI", 1, len(payload)) + payload
                yield data[:5]
                yield data[5:]

        return frames()

    log_lines = [("t1", "hello"), ("t2", "from two"), ("t1", "bye")]
    secrets = {"api-key": b"x"}

    async def list_secrets(self):
        return [{"name": n, "namespace": "swarmfaas-fn"} for n in sorted(self.secrets)]

    async def create_secret(self, name, value):
        if name in self.secrets:
            raise PlatformError(409, "secret_exists", f"a secret named {name!r} exists")
        self.calls.append(("create_secret", name, value))

    async def replace_secret(self, name, value):
        if name not in self.secrets:
            raise PlatformError(404, "no_such_secret", f"no secret named {name!r}")
        self.calls.append(("replace_secret", name, value))

    async def remove_secret(self, name):
        if name not in self.secrets:
            raise PlatformError(404, "no_such_secret", f"no secret named {name!r}")
        self.calls.append(("remove_secret", name))


def make_app(env, *, admin=None, table=TABLE):
    app = Sanic("sys_unit")
    app.ctx.metrics = CollectorRegistry()
    app.ctx.discovery = fake_discovery(table)
    app.ctx.system_admin = app.ctx.fake_admin = admin or FakeAdmin()
    render_platform_errors(app)
    config = SystemApiConfig.from_env({"SYSTEM_IMAGE_ALLOWLIST": "swarmfaas/*", **env})
    setup_system_api(app, config)
    return app


@pytest.fixture
def app(secret_files):
    return make_app(secret_files)


def test_every_registered_system_route_is_documented_and_vice_versa(app):
    app.router.finalize()
    registered = registered_system_routes(app)
    documented = {(p, m) for p, item in OPENAPI["paths"].items() for m in
                  (k.upper() for k in item)}
    assert registered == documented


def assert_unauthorized(response, path, method):
    assert response.status_code == 401, f"{method} {path}: {response.status_code}"
    assert response.headers["www-authenticate"] == 'Basic realm="swarmfaas"'
    assert response.headers[INTERNAL_HEADER] == "sidecar"
    assert response.json()["error"] == "unauthorized"
    assert_matches_openapi(OPENAPI, path, method, response)


@pytest.mark.parametrize("headers", [
    {},
    basic(USER, "wrong"),
    basic("root", PASSWORD),
    basic(USER, PASSWORD + "x"),
    basic(USER, ""),
    {"Authorization": ("Bearer " + PASSWORD).encode()},
    {"Authorization": "Basic not-base64"},
], ids=["none", "wrong-password", "wrong-user", "longer-password", "empty-password",
        "bearer", "garbage"])
async def test_every_system_route_refuses_bad_credentials(app, headers):
    async with serving(app) as client:
        routes = registered_system_routes(app)
        assert len(routes) >= 8
        for path, method in sorted(routes):
            response = await client.request(method, concrete_path(path), headers=headers,
                                            content=b'{"functionName": "echo"}')
            assert_unauthorized(response, path, method)
    assert app.ctx.fake_admin.calls == [("close",)]  # nothing reached Docker
    failures = app.ctx.metrics.get_sample_value("swarmfaas_system_auth_failures_total")
    assert failures == len(routes)


async def test_list_functions_merges_docker_specs_with_ready_replicas(app):
    counter = Counter("gateway_function_invocation", "calls", ["function_name", "code"],
                      registry=app.ctx.metrics)
    counter.labels("echo", "200").inc(4)
    async with serving(app) as client:
        response = await client.get("/system/functions", headers=GOOD_AUTH)
        namespaces = (await client.get("/system/namespaces", headers=GOOD_AUTH)).json()
    assert response.status_code == 200
    assert_matches_openapi(OPENAPI, "/system/functions", "GET", response)
    (status,) = response.json()
    assert status["name"] == "echo" and [status["namespace"]] == namespaces == ["swarmfaas-fn"]
    assert status["labels"]["com.docker.stack.namespace"] == "faas"  # the stack
    assert (status["replicas"], status["availableReplicas"]) == (3, 2)
    assert status["envProcess"] == "cat" and status["invocationCount"] == 4


async def test_a_service_missing_from_the_table_has_no_available_replicas(secret_files):
    app = make_app(secret_files, table=RoutingTable())
    async with serving(app) as client:
        response = await client.get("/system/function/echo", headers=GOOD_AUTH)
    assert response.status_code == 200
    assert_matches_openapi(OPENAPI, "/system/function/{name}", "GET", response)
    assert response.json()["availableReplicas"] == 0


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("GET", "/system/function/nope", None, 404, "function_not_found"),
    ("GET", "/system/function/Bad_Name", None, 400, "invalid_function_name"),
    ("POST", "/system/functions", b"{not json", 400, "invalid_json"),
    ("POST", "/system/functions", b"", 400, "invalid_json"),
    ("POST", "/system/functions", b'{"service": "x", "image": "evil/miner"}', 403,
     "image_not_allowed"),
    ("POST", "/system/functions", b'{"service": "x", "image": "swarmfaas/x", "secrets": ["s"]}',
     403, "secret_not_allowed"),
    ("PUT", "/system/functions", b'{"service": "X", "image": "swarmfaas/x"}', 400,
     "invalid_function_name"),
    ("DELETE", "/system/functions", b'{"functionName": "nope"}', 404, "function_not_found"),
    ("DELETE", "/system/functions", b'{"name": "echo"}', 400, "invalid_function_name"),
    ("POST", "/system/scale-function/echo", b'{"replicas": 21}', 400, "invalid_request"),
    ("POST", "/system/scale-function/echo", b'{"replicas": -1}', 400, "invalid_request"),
    ("POST", "/system/scale-function/echo", b'{"serviceName": "x", "replicas": 1}', 400,
     "invalid_request"),
    ("POST", "/system/scale-function/nope", b'{"replicas": 1}', 404, "function_not_found"),
    # outside the function's own bounds (swarmfaas.scale.min 2, max 5): the scaler would undo it
    ("POST", "/system/scale-function/echo", b'{"replicas": 1}', 400, "invalid_request"),
    ("POST", "/system/scale-function/echo", b'{"replicas": 6}', 400, "invalid_request"),
])
async def test_errors_are_platform_json_and_documented(app, method, path, body, status, code):
    async with serving(app) as client:
        response = await client.request(method, path, content=body, headers=GOOD_AUTH)
    assert response.status_code == status, response.text
    assert response.headers[INTERNAL_HEADER] == "sidecar"
    assert response.json()["error"] == code
    template = {"/system/function/nope": "/system/function/{name}",
                "/system/function/Bad_Name": "/system/function/{name}"}.get(path, path)
    template = template.replace("/scale-function/echo", "/scale-function/{name}")
    template = template.replace("/scale-function/nope", "/scale-function/{name}")
    assert_matches_openapi(OPENAPI, template, method, response)
    assert app.ctx.fake_admin.calls == [("close",)]


@pytest.mark.parametrize(("method", "path", "body", "call"), [
    ("POST", "/system/functions", b'{"service": "hi", "image": "swarmfaas/hi:1"}', "deploy"),
    ("PUT", "/system/functions", b'{"service": "echo", "image": "swarmfaas/hi:2"}', "update"),
    ("DELETE", "/system/functions", b'{"functionName": "echo"}', "remove"),
    ("POST", "/system/scale-function/echo", b'{"serviceName": "echo", "replicas": 0}', "scale"),
    ("POST", "/system/scale-function/echo", b'{"replicas": 5}', "scale"),  # within its bounds
])
async def test_mutations_reach_the_adapter_and_answer_202(app, method, path, body, call):
    async with serving(app) as client:
        response = await client.request(method, path, content=body, headers=GOOD_AUTH)
    assert response.status_code == 202, response.text
    template = path.replace("/scale-function/echo", "/scale-function/{name}")
    assert_matches_openapi(OPENAPI, template, method, response)
    assert app.ctx.fake_admin.calls[0][0] == call
    assert app.ctx.metrics.get_sample_value(
        "swarmfaas_system_operations_total", {"operation": call, "code": "202"}) == 1


async def test_info_and_openapi_answer_with_credentials(app):
    async with serving(app) as client:
        info = await client.get("/system/info", headers=GOOD_AUTH)
        doc = await client.get("/system/openapi.json", headers=GOOD_AUTH)
    assert_matches_openapi(OPENAPI, "/system/info", "GET", info)
    assert info.json()["provider"]["orchestration"] == "swarm"
    assert doc.status_code == 200 and doc.json() == OPENAPI
    assert doc.headers["content-type"] == "application/json"


def test_no_credentials_means_no_system_api(tmp_path):
    env = {"SYSTEM_AUTH_USER_FILE": str(tmp_path / "absent-user"),
           "SYSTEM_AUTH_PASSWORD_FILE": str(tmp_path / "absent-password")}
    with pytest.raises(CredentialsError, match="SYSTEM_AUTH_USER_FILE"):
        make_app(env)


async def test_auth_can_be_switched_off_only_explicitly(tmp_path, caplog):
    app = make_app({"SYSTEM_AUTH_USER_FILE": str(tmp_path / "absent"),
                    "SYSTEM_AUTH_DANGEROUSLY_DISABLE": "true"})
    assert "SYSTEM_AUTH_DANGEROUSLY_DISABLE" in caplog.text
    async with serving(app) as client:
        response = await client.get("/system/info")
    assert response.status_code == 200


async def test_credentials_never_reach_the_logs(app, caplog):
    caplog.set_level("DEBUG")
    async with serving(app) as client:
        await client.get("/system/info", headers=basic(USER, "guess-" + PASSWORD))
        await client.get("/system/info", headers=GOOD_AUTH)
    assert PASSWORD not in caplog.text


async def test_logs_are_newline_delimited_log_entries(app):
    async with serving(app) as client:
        response = await client.get("/system/logs?name=echo&tail=3&follow=false",
                                    headers=GOOD_AUTH)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["x-accel-buffering"] == "no"
        assert_matches_openapi_ndjson(response)
        entries = [json.loads(line) for line in response.text.splitlines()]
        assert [(e["instance"], e["text"]) for e in entries] == app.ctx.fake_admin.log_lines
        assert entries[0] == {"name": "echo", "namespace": "swarmfaas-fn", "instance": "t1",
                              "timestamp": "2026-12-06T23:08:40.5Z", "text": "hello"}
        one = await client.get("/system/logs?name=echo&instance=t2", headers=GOOD_AUTH)
        assert [json.loads(line)["text"] for line in one.text.splitlines()] == ["from two"]
        for query, status, code in (("", 400, "invalid_request"),
                                    ("?name=nope", 404, "function_not_found"),
                                    ("?name=echo&namespace=x", 404, "namespace_not_found"),
                                    ("?name=echo&since=x", 400, "invalid_request")):
            bad = await client.get("/system/logs" + query, headers=GOOD_AUTH)
            assert (bad.status_code, bad.json()["error"]) == (status, code), query
            assert_matches_openapi(OPENAPI, "/system/logs", "GET", bad)


def assert_matches_openapi_ndjson(response):
    from jsonschema import Draft202012Validator

    operation = OPENAPI["paths"]["/system/logs"]["get"]
    schema = operation["responses"]["200"]["content"]["application/x-ndjson"]["schema"]
    validator = Draft202012Validator({**schema, "components": OPENAPI["components"]})
    for line in response.text.splitlines():
        validator.validate(json.loads(line))


async def test_namespaces_and_the_namespace_argument(app):
    async with serving(app) as client:
        response = await client.get("/system/namespaces", headers=GOOD_AUTH)
        assert response.json() == ["swarmfaas-fn"]
        assert_matches_openapi(OPENAPI, "/system/namespaces", "GET", response)
        for namespace in ("openfaas-fn", "swarmfaas-fn"):
            ok = await client.get(f"/system/function/echo?namespace={namespace}",
                                  headers=GOOD_AUTH)
            assert ok.status_code == 200
            listed = await client.get(f"/system/functions?namespace={namespace}",
                                      headers=GOOD_AUTH)
            assert [f["name"] for f in listed.json()] == ["echo"]
        for path in ("/system/function/echo?namespace=dev", "/system/functions?namespace=dev",
                     "/system/secrets?namespace=dev"):
            bad = await client.get(path, headers=GOOD_AUTH)
            assert bad.status_code == 404 and bad.json()["error"] == "namespace_not_found"


SECRET_VALUE = "v3ry-s3cret-válue"


async def test_secrets_routes_never_echo_a_value(app, caplog):
    caplog.set_level(logging.DEBUG)
    fake = app.ctx.fake_admin
    async with serving(app) as client:
        listed = await client.get("/system/secrets", headers=GOOD_AUTH)
        assert listed.json() == [{"name": "api-key", "namespace": "swarmfaas-fn"}]
        assert_matches_openapi(OPENAPI, "/system/secrets", "GET", listed)
        cases = [
            ("POST", {"name": "db", "value": SECRET_VALUE}, 201, None),
            ("POST", {"name": "api-key", "value": SECRET_VALUE}, 409, "secret_exists"),
            ("POST", {"name": "bad/name", "value": SECRET_VALUE}, 400, "invalid_request"),
            ("POST", {"name": "db"}, 400, "invalid_request"),
            ("PUT", {"name": "api-key", "value": SECRET_VALUE}, 200, None),
            ("PUT", {"name": "nope", "value": SECRET_VALUE}, 404, "no_such_secret"),
            ("DELETE", {"name": "api-key"}, 204, None),
            ("DELETE", {"name": "nope"}, 404, "no_such_secret"),
            ("DELETE", {"name": "api-key", "value": SECRET_VALUE}, 400, "invalid_request"),
        ]
        for method, body, status, code in cases:
            response = await client.request(method, "/system/secrets", json=body,
                                            headers=GOOD_AUTH)
            assert response.status_code == status, (method, body, response.text)
            assert_matches_openapi(OPENAPI, "/system/secrets", method, response)
            assert SECRET_VALUE not in response.text
            if code:
                assert response.json()["error"] == code
    assert ("create_secret", "db", SECRET_VALUE.encode()) in fake.calls
    assert ("replace_secret", "api-key", SECRET_VALUE.encode()) in fake.calls
    assert ("remove_secret", "api-key") in fake.calls
    assert caplog.records and SECRET_VALUE not in caplog.text
    metrics = app.ctx.metrics
    assert metrics.get_sample_value("swarmfaas_system_operations_total",
                                    {"operation": "create_secret", "code": "201"}) == 1


async def test_a_follow_stream_is_closed_when_the_client_leaves(app):
    fake = app.ctx.fake_admin
    async with serving(app) as client:
        async with client.stream("GET", "/system/logs?name=echo&follow=true",
                                 headers=GOOD_AUTH) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert json.loads(await anext(lines))["text"] == "hello"
            assert ("logs closed", "echo") not in fake.calls  # still following
        # the client left: the handler is cancelled and the Engine stream closed
        deadline = time.monotonic() + 5
        while ("logs closed", "echo") not in fake.calls and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert ("logs closed", "echo") in fake.calls
