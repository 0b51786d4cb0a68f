"""The engine gate against the real Docker Engine, used through docker-py as the
sidecar uses it: what discovery and the system API need passes, the rest is
refused with a JSON reason, and nothing refused reaches the Engine.

Everything created here is named gt-* and removed after.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import docker
import docker.errors
import httpx
import pytest
from docker.types import (
    EndpointSpec,
    Healthcheck,
    Mount,
    Privileges,
    SecretReference,
    ServiceMode,
)
from sidecar_swarm import engine_gate, overlay_networks, swarm_client_or_skip, wait_until

from faas_sidecar.engine import Engine
from faas_sidecar.enginetoken import authorize

pytestmark = [pytest.mark.docker]

PORT = 18290
NETWORK = "gt-functions"
OTHER_NETWORK = "gt-elsewhere"
IMAGE = "swarmfaas/gt-idle:test"
FUNCTION = {"swarmfaas.function": "true"}
IDLE = ["sleep", "infinity"]
TOKEN = "gt-token-0123456789abcdef"  # the gate runs with ENGINE_GATE_TOKEN_FILE, as deployed
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AUTH_LINE = f"Authorization: Bearer {TOKEN}\r\n".encode()


@pytest.fixture(scope="module")
def engine():
    dc = swarm_client_or_skip()
    remove_ours(dc)
    dc.images.get("debian:bookworm-slim").tag(IMAGE)
    networks = overlay_networks(dc, (NETWORK, OTHER_NETWORK))
    next(networks)
    yield dc
    remove_ours(dc)
    next(networks, None)
    dc.images.remove(IMAGE)  # the tag only: debian:bookworm-slim stays
    dc.close()


def remove_ours(dc: docker.DockerClient) -> None:
    for service in dc.services.list():
        if service.name.startswith("gt-"):
            service.remove()
    for container in dc.containers.list(all=True, filters={"name": "gt-"}):
        container.remove(force=True)
    for secret in dc.secrets.list(filters={"name": "gt-"}):
        secret.remove()
    if dc.images.list(name="swarmfaas/gt-tagged"):
        dc.images.remove("swarmfaas/gt-tagged:latest")  # the tag only


@pytest.fixture(scope="module")
def gated(engine):
    """A docker-py client that reaches the Engine only through the gate."""
    with engine_gate(PORT, NETWORK, images="swarmfaas/gt-*", secrets="gt-fn-*",
                     token=TOKEN) as url:
        client = docker.DockerClient(base_url=url, version="1.41", timeout=30)
        authorize(client.api.headers, TOKEN)
        yield client
        client.close()


def create_via(client: docker.DockerClient, name: str, **kwargs):
    kwargs = {"labels": FUNCTION, "networks": [NETWORK], "command": IDLE,
              "mode": ServiceMode("replicated", replicas=0),
              "endpoint_spec": EndpointSpec(mode="dnsrr"), **kwargs}
    return client.services.create(kwargs.pop("image", IMAGE), name=name, **kwargs)


def test_what_the_sidecar_needs_passes(engine, gated):
    assert gated.ping()
    assert gated.version()["ApiVersion"]
    service = create_via(gated, "gt-fn-ok")
    try:
        listed = gated.services.list(filters={"label": "swarmfaas.function=true"})
        assert "gt-fn-ok" in [s.name for s in listed]
        assert gated.api.tasks(filters={"desired-state": "running",
                                        "service": [service.id]}) == []  # 0 replicas
        assert gated.api.inspect_network(NETWORK)["Name"] == NETWORK
        assert isinstance(gated.secrets.list(filters={"name": "gt-"}), list)
        # by name too: the gate sends the call on with the full ID it checked
        assert gated.api.inspect_service("gt-fn-ok")["ID"] == service.id
        service = gated.services.get(service.id)
        service.scale(2)   # docker-py sends the whole current spec back
        assert engine.services.get(service.id).attrs["Spec"]["Mode"] == {
            "Replicated": {"Replicas": 2}}
        service.reload()
        service.scale(0)
        gated.api.remove_service("gt-fn-ok")
    finally:
        leftover = engine.services.list(filters={"name": "gt-fn-ok"})
        for service in leftover:
            service.remove()
    assert not leftover  # removed by name through the gate


def test_the_events_stream_streams_through_the_gate(engine, gated):
    seen: list[dict] = []
    stream = gated.api.events(decode=True, filters={"type": ["service"], "event": ["create"]})
    reader = threading.Thread(
        target=lambda: [seen.append(e) for e in stream], daemon=True)
    reader.start()
    service = create_via(gated, "gt-fn-events")
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(
                e.get("Actor", {}).get("Attributes", {}).get("name") == "gt-fn-events"
                for e in seen):
            time.sleep(0.05)
        assert any(e.get("Action") == "create" and
                   e["Actor"]["Attributes"].get("name") == "gt-fn-events" for e in seen), seen
    finally:
        service.remove()
        stream.close()


def test_events_only_of_the_types_and_actions_discovery_uses(gated):
    for filters in (None, {"type": ["image"], "event": ["pull"]},
                    {"type": ["service", "daemon"], "event": ["create"]},
                    {"type": ["container"]},  # every action, exec_create's command lines too
                    {"type": ["container"], "event": ["health_status", "exec_create"]}):
        params = {"filters": json.dumps(filters)} if filters else {}
        # The refusal is a whole response, so this does not wait for events.
        answer = httpx.get(f"http://127.0.0.1:{PORT}/v1.41/events", params=params,
                           headers=AUTH, timeout=10)
        assert answer.status_code == 403, filters
        assert "only events of types" in answer.json()["reason"]


def test_discovery_sees_health_but_no_exec_events_through_the_gate(engine, gated):
    """The sidecar's own subscription (Engine.events) through the gate: a
    function's health checks reach it as health_status, never as exec_*."""
    url = gated.api.base_url.replace("http://", "tcp://")
    stream = Engine(url, token=TOKEN).events()
    seen: list[dict] = []
    reader = threading.Thread(target=lambda: [seen.append(e) for e in stream], daemon=True)
    reader.start()
    create_via(gated, "gt-fn-health", mode=ServiceMode("replicated", replicas=1),
               healthcheck=Healthcheck(test=["CMD", "true"], interval=200_000_000,
                                       timeout=2_000_000_000, retries=3))
    try:
        def health_seen() -> bool:
            return any(e.get("Type") == "container" and e.get("Action", "").startswith(
                "health_status") and e["Actor"]["Attributes"].get(
                "com.docker.swarm.service.name") == "gt-fn-health" for e in list(seen))
        wait_until(health_seen, 60, "a health_status event of the function's task")
        time.sleep(1)  # five more checks, each an exec_create/start/die on the Engine
        actions = {e.get("Action", "").split(":")[0] for e in seen}
        assert not {a for a in actions if a.startswith("exec_")}, actions
        assert {"create", "start"} <= actions, actions
    finally:
        stream.close()
        engine.services.get("gt-fn-health").remove()


