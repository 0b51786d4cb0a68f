"""The proxy against real upstream processes on 127.0.0.1 (no Docker).

A real Sanic server with the sidecar's error, metrics, proxy and routing
pieces; the routing table is a fixed snapshot pointing at real echo servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import http.client
import json
import signal
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import httpx
import pytest
from sanic import Sanic

from faas_sidecar import app as app_module
from faas_sidecar.config import load_config
from faas_sidecar.model import FunctionSpec, Replica, RoutingTable
from faas_sidecar.ratelimit import RateLimit
from faas_sidecar.webhooks.labels import WebhookCheck
from faas_sidecar.webhooks.signatures import Scheme
from fwatchdog import errors as watchdog_errors

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "watchdog"))
from wdkit import free_port, port_answers, wait_for, watchdog_argv, watchdog_env

SIDECAR_PORT = 18220
LIVE, LIVE2, DEAD = 18230, 18231, 18239  # DEAD: nothing listens there
REVIVE = 18238  # nothing listens there until a test starts a server
QUIET = 18237  # a test's server that stops answering (a node without power)
ANSWERS_503 = 18236  # a test's server answering every request with one 503


class FixedTables:
    """Stands in for discovery: the proxy only reads ``.table`` and ``.changed()``."""

    def __init__(self, table: RoutingTable) -> None:
        self.table = table
        self._changed = asyncio.Event()

    def changed(self) -> asyncio.Event:
        return self._changed

    def publish(self, table: RoutingTable) -> None:
        self.table = table
        old, self._changed = self._changed, asyncio.Event()
        old.set()


def spec(name, ports, timeout=60.0, desired=1):
    return FunctionSpec(name=name, service_id=name, service_name=name, image="i",
                        timeout=timeout, desired_replicas=desired,
                        replicas=tuple(Replica(f"{name}{p}", "127.0.0.1", p) for p in ports))


HOOK_SECRET = b"hook secret"


def signed(fn):
    """``fn`` with swarmfaas.webhook.scheme=github, secret gh-secret."""
    return dataclasses.replace(fn, webhook=WebhookCheck(Scheme("github"), ("gh-secret",)))


def github_headers(body, delivery="d-1", secret=HOOK_SECRET):
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery}


def table(*specs, generation=1):
    return RoutingTable(functions=MappingProxyType({s.name: s for s in specs}),
                        built_at=1.0, generation=generation)


@pytest.fixture(params=["fast", "sanic"])
async def sidecar(echo_server, request, tmp_path):
    """Every test runs twice: with the lean function path (fastpath.py, the
    default) and with Sanic's request cycle only (FAST_PATH=false)."""
    echo_server(LIVE)
    echo_server(LIVE2)
    Sanic.test_mode = True
    config = load_config({"FUNCTIONS_NETWORK": "n", "HOLD_TIMEOUT": "1",
                          "CONNECT_TIMEOUT": "0.5",
                          "FAST_PATH": "true" if request.param == "fast" else "false",
                          "WEBHOOK_SECRETS_DIR": str(tmp_path), "COLD_START_TIMEOUT": "3"})
    (tmp_path / "gh-secret").write_bytes(HOOK_SECRET)
    app = app_module.SidecarApp("sidecar_proxy_test")
    app_module.setup_sanic_config(app, config)
    app_module.setup_errors(app)
    app_module.setup_metrics(app)
    tables = FixedTables(table(
        spec("echo", [LIVE, LIVE2]),
        spec("half", [DEAD, LIVE]),
        spec("revive", [REVIVE, LIVE]),
        spec("quiet", [QUIET, LIVE], timeout=2.0),
        spec("dead", [DEAD]),
        spec("slow", [LIVE], timeout=0.5),
        spec("none", [], desired=1),
        dataclasses.replace(spec("broken", [], desired=1),
                            task_error="task rejected: No such image: nope:1"),
        spec("zero", [], desired=0),
        dataclasses.replace(spec("cold", [], desired=0), scales_to_zero=True),
        dataclasses.replace(spec("cold-never", [], desired=0), scales_to_zero=True),
        dataclasses.replace(spec("limited", [LIVE]), rate_limit=RateLimit(rps=0.2, burst=2)),
        signed(spec("signed", [LIVE])),
        signed(spec("signed-dead", [DEAD])),
    ))
    app.ctx.discovery = tables
    app_module.setup_proxy(app, config)
    app_module.setup_function_routes(app, root_post=True)

    @app.get("/boom")
    async def boom(request):
        raise RuntimeError("bug: internal detail")

    async with serving(app, SIDECAR_PORT) as client:
        client.tables = tables  # type: ignore[attr-defined]
        yield client


