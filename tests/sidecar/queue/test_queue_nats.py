"""Asynchronous calls end to end on real parts, without Docker: a real
``nats-server -js`` process, the real sidecar app (routes, proxy, system API)
on 127.0.0.1, the real queue worker, and a function that records what
reaches it. The routing table is a fixed snapshot pointing at that function.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
from types import MappingProxyType, SimpleNamespace

import httpx
import pytest
from queue_harness import NatsServer, Recorder, free_port
from sanic import Sanic

from faas_sidecar import app as app_module
from faas_sidecar.config import load_config
from faas_sidecar.errors import INTERNAL_HEADER
from faas_sidecar.model import FunctionSpec, Replica, RoutingTable
from faas_sidecar.queue.broker import Broker
from faas_sidecar.queue.config import WorkerConfig
from faas_sidecar.queue.labels import AsyncPolicy
from faas_sidecar.queue.metrics import WorkerMetrics
from faas_sidecar.queue.policy import Backoff
from faas_sidecar.queue.worker import Worker
from faas_sidecar.system import SystemApiConfig, setup_system_api
from faas_sidecar.webhooks.labels import WebhookCheck
from faas_sidecar.webhooks.signatures import Scheme

pytestmark = pytest.mark.slow

TOKEN = "queue-token-for-the-tests-0123456789"
HOOK_SECRET = b"hook secret"
USER, PASSWORD = "admin", "pw-for-dead-letters"
AUTH = (USER, PASSWORD)
BODY_LIMIT = 300_000


def spec(name: str, port: int, **changes) -> FunctionSpec:
    base = FunctionSpec(name=name, service_id=name, service_name=name, image="i",
                        timeout=5.0, desired_replicas=1,
                        replicas=(Replica(name, "127.0.0.1", port),))
    return dataclasses.replace(base, **changes)


def github(body: bytes, delivery: str) -> dict[str, str]:
    digest = hmac.new(HOOK_SECRET, body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery}


@pytest.fixture
def nats_server(tmp_path):
    server = NatsServer(tmp_path / "js")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def recorder():
    rec = Recorder()
    rec.start()
    yield rec
    rec.fixed = True
    rec.hang = 0
    rec.stop()


@pytest.fixture
async def sidecar(nats_server, recorder, tmp_path):
    """The sidecar's app pieces on a real port, with the system API; the
    client has ``.port``, ``.broker`` and ``.proxy``."""
    Sanic.test_mode = True
    (tmp_path / "gh-secret").write_bytes(HOOK_SECRET)
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "user").write_text(USER)
    (tmp_path / "password").write_text(PASSWORD)
    config = load_config({"FUNCTIONS_NETWORK": "n", "HOLD_TIMEOUT": "1",
                          "WEBHOOK_SECRETS_DIR": str(tmp_path), "QUEUE_URL": nats_server.url,
                          "QUEUE_TOKEN_FILE": str(tmp_path / "token"),
                          "ASYNC_BODY_LIMIT": str(BODY_LIMIT),
                          "CALLBACK_ALLOWLIST": "127.0.0.1"})
    port = free_port()
    r = recorder.port
    functions = [
        spec("rec", r),
        spec("always", r, async_policy=AsyncPolicy(always=True)),
        spec("failing", r, async_policy=AsyncPolicy(attempts=3)),
        spec("signed", r, webhook=WebhookCheck(Scheme("github"), ("gh-secret",))),
    ]
    table = RoutingTable(functions=MappingProxyType({f.name: f for f in functions}),
                         built_at=1.0, generation=1)
    app = app_module.SidecarApp(f"queue_test_{port}")
    app_module.setup_sanic_config(app, config)
    app_module.setup_errors(app)
    app_module.setup_metrics(app)
    app.ctx.discovery = SimpleNamespace(table=table, changed=asyncio.Event)
    app_module.setup_proxy(app, config)
    app.ctx.system_admin = SimpleNamespace(close=lambda: None)
    setup_system_api(app, SystemApiConfig(auth_user_file=str(tmp_path / "user"),
                                          auth_password_file=str(tmp_path / "password")))
    app_module.setup_function_routes(app, root_post=True)
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        client.port = port  # type: ignore[attr-defined]
        client.proxy = app.ctx.proxy  # type: ignore[attr-defined]
        yield client
    await server.before_stop()
    await server.close()
    await server.after_stop()
    Sanic._app_registry.pop(f"queue_test_{port}", None)


def worker_config(nats_url: str, sidecar_port: int, **changes) -> WorkerConfig:
    base = WorkerConfig(queue_url=nats_url, token=TOKEN, sidecar=("127.0.0.1", sidecar_port),
                        ack_wait=2.0, delivery_timeout=10.0,
                        callback_allowlist=("127.0.0.1",),
                        backoff=Backoff(base=0.05, factor=2.0, cap=0.2))
    return dataclasses.replace(base, **changes)


@contextlib.asynccontextmanager
async def running_worker(nats_url: str, sidecar_port: int):
    """The queue worker, in this process, until the block ends; its metrics."""
    metrics = WorkerMetrics()
    broker = Broker(nats_url)
    stop = asyncio.Event()
    task = asyncio.create_task(
        Worker(worker_config(nats_url, sidecar_port), broker, metrics).run(stop))
    try:
        yield metrics
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await broker.close()


@pytest.fixture
async def worker(nats_server, sidecar):
    async with running_worker(nats_server.url, sidecar.port) as metrics:
        yield metrics


async def until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {check}")


def accepted(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    assert response.headers[INTERNAL_HEADER] == "sidecar"
    doc = response.json()
    assert doc["status"] == "accepted"
    assert doc["call_id"] == response.headers["x-call-id"]
    return doc["call_id"]


async def test_a_call_is_answered_202_then_delivered_exactly_as_stored(sidecar, worker,
                                                                        recorder):
    body = bytes(range(256)) * 100 + b"\r\n\r\nend"
    response = await sidecar.post("/async-function/rec/a/b?x=1&y=%20z", content=body,
                                  headers={"X-Custom": "kept", "Content-Type": "app/x",
                                           "X-Call-Id": "my-call-1"})
    assert accepted(response) == "my-call-1"  # a sane caller's id is kept
    [seen] = await until(lambda: recorder.calls("my-call-1"))
    assert (seen.method, seen.path, seen.query) == ("POST", "/a/b", "x=1&y=%20z")
    assert seen.body == body
    assert seen.headers["x-custom"] == "kept"
    assert seen.headers["content-type"] == "app/x"
    assert seen.attempt == 1
    assert "x-swarmfaas-delivery" not in seen.headers  # the token never reaches a function
    # counted once the worker has the answer, a moment after the function saw the call
    await until(lambda: worker.delivered.labels("rec")._value.get() == 1)


async def test_every_one_of_many_calls_is_delivered_once(sidecar, worker, recorder):
    n = 60
    responses = await asyncio.gather(*(
        sidecar.put(f"/async-function/rec/n/{i}", content=f"call {i}".encode())
        for i in range(n)))
    ids = {accepted(r): i for i, r in enumerate(responses)}
    assert len(ids) == n
    await until(lambda: len(recorder.seen) >= n)
    await asyncio.sleep(0.3)  # nothing more comes
    assert sorted(s.call_id for s in recorder.seen) == sorted(ids)
    for seen in recorder.seen:
        assert seen.body == f"call {ids[seen.call_id]}".encode()
        assert seen.path == f"/n/{ids[seen.call_id]}"


async def test_a_failed_delivery_is_retried_with_the_attempt_number(sidecar, worker,
                                                                      recorder):
    call_id = accepted(await sidecar.post("/async-function/rec/flaky/3", content=b"x"))
    await until(lambda: len(recorder.calls(call_id)) >= 3)
    await asyncio.sleep(0.5)
    assert [s.attempt for s in recorder.calls(call_id)] == [1, 2, 3]
    assert worker.retries.labels("rec", "server_error")._value.get() == 2
    assert worker.delivered.labels("rec")._value.get() == 1


async def test_unknown_function_is_a_404_and_nothing_is_stored(sidecar, nats_server):
    response = await sidecar.post("/async-function/nope", content=b"x")
    assert response.status_code == 404
    assert response.json()["error"] == "function_not_found"
    assert await sidecar.proxy.queue.oldest() == {}


async def test_a_body_over_the_limit_is_a_413(sidecar):
    response = await sidecar.post("/async-function/rec", content=b"x" * (BODY_LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"] == "async_body_too_large"


async def test_an_unreachable_broker_is_a_json_503(sidecar):
    sidecar.proxy.queue = Broker(f"nats://127.0.0.1:{free_port()}", timeout=0.5)
    response = await sidecar.post("/async-function/rec", content=b"x")
    assert response.status_code == 503
    assert response.headers[INTERNAL_HEADER] == "sidecar"
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "queue_unavailable"


async def test_a_signed_function_checks_the_signature_before_storing(sidecar, worker,
                                                                       recorder):
    body = b'{"action": "opened"}'
    bad = await sidecar.post("/async-function/signed", content=body,  # signed another body
                             headers={**github(body + b"!", "d-0"), "X-Call-Id": "forged"})
    assert bad.status_code == 401
    assert bad.json()["error"] == "webhook_signature_invalid"
    good = await sidecar.post("/async-function/signed", content=body + b" ",
                              headers={**github(body + b" ", "d-1"), "X-Call-Id": "real"})
    assert accepted(good) == "real"
    again = await sidecar.post("/async-function/signed", content=body + b" ",
                               headers={**github(body + b" ", "d-1"), "X-Call-Id": "again"})
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"  # the sender's redelivery: stored once
    [seen] = await until(lambda: recorder.calls("real"))
    assert seen.body == body + b" "
    assert seen.headers["x-hub-signature-256"].startswith("sha256=")
    await asyncio.sleep(0.3)
    assert [s.call_id for s in recorder.seen] == ["real"]


async def test_the_async_label_makes_function_answer_202_and_delivers_once(sidecar, worker,
                                                                           recorder):
    call_id = accepted(await sidecar.post("/function/always/hook", content=b"payload"))
    [seen] = await until(lambda: recorder.calls(call_id))
    assert (seen.path, seen.body, seen.attempt) == ("/hook", b"payload", 1)
    await asyncio.sleep(0.5)
    assert len(recorder.seen) == 1  # the delivery was not stored again
    # Without the worker's token, the delivery header is no way around it.
    forged = await sidecar.post("/function/always", content=b"p",
                                headers={"X-Swarmfaas-Delivery": "guess"})
    assert forged.status_code == 202


async def test_a_call_that_always_fails_ends_in_the_dead_letters_and_replays(
        sidecar, worker, recorder):
    call_id = accepted(await sidecar.post("/async-function/failing/fail?q=1",
                                          content=b"\x00dead body",
                                          headers={"X-Mine": "yes"}))
    await until(lambda: len(recorder.calls(call_id)) >= 3)
    listed = await until_listed(sidecar)
    [letter] = listed
    assert letter["call_id"] == call_id
    assert (letter["function"], letter["cause"], letter["status"], letter["attempts"]) == \
        ("failing", "server_error", 500, 3)
    assert [s.attempt for s in recorder.calls(call_id)] == [1, 2, 3]
    assert worker.dead_letters.labels("failing", "server_error")._value.get() == 1
    # Auth on every dead-letter route.
    assert (await sidecar.get("/system/dead-letters")).status_code == 401
    whole = (await sidecar.get(f"/system/dead-letters/{letter['id']}", auth=AUTH)).json()
    assert base64.b64decode(whole["body_base64"]) == b"\x00dead body"
    # as it came: the fast path keeps the name as sent (Sanic lower-cased it)
    assert ["X-Mine", "yes"] in whole["headers"]
    assert (whole["path"], whole["query"]) == ("/fail", "q=1")
    # Fixed, then replayed: delivered once more, with attempts from 1.
    recorder.fixed = True
    replay = await sidecar.post(f"/system/dead-letters/{letter['id']}/replay", auth=AUTH)
    assert replay.status_code == 202
    assert replay.headers["x-call-id"] == call_id
    await until(lambda: len(recorder.calls(call_id)) == 4)
    assert recorder.calls(call_id)[-1].attempt == 1
    assert (await sidecar.get("/system/dead-letters", auth=AUTH)).json() == []
    missing = await sidecar.get(f"/system/dead-letters/{letter['id']}", auth=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"] == "dead_letter_not_found"


async def until_listed(sidecar, count: int = 1) -> list[dict]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listed = (await sidecar.get("/system/dead-letters?function=failing",
                                    auth=AUTH)).json()
        if len(listed) >= count:
            return listed
        await asyncio.sleep(0.05)
    raise AssertionError("no dead letter")


async def test_dead_letters_can_be_deleted_and_paged(sidecar, worker, recorder):
    ids = [accepted(await sidecar.post("/async-function/failing/fail", content=b"x"))
           for _ in range(3)]
    listed = await until_listed(sidecar, 3)
    assert sorted(d["call_id"] for d in listed) == sorted(ids)
    first = (await sidecar.get("/system/dead-letters?limit=2", auth=AUTH)).json()
    rest = (await sidecar.get(f"/system/dead-letters?after={first[-1]['id']}",
                              auth=AUTH)).json()
    assert [d["id"] for d in first + rest] == [d["id"] for d in listed]
    gone = await sidecar.delete(f"/system/dead-letters/{listed[0]['id']}", auth=AUTH)
    assert gone.status_code == 204
    assert len((await sidecar.get("/system/dead-letters", auth=AUTH)).json()) == 2
    bad = await sidecar.get("/system/dead-letters?limit=x", auth=AUTH)
    assert bad.status_code == 400
    # deleted already, far past the end, or no id at all: 404 and 400, never a 5xx
    again = await sidecar.delete(f"/system/dead-letters/{listed[0]['id']}", auth=AUTH)
    assert again.status_code == 404 and again.json()["error"] == "dead_letter_not_found"
    past = await sidecar.delete("/system/dead-letters/99999", auth=AUTH)
    assert past.status_code == 404 and past.json()["error"] == "dead_letter_not_found"
    for raw in ("x", "0", "-1", "1.5", "\u00b2"):
        odd = await sidecar.get(f"/system/dead-letters/{raw}", auth=AUTH)
        assert odd.status_code == 400 and odd.json()["error"] == "invalid_request", raw


async def test_a_killed_worker_loses_nothing(sidecar, nats_server, recorder, tmp_path):
    """A real worker process, killed (SIGKILL) while its delivery hangs: the broker
    gives the call to the next worker after WORKER_ACK_WAIT, as attempt 2."""
    env = {**os.environ, "QUEUE_URL": nats_server.url,
           "QUEUE_TOKEN_FILE": str(tmp_path / "token"),
           "WORKER_SIDECAR": f"127.0.0.1:{sidecar.port}", "WORKER_ACK_WAIT": "1",
           "WORKER_METRICS_PORT": str(free_port())}
    proc = subprocess.Popen([sys.executable, "-m", "faas_sidecar.queue"], env=env)
    try:
        call_id = accepted(await sidecar.post("/async-function/rec/hang-first",
                                              content=b"keep me"))
        await until(lambda: recorder.calls(call_id), timeout=20)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    recorder.hang = 0
    async with running_worker(nats_server.url, sidecar.port) as metrics:
        await until(lambda: len(recorder.calls(call_id)) >= 2, timeout=15)
    second = recorder.calls(call_id)[1]
    assert (second.attempt, second.body) == (2, b"keep me")
    assert metrics.delivered.labels("rec")._value.get() == 1


async def test_stored_calls_survive_a_broker_restart(sidecar, nats_server, recorder):
    call_id = accepted(await sidecar.post("/async-function/rec/after-restart",
                                          content=b"durable"))
    nats_server.stop()
    nats_server.start()
    async with running_worker(nats_server.url, sidecar.port):
        [seen] = await until(lambda: recorder.calls(call_id), timeout=15)
    assert seen.body == b"durable"


async def test_the_result_is_posted_to_the_callback_url(sidecar, worker, recorder):
    callback = f"http://127.0.0.1:{recorder.port}/callback/here?k=v"
    call_id = accepted(await sidecar.post("/async-function/rec/work", content=b"job",
                                          headers={"X-Callback-Url": callback}))
    [result] = await until(lambda: [s for s in recorder.seen if s.path == "/callback/here"])
    assert (result.method, result.query, result.call_id) == ("POST", "k=v", call_id)
    assert result.headers["x-function-name"] == "rec"
    assert result.headers["x-function-status"] == "200"
    assert float(result.headers["x-duration-seconds"]) >= 0
    assert result.headers["content-type"] == "application/json"
    assert result.body == b'{"ok": true}'  # what the function answered
    assert worker.callbacks.labels("rec", "sent")._value.get() == 1


async def test_a_callback_url_outside_the_allowlist_is_a_400_and_not_stored(sidecar):
    response = await sidecar.post("/async-function/rec", content=b"x",
                                  headers={"X-Callback-Url": "http://169.254.169.254/"})
    assert response.status_code == 400
    assert response.headers[INTERNAL_HEADER] == "sidecar"
    assert response.json()["error"] == "callback_not_allowed"
    assert await sidecar.proxy.queue.oldest() == {}


async def test_the_queue_depth_and_the_oldest_age_by_function(sidecar):
    for _ in range(3):
        accepted(await sidecar.post("/async-function/rec", content=b"x"))
    accepted(await sidecar.post("/async-function/failing", content=b"y"))
    await asyncio.sleep(0.2)
    found = await sidecar.proxy.queue.oldest()  # no worker runs: all still stored
    assert {name: count for name, (count, _age) in found.items()} == {"rec": 3, "failing": 1}
    assert 0.2 <= found["rec"][1] < 10


async def test_a_resent_call_is_stored_once_and_a_reused_call_id_is_not_lost(
        sidecar, worker, recorder):
    for body in (b"same", b"same", b"other"):
        accepted(await sidecar.post("/async-function/rec/d", content=body,
                                    headers={"X-Call-Id": "resent-1"}))
    await until(lambda: len(recorder.calls("resent-1")) >= 2)
    await asyncio.sleep(0.5)
    assert sorted(s.body for s in recorder.calls("resent-1")) == [b"other", b"same"]