def refused(call, match: str) -> None:
    with pytest.raises(docker.errors.APIError) as info:
        call()
    assert info.value.status_code == 403, info.value
    assert match in str(info.value.explanation)


# What a compromised sidecar might try; each would widen its reach.
CREATES = [
    ("not a function", {"labels": {}}, "not labelled swarmfaas.function=true"),
    ("image outside the allowlist", {"image": "debian:bookworm-slim"},
     "not in the image allowlist"),
    ("the Docker socket", {"mounts": ["/var/run/docker.sock:/var/run/docker.sock:rw"]},
     "bind mount /var/run/docker.sock"),
    ("the host's root", {"mounts": [Mount("/host", "/", type="bind")]}, "bind mount / -> /host"),
    ("another stack's volume", {"mounts": [Mount("/le", "faas_letsencrypt")]},
     "volume mount faas_letsencrypt"),
    ("a bind mount disguised as a volume",
     {"mounts": [Mount("/x", None, driver_config=docker.types.DriverConfig(
         "local", {"type": "none", "o": "bind", "device": "/"}))]}, "volume mount"),
    ("capabilities", {"cap_add": ["SYS_ADMIN"]}, "ContainerSpec.CapabilityAdd"),
    ("privileges", {"privileges": Privileges(selinux_disable=True)}, "privileges"),
    ("another network", {"networks": [OTHER_NETWORK]}, "only the functions network"),
    ("a published port", {"endpoint_spec": EndpointSpec(ports={18299: 8080})},
     "published ports"),
    ("a platform secret", {"secrets": [SecretReference("x1y2", "faas_tls-key-0")]},
     "secret 'faas_tls-key-0'"),
    ("a log driver", {"log_driver": "syslog"}, "log driver"),
]