@contextlib.asynccontextmanager
async def serving(app, port):
    """``app`` served on 127.0.0.1:``port`` for the test; a client to it."""
    server = await app.create_server(host="127.0.0.1", port=port,
                                     return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     timeout=10) as client:
            yield client
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        Sanic._app_registry.pop(app.name, None)


def echoed(response):
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_method_reaches_the_function(sidecar, method):
    body = b"payload" if method in {"POST", "PUT", "PATCH"} else None
    got = echoed(await sidecar.request(method, "/function/echo/a/b?x=1&y=2", content=body))
    assert got["method"] == method
    assert got["path"] == "/a/b?x=1&y=2"
    if body:
        assert got["body"] == "payload"


async def test_head(sidecar):
    response = await sidecar.head("/function/echo/x")
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["content-length"]) > 100  # the size of the echo's JSON
    echoed(await sidecar.get("/function/echo"))  # the pool is still sane after a HEAD


async def test_x_function_header_keeps_the_path(sidecar):
    got = echoed(await sidecar.get("/some/where?q=1", headers={"X-Function": "echo"}))
    assert got["path"] == "/some/where?q=1"
    got = echoed(await sidecar.post("/", content=b"r", headers={"X-Function": "echo"}))
    assert got["path"] == "/" and got["body"] == "r"


@pytest.mark.parametrize(("method", "path"), [("GET", "/some/where"), ("POST", "/")])
async def test_two_x_function_headers_naming_different_functions_are_a_400(sidecar, method,
                                                                           path):
    response = await sidecar.request(method, path, content=b"r",
                                     headers=[("X-Function", "echo"), ("X-Function", "half")])
    assert response.status_code == 400
    assert response.headers["x-swarmfaas-internal"] == "sidecar"
    doc = response.json()
    assert (doc["error"], doc["status"], doc["component"]) == ("bad_request", 400, "sidecar")
    assert "echo" in doc["reason"] and "half" in doc["reason"]
    # The same name twice is no ambiguity.
    got = echoed(await sidecar.request(method, path, content=b"r",
                                       headers=[("X-Function", "echo"), ("X-Function", "echo")]))
    assert got["path"] == path