@pytest.mark.parametrize(("what", "kwargs", "match"), CREATES, ids=[c[0] for c in CREATES])
def test_dangerous_creates_are_refused_and_reach_nothing(engine, gated, what, kwargs, match):
    refused(lambda: create_via(gated, "gt-fn-evil", **kwargs), match)
    assert not engine.services.list(filters={"name": "gt-fn-evil"})


def test_services_that_are_not_functions_are_out_of_reach(engine, gated):
    plain = engine.services.create(IMAGE, name="gt-plain", command=IDLE,
                                   mode=ServiceMode("replicated", replicas=0))
    try:
        version = plain.attrs["Version"]["Index"]
        refused(lambda: gated.services.get(plain.id), "only lets the sidecar read")
        refused(lambda: gated.api.remove_service(plain.id), "only lets the sidecar remove")
        refused(lambda: gated.api.update_service(
            plain.id, version, task_template=docker.types.TaskTemplate(
                docker.types.ContainerSpec(IMAGE, command=IDLE)), labels=FUNCTION),
            "only updates services labelled")
        refused(lambda: gated.services.list(), "only with the filter")
        plain.reload()
        assert plain.attrs["Version"]["Index"] == version
    finally:
        plain.remove()


def running_tasks(engine: docker.DockerClient, service_id: str) -> list[dict]:
    return engine.api.tasks(filters={"service": [service_id], "desired-state": "running"})


def test_tasks_only_of_functions(engine, gated):
    """Another service's task spec (its environment, say) is not the sidecar's to read."""
    fn = create_via(gated, "gt-fn-tasks", mode=ServiceMode("replicated", replicas=1))
    plain = engine.services.create(IMAGE, name="gt-plain-tasks", command=IDLE,
                                   env=["TOKEN=not-for-the-sidecar"])
    try:
        for service in (fn, plain):
            wait_until(lambda s=service: running_tasks(engine, s.id), 60,
                       f"a task of {service.name}", interval=0.2)
        tasks = gated.api.tasks(filters={"service": [fn.id], "desired-state": "running"})
        assert tasks and {t["ServiceID"] for t in tasks} == {fn.id}
        refused(lambda: gated.api.tasks(filters={"desired-state": "running"}),
                "only of function services")
        refused(lambda: gated.api.tasks(filters={"service": [plain.id]}), plain.id)
        refused(lambda: gated.api.tasks(filters={"service": [fn.id, plain.id]}), plain.id)
        refused(lambda: gated.api.tasks(filters={"service": ["gt-fn-tasks"]}), "by full ID")
        plain_task = running_tasks(engine, plain.id)[0]["ID"]
        refused(lambda: gated.api.inspect_task(plain_task), "does not allow GET /tasks/")
        # The sidecar's adapter through the gate: the functions, and only their tasks.
        adapter = Engine(f"tcp://127.0.0.1:{PORT}", token=TOKEN)
        try:
            services, tasks = adapter.list_functions()
        finally:
            adapter.close()
        ids = {s["ID"] for s in services}
        assert fn.id in ids and plain.id not in ids
        assert fn.id in {t["ServiceID"] for t in tasks}
        assert {t["ServiceID"] for t in tasks} <= ids
        assert "not-for-the-sidecar" not in json.dumps(tasks)
    finally:
        fn.remove()
        plain.remove()


def test_an_update_keeps_what_the_operator_set_but_adds_nothing(engine, gated):
    # Deployed by the operator straight on the Engine, with a volume, like a
    # stack function (webhookstash).
    stack_fn = engine.services.create(
        IMAGE, name="gt-fn-stack", command=IDLE, labels=FUNCTION, networks=[NETWORK],
        mounts=[Mount("/data", "gt-stash")], mode=ServiceMode("replicated", replicas=0))
    try:
        through = gated.services.get(stack_fn.id)
        through.scale(1)  # its volume goes back as it was: allowed
        assert engine.services.get(stack_fn.id).attrs["Spec"]["Mode"]["Replicated"][
            "Replicas"] == 1
        through.reload()
        refused(lambda: through.update(mounts=["/gt-stash:/data:rw", "/:/host:rw"]),
                "bind mount / -> /host")
        refused(lambda: through.update(labels={"team": "x"}), "not labelled")
    finally:
        stack_fn.remove()


def test_a_secret_outside_the_platform_prefix_is_refused(engine, gated):
    # Only <SYSTEM_SECRET_PREFIX>... labelled swarmfaas.secret=true (/system/secrets)
    refused(lambda: gated.api.create_secret("gt-secret", b"x"),
            "the engine gate refuses to create this secret")
    assert not [s for s in engine.secrets.list() if s.name == "gt-secret"]


@pytest.mark.parametrize("call", [
    lambda c: c.containers.list(),
    lambda c: c.info(),
    lambda c: c.api.create_container(IMAGE, name="gt-container"),
    lambda c: c.api.tag(IMAGE, "swarmfaas/gt-tagged"),  # local only, even if let through
    lambda c: c.api.inspect_swarm(),
    lambda c: c.api.nodes(),
], ids=["containers", "info", "create container", "tag image", "swarm", "nodes"])
def test_everything_else_is_refused(engine, gated, call):
    refused(lambda: call(gated), "the engine gate does not allow")
    assert not engine.containers.list(all=True, filters={"name": "gt-container"})
    assert not [s for s in engine.secrets.list() if s.name == "gt-secret"]
    assert not engine.images.list(name="swarmfaas/gt-tagged")


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
    {"Authorization": f"Basic {TOKEN}"}], ids=["none", "wrong", "no scheme", "basic"])
def test_without_the_token_only_ping_answers(engine, gated, headers):
    base = f"http://127.0.0.1:{PORT}"
    functions = {"filters": json.dumps({"label": ["swarmfaas.function=true"]})}
    for method, path, params in (("GET", "/v1.41/services", functions),
                                 ("GET", "/v1.41/version", {}),
                                 ("POST", "/v1.41/services/create", {})):
        answer = httpx.request(method, base + path, params=params, headers=headers,
                               json={"Name": "gt-no-token"}, timeout=10)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.headers["www-authenticate"] == 'Bearer realm="engine-gate"'
        doc = answer.json()
        assert doc["component"] == "engine-gate" and doc["error"] == "unauthorized"
        assert "ENGINE_GATE_TOKEN_FILE" in doc["reason"] and TOKEN not in answer.text
    assert not engine.services.list(filters={"name": "gt-no-token"})
    # The gate's own health check carries no token.
    for path in ("/_ping", "/v1.41/_ping"):
        assert httpx.get(base + path, headers=headers, timeout=10).text == "OK"
    # With it, the same listing answers.
    assert httpx.get(base + "/v1.41/services", params=functions, headers=AUTH,
                     timeout=10).status_code == 200


def test_refusals_are_platform_errors_and_bad_requests_harm_nothing(gated):
    base = f"http://127.0.0.1:{PORT}"
    response = httpx.get(f"{base}/v1.41/containers/json", headers=AUTH)
    assert response.status_code == 403
    assert response.headers["x-swarmfaas-internal"] == "engine-gate"
    doc = response.json()
    assert doc["component"] == "engine-gate" and doc["status"] == 403
    assert doc["error"] == "forbidden" and doc["reason"] == doc["message"]
    assert "GET /containers/json" in doc["reason"]
    # malformed, oversized, upgrade, absolute-form, specs of the wrong shape, a client
    # that leaves mid-request
    for raw in (b"NOT HTTP\r\n\r\n",
                b"POST /v1.41/services/create HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n"
                + b"{" * 1_100_000,
                b"GET /v1.41/_ping HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
                b"GET http://docker/v1.41/info HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /v1.41/services/create HTTP/1.1\r\n" + AUTH_LINE
                + b"Content-Length: 21\r\n\r\n" b'{"TaskTemplate": "x"}',
                b"POST /v1.41/services/create HTTP/1.1\r\n" + AUTH_LINE
                + b"Content-Length: 9\r\n\r\n" b"[1, 2, 3]",
                b"POST /v1.41/services/create HTTP/1.1\r\n" + AUTH_LINE
                + b"Content-Length: 10\r\n\r\n{"):
        with socket.create_connection(("127.0.0.1", PORT), timeout=5) as conn:
            conn.sendall(raw)
            if raw.endswith(b"{"):
                continue  # leave with the body unfinished
            answer = conn.recv(65536)
            assert answer.split(b" ")[1] in (b"400", b"413"), answer
            assert b"engine-gate" in answer
    refused(lambda: gated.api.create_service(docker.types.TaskTemplate(
        docker.types.ContainerSpec(IMAGE)), name="gt-bad-json", labels={"x": "y"}),
        "not labelled")
    assert gated.ping()  # still serving