async def test_headers_on_the_hop(sidecar):
    response = await sidecar.get("/function/echo", headers={
        "X-Call-Id": "abc-1", "Connection": "keep-alive, X-Hop", "X-Hop": "secret",
        "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    got = echoed(response)
    sent = {k.lower(): v for k, v in got["headers"].items()}
    assert sent["x-call-id"] == "abc-1" and response.headers["x-call-id"] == "abc-1"
    assert "x-hop" not in sent
    assert sent["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert sent["x-forwarded-proto"] == "https"
    assert sent["x-forwarded-host"] == f"127.0.0.1:{SIDECAR_PORT}"
    assert int(sent["x-start-time"]) > 1_700_000_000 * 10**9
    assert "x-swarmfaas-internal" not in response.headers  # the function's own answer


@pytest.mark.parametrize("size", [5, 3_000_000])  # a buffered answer, a streamed one
async def test_an_answer_without_a_content_type_gets_none(sidecar, size):
    # Sanic fills a missing Content-Type with its own default, the string "None".
    response = await sidecar.get(f"/function/echo/untyped/{size}")
    assert response.status_code == 200 and len(response.content) == size
    assert "content-type" not in response.headers, response.headers


@pytest.mark.parametrize("size", [100, 200_000])  # the fast path's body, Sanic's stream
async def test_a_signed_webhook_reaches_the_function_once(sidecar, size):
    body = b"{" + b"x" * (size - 2) + b"}"
    headers = github_headers(body, delivery=f"d-{size}")
    first = await sidecar.post("/function/signed", content=body, headers=headers)
    assert echoed(first)["body"].encode("latin-1") == body
    assert "x-swarmfaas-internal" not in first.headers
    # The sender redelivers (it timed out, say): answered, the function not called again.
    again = await sidecar.post("/function/signed", content=body, headers=headers)
    assert again.status_code == 200 and again.headers["x-swarmfaas-internal"] == "sidecar"
    assert again.json() == {"status": "duplicate", "delivery_id": f"d-{size}",
                            "component": "sidecar"}


@pytest.mark.parametrize(("headers", "cause"), [
    ({}, "no X-Hub-Signature-256"),
    (github_headers(b"other body"), "does not match"),
    (github_headers(b"{}", secret=b"wrong"), "does not match"),
    ({"X-Hub-Signature-256": "md5=00"}, "sha256="),
])
async def test_a_bad_signature_is_a_401_that_never_reaches_a_replica(sidecar, headers, cause):
    # signed-dead has only an unreachable replica: a 502 would mean it was tried.
    response = await sidecar.post("/function/signed-dead", content=b"{}", headers=headers)
    assert response.status_code == 401, response.text
    doc = response.json()
    assert doc["error"] == "webhook_signature_invalid" and cause in doc["reason"]
    assert response.headers["x-swarmfaas-internal"] == "sidecar"


async def test_a_chunked_signed_webhook_is_checked_whole(sidecar):
    body = b'{"chunked": true}'

    async def chunks():
        yield body[:5]
        yield body[5:]

    response = await sidecar.post("/function/signed", content=chunks(),
                                  headers=github_headers(body, delivery="d-chunked"))
    assert echoed(response)["body"] == body.decode()


async def test_a_signed_webhook_over_the_buffer_limit_is_a_413(sidecar):
    body = b"x" * (1024 * 1024 + 1)  # BUFFER_LIMIT + 1

    async def chunks():
        yield body

    response = await sidecar.post("/function/signed-dead", content=chunks(),
                                  headers=github_headers(body))
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "webhook_body_too_large"


async def test_a_failed_delivery_is_not_remembered_as_a_replay(sidecar):
    body = b"{}"
    headers = github_headers(body, delivery="d-failed")
    assert (await sidecar.post("/function/signed-dead", content=body,
                               headers=headers)).status_code == 502
    again = await sidecar.post("/function/signed-dead", content=body, headers=headers)
    assert again.status_code == 502  # tried again, not answered as a duplicate


async def test_a_function_over_its_rate_limit_gets_a_json_429_with_retry_after(sidecar):
    answers = [await sidecar.post("/function/limited", content=b"x") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[2]
    assert refused.json()["error"] == "function_rate_limited"
    assert refused.headers["x-swarmfaas-internal"] == "sidecar"
    assert 1 <= int(refused.headers["retry-after"]) <= 5  # 1/0.2 s for the next token
    assert (await sidecar.get("/function/echo")).status_code == 200  # others unaffected
    metrics = (await sidecar.get("/metrics")).text
    assert 'swarmfaas_rate_limited_total{function_name="limited"} 1.0' in metrics
    assert 'gateway_function_invocation_total{code="429",function_name="limited"} 1.0' \
        in metrics


async def test_call_id_generated_when_absent(sidecar):
    response = await sidecar.get("/function/echo")
    sent = {k.lower(): v for k, v in echoed(response)["headers"].items()}
    assert len(response.headers["x-call-id"]) == 36
    assert sent["x-call-id"] == response.headers["x-call-id"]


async def test_streamed_upload_of_unknown_length(sidecar):
    async def chunks():
        for i in range(50):
            yield f"{i:04d}".encode() * 1000

    got = echoed(await sidecar.post("/function/echo/up", content=chunks()))
    assert got["headers"].get("Transfer-Encoding") == "chunked"
    assert got["body"] == "".join(f"{i:04d}" * 1000 for i in range(50))


async def test_large_body_streams_both_ways(sidecar):
    body = b"z" * (3 << 20)  # over BUFFER_LIMIT: streamed, not buffered
    got = echoed(await sidecar.post("/function/echo/", content=body))
    assert len(got["body"]) == len(body)
    response = await sidecar.get(f"/function/echo/big/{5 << 20}")
    assert response.status_code == 200 and len(response.content) == 5 << 20


async def test_balances_over_replicas(sidecar):
    hosts = set()
    for _ in range(10):
        response = await sidecar.get("/function/echo")
        hosts.add(response.headers["x-echo-host"] + response.json()["hostname"])
    # both echo processes run on this host: tell them apart by the pool address
    results = await asyncio.gather(*(sidecar.get("/function/echo/sleep/0.2") for _ in range(4)))
    assert all(r.status_code == 200 for r in results)


async def test_retries_a_replica_that_cannot_be_reached(sidecar):
    for _ in range(6):  # whichever replica the balancer tries first
        echoed(await sidecar.post("/function/half", content=b"x"))


def metric(text, line_start):
    """The value of the sample whose line starts with ``line_start`` (0 if none)."""
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def calls(sidecar, name, n):
    """``n`` calls of ``name`` at once (the balancer spreads calls in flight), all echoed."""
    for response in await asyncio.gather(*(sidecar.post(f"/function/{name}", content=b"x")
                                           for _ in range(n))):
        echoed(response)


async def test_a_replica_that_refuses_leaves_the_rotation_until_a_probe_connects(
        sidecar, echo_server):
    await calls(sidecar, "revive", 10)
    text = (await sidecar.get("/metrics")).text
    # Refusals took it out (breaker.OPEN_AFTER in a row), once.
    assert metric(text, 'swarmfaas_proxy_breaker_openings_total{function_name="revive"}') == 1
    retried = metric(text, 'swarmfaas_proxy_retries_total{function_name="revive"}')
    assert retried >= 2
    assert metric(text, "swarmfaas_proxy_replicas_out ") == 1
    await calls(sidecar, "revive", 10)  # no call meets it now: no retry
    text = (await sidecar.get("/metrics")).text
    assert metric(text, 'swarmfaas_proxy_retries_total{function_name="revive"}') == retried
    echo_server(REVIVE)
    for _ in range(40):  # the first probe comes 0.5 s after opening, then 1 s, 2 s ...
        if metric((await sidecar.get("/metrics")).text, "swarmfaas_proxy_replicas_out ") == 0:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the replica did not come back after its server started")
    await calls(sidecar, "revive", 10)
    text = (await sidecar.get("/metrics")).text
    assert metric(text, 'swarmfaas_proxy_retries_total{function_name="revive"}') == retried


class GoesQuiet:
    """An HTTP server that answers until ``quiet()``; then it stops listening
    (a probe is refused) and reads requests on its open connections without
    ever answering, as a node that lost power (its connections stay, silent)."""

    def __init__(self) -> None:
        self.silent = False
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)

    def quiet(self) -> None:
        self.silent = True
        self.server.close()  # no more connections; the open ones stay

    async def _serve(self, reader, writer) -> None:
        with contextlib.suppress(Exception):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                if self.silent:
                    await asyncio.sleep(3600)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()


async def test_a_replica_that_goes_silent_leaves_the_rotation(sidecar):
    quiet = GoesQuiet()
    await quiet.start(QUIET)
    posts = [sidecar.post("/function/quiet", content=b"x") for _ in range(8)]
    assert all(r.status_code == 200 for r in await asyncio.gather(*posts))  # pooled now
    quiet.quiet()
    # Calls in flight on its connections wait; after SILENT_AFTER a probe is
    # refused, and it is out: calls from then on all go to the other replica.
    first = [asyncio.ensure_future(sidecar.post("/function/quiet", content=b"x"))
             for _ in range(8)]
    for _ in range(30):
        text = (await sidecar.get("/metrics")).text
        if metric(text, 'swarmfaas_proxy_breaker_openings_total{function_name="quiet"}'):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the silent replica was not taken out")
    await calls(sidecar, "quiet", 10)  # the other replica (the echo server) answers
    lost = [r.status_code for r in await asyncio.gather(*first) if r.status_code != 200]
    assert lost and set(lost) == {504}  # those sent there before it was out


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/function/nope", {}, 404, "function_not_found"),
        ("/function/Nope", {}, 400, "invalid_function_name"),
        ("/elsewhere", {}, 404, "not_found"),
        ("/elsewhere", {"X-Function": "nope"}, 404, "function_not_found"),
        ("/elsewhere", {"X-Function": "../x"}, 400, "invalid_function_name"),
        ("/function/dead", {}, 502, "replica_unreachable"),
        ("/function/slow/sleep/3", {}, 504, "function_timeout"),
        ("/function/zero", {}, 503, "no_ready_replica"),
        ("/function/none", {}, 503, "no_ready_replica"),  # after holding 1 s
    ],
)
async def test_platform_errors(sidecar, path, headers, status, code):
    response = await sidecar.get(path, headers=headers)
    assert response.status_code == status
    assert response.headers["x-swarmfaas-internal"] == "sidecar"
    doc = response.json()
    assert (doc["error"], doc["status"], doc["component"]) == (code, status, "sidecar")
    assert doc["reason"]
    if status == 503:
        assert response.headers["retry-after"] == "1"


async def test_the_503_of_a_function_that_cannot_start_names_dockers_error(sidecar):
    started = asyncio.get_running_loop().time()
    response = await sidecar.get("/function/broken")
    assert asyncio.get_running_loop().time() - started < 3  # HOLD_TIMEOUT is 1 s
    assert response.status_code == 503
    assert response.json()["reason"] == ("function 'broken' has no ready replica; "
                                         "Docker reports task rejected: No such image: nope:1")


async def test_held_request_goes_through_when_a_replica_appears(sidecar):
    async def appear():
        await asyncio.sleep(0.3)
        sidecar.tables.publish(table(spec("none", [LIVE]), generation=2))

    task = asyncio.create_task(appear())
    response = await sidecar.get("/function/none")
    await task
    assert response.status_code == 200


async def test_a_request_at_zero_is_held_until_the_function_has_started(sidecar):
    # Longer than HOLD_TIMEOUT (1 s here): a scale-to-zero function's bound is
    # COLD_START_TIMEOUT (3 s here).
    async def started():
        await asyncio.sleep(1.5)
        sidecar.tables.publish(table(dataclasses.replace(spec("cold", [LIVE]),
                                                         scales_to_zero=True), generation=2))

    task = asyncio.create_task(started())
    answers = await asyncio.gather(*(sidecar.get("/function/cold") for _ in range(20)))
    await task
    assert [a.status_code for a in answers] == [200] * 20
    metrics = (await sidecar.get("/metrics")).text
    assert 'swarmfaas_cold_start_seconds_count{function_name="cold"} 20.0' in metrics


async def test_a_start_from_zero_that_never_comes_is_a_503_after_the_bound(sidecar):
    started = asyncio.get_running_loop().time()
    response = await sidecar.get("/function/cold-never")
    waited = asyncio.get_running_loop().time() - started
    assert response.status_code == 503 and response.json()["error"] == "no_ready_replica"
    assert 2.9 <= waited < 5, waited


async def test_a_call_held_for_a_replica_counts_as_queued_not_in_flight(sidecar):
    """The scale-from-zero hold is in swarmfaas_function_queued, the scaler's
    queue signal, and out of the in-flight gauge (the scaler adds the two)."""
    async def gauges():
        text = (await sidecar.get("/metrics")).text
        return [line for line in text.splitlines()
                if line.endswith(("function_queued{function_name=\"cold\"} 3.0",
                                  "inflight{function_name=\"cold\"} 0.0"))]

    calls = [asyncio.create_task(sidecar.get("/function/cold")) for _ in range(3)]
    for _ in range(100):
        if len(await gauges()) == 2:
            break
        await asyncio.sleep(0.02)
    assert await gauges() == ['gateway_function_invocation_inflight{function_name="cold"} 0.0',
                              'swarmfaas_function_queued{function_name="cold"} 3.0']
    sidecar.tables.publish(table(dataclasses.replace(spec("cold", [LIVE]), scales_to_zero=True),
                                 generation=2))
    assert [(await c).status_code for c in calls] == [200] * 3
    assert 'swarmfaas_function_queued{function_name="cold"}' not in \
        (await sidecar.get("/metrics")).text  # nothing waits now


@pytest.mark.parametrize("then_gone", [False, True])
async def test_the_hold_and_the_refused_connects_share_one_deadline(sidecar, then_gone):
    """No replica for 0.8 s of HOLD_TIMEOUT (1 s), then one that refuses connects
    (a task that showed running for an instant; with ``then_gone`` it vanishes
    again): the answer comes by the one deadline, not after a second window."""
    async def flicker():
        await asyncio.sleep(0.8)
        sidecar.tables.publish(table(spec("none", [DEAD]), generation=2))
        if then_gone:
            await asyncio.sleep(0.05)
            sidecar.tables.publish(table(spec("none", []), generation=3))

    task = asyncio.create_task(flicker())
    started = asyncio.get_running_loop().time()
    response = await sidecar.get("/function/none")
    waited = asyncio.get_running_loop().time() - started
    await task
    assert response.status_code == (503 if then_gone else 502), response.text
    # two windows: 1.4 s (the retries' pauses, doubling) and 1.8 s
    assert 0.75 <= waited < 1.3, waited


async def test_a_function_scaled_to_zero_by_hand_is_a_503_at_once(sidecar):
    started = asyncio.get_running_loop().time()
    response = await sidecar.get("/function/zero")  # desired 0, no scale-to-zero label
    assert response.status_code == 503
    assert asyncio.get_running_loop().time() - started < 0.5


async def test_a_crash_in_a_handler_is_a_500_platform_error_and_harmless(sidecar):
    response = await sidecar.get("/boom")
    assert response.status_code == 500
    assert response.headers["x-swarmfaas-internal"] == "sidecar"
    assert response.json()["error"] == "internal_error"
    assert "bug" not in response.text  # no internals leak to the client
    echoed(await sidecar.get("/function/echo"))  # and the sidecar still serves


async def test_metrics(sidecar):
    echoed(await sidecar.get("/function/echo"))
    await sidecar.get("/function/nope")
    text = (await sidecar.get("/metrics")).text
    assert 'gateway_function_invocation_total{code="200",function_name="echo"}' in text
    assert 'gateway_function_invocation_started_total{function_name="echo"}' in text
    assert 'gateway_service_count{function_name="echo"} 2.0' in text
    assert "gateway_functions_seconds_bucket" in text
    assert 'function_name="nope"' not in text  # unknown names never become labels


async def test_concurrent_load_on_one_pool(sidecar):
    results = await asyncio.gather(*(sidecar.post("/function/echo", content=str(i).encode())
                                     for i in range(200)))
    assert sorted(int(json.loads(r.text)["body"]) for r in results) == list(range(200))


async def test_header_bytes_reach_the_function_as_the_client_sent_them(sidecar):
    # UTF-8 beyond latin-1 and a byte that is no UTF-8 at all: the Sanic path
    # answered 500 (found by the reliability corpus); both paths relay the bytes.
    raw = b"caf\xc3\xa9 \xe2\x82\xac \xff\x80"
    got = echoed(await sidecar.get("/function/echo", headers={"X-Raw": raw}))
    sent = {k.lower(): v for k, v in got["headers"].items()}  # Sanic's names are lower case
    assert sent["x-raw"] == raw.decode("latin-1")


class Answers503:
    """A replica that answers every request with one 503 and counts them: a
    draining watchdog's (its own error object's head and body), or a
    function's own."""

    def __init__(self, draining: bool) -> None:
        if draining:
            error = watchdog_errors.draining()
            headers, body = error.headers(), error.body(None)
        else:
            headers, body = [("Content-Type", "text/plain"), ("X-Own", "yes")], b"busy\n"
        head = "".join(f"{n}: {v}\r\n" for n, v in headers)
        self.answer = (f"HTTP/1.1 503 Service Unavailable\r\n{head}"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                       ).encode() + body
        self.requests = 0

    async def start(self, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", port)

    async def _serve(self, reader, writer) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")  # answered at the head, as the watchdog
            self.requests += 1
            writer.write(self.answer)
            await writer.drain()
        writer.close()


# A fork-mode function that writes a line per run to $TMPDIR/runs; /slow runs 5 s.
RECORDING = ("sh -c 'echo \"$Http_Path\" >> \"$TMPDIR/runs\"; "
             "if [ \"$Http_Path\" = /slow ]; then sleep 5; fi; echo ran'")


@contextlib.contextmanager
def watchdogs(tmp_path, count):
    """``count`` real watchdogs (one worker each) running RECORDING:
    (process, port, its runs file) each."""
    procs, started = [], []
    try:
        for i in range(count):
            tmp = tmp_path / f"wd{i}"
            tmp.mkdir()
            port = free_port()
            proc = subprocess.Popen(watchdog_argv(), env=watchdog_env(
                tmp, port=str(port), fprocess=RECORDING, workers="1"))
            procs.append(proc)
            assert wait_for(lambda: proc.poll() is None and port_answers(port), 10)  # noqa: B023
            started.append((proc, port, tmp / "runs"))
        yield started
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def runs(path):
    return path.read_text().split() if path.exists() else []


async def test_a_call_to_a_draining_watchdog_goes_to_another_replica_once(sidecar, tmp_path):
    """Discovery lags: the table still lists a watchdog that drains (SIGTERM,
    a call in flight keeps it draining). Its 503 replica_draining never reaches
    a client: each call runs once, on the other replica, and the draining one
    leaves the rotation after its first such answer."""
    with watchdogs(tmp_path, 2) as ((leaving, leaving_port, leaving_runs),
                                    (_, staying_port, staying_runs)):
        sidecar.tables.publish(table(spec("wd", [leaving_port, staying_port]), generation=2))
        slow = asyncio.create_task(asyncio.to_thread(
            _get, leaving_port, "/slow"))  # straight to it, not through the sidecar
        assert await asyncio.to_thread(wait_for, lambda: runs(leaving_runs) == ["/slow"], 5)
        leaving.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)  # healthcheck_interval 0: draining now
        answers = [await sidecar.post(f"/function/wd/call{i}", content=b"x") for i in range(6)]
        answers += await asyncio.gather(*(sidecar.post(f"/function/wd/many{i}", content=b"y")
                                          for i in range(6)))
        assert [(a.status_code, a.text) for a in answers] == [(200, "ran\n")] * 12
        assert all("x-swarmfaas-draining" not in a.headers for a in answers)
        assert sorted(runs(staying_runs)) == sorted(
            [f"/call{i}" for i in range(6)] + [f"/many{i}" for i in range(6)])
        text = (await sidecar.get("/metrics")).text
        assert metric(text, 'swarmfaas_proxy_retries_total{function_name="wd"}') == 1
        assert metric(text, "swarmfaas_proxy_replicas_out ") == 1
        # Only the draining one left, and an upload streamed to it (over
        # BUFFER_LIMIT: not held, so not sent again): the sidecar's 503.
        sidecar.tables.publish(table(spec("wd", [leaving_port]), generation=3))
        big = await sidecar.post("/function/wd/big", content=b"z" * (3 << 20))
        assert (big.status_code, big.headers["x-swarmfaas-internal"]) == (503, "sidecar")
        assert big.json()["error"] == "no_ready_replica"
        assert runs(leaving_runs) == ["/slow"]  # nothing else ran there
        assert await slow == 200  # the call in flight when it drained finished


def _get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


async def test_a_draining_answer_with_no_other_replica_is_the_sidecars_503(sidecar):
    draining = Answers503(draining=True)
    server = await draining.start(ANSWERS_503)
    try:
        sidecar.tables.publish(table(spec("leaving", [ANSWERS_503]), generation=2))
        started = asyncio.get_running_loop().time()
        response = await sidecar.post("/function/leaving", content=b"x")
        waited = asyncio.get_running_loop().time() - started
    finally:
        server.close()
    # Tried again after pauses (doubling from 20 ms) within the call's bound
    # for a replica (HOLD_TIMEOUT, 1 s), as after refused connects; then
    # answered as no replica ready: the sidecar's 503, not the watchdog's.
    assert response.status_code == 503
    assert response.headers["x-swarmfaas-internal"] == "sidecar"
    assert "x-swarmfaas-draining" not in response.headers
    assert response.json()["error"] == "no_ready_replica"
    assert 0.5 <= waited < 1.5, waited
    assert draining.requests > 1


async def test_a_functions_own_503_reaches_the_client_unchanged(sidecar):
    own = Answers503(draining=False)
    server = await own.start(ANSWERS_503)
    try:
        sidecar.tables.publish(table(spec("own", [ANSWERS_503, LIVE]), generation=2))
        answers = [await sidecar.post("/function/own", content=b"x") for _ in range(4)]
    finally:
        server.close()
    mine = [a for a in answers if a.status_code == 503]
    assert len(mine) == own.requests >= 1  # each went to the client, none was resent
    for answer in mine:
        assert (answer.text, answer.headers["x-own"]) == ("busy\n", "yes")
        assert "x-swarmfaas-internal" not in answer.headers
    text = (await sidecar.get("/metrics")).text
    assert metric(text, 'swarmfaas_proxy_retries_total{function_name="own"}') == 0
    assert metric(text, "swarmfaas_proxy_replicas_out ") == 0
