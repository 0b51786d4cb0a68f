"""The queue in front of full replicas, against a real watchdog with max_inflight.

A real fwatchdog (fork mode, ``max_inflight=1``) runs a function that sleeps
for ``?s=<seconds>``, appends its body to a file and echoes it; the sidecar's
fixed table points several functions with different queue bounds at it. Every
test runs on both paths (fastpath.py and Sanic's, FAST_PATH=false).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sanic import Sanic
from test_proxy import FixedTables, serving, spec, table
from test_scalerwake import received

from faas_sidecar import app as app_module
from faas_sidecar.callqueue import QueueBounds
from faas_sidecar.config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "watchdog"))
from wdkit import free_port, port_answers, wait_for, watchdog_env

FUNCTION = """
import os, sys, time
time.sleep(float(os.environ.get("Http_Query", "s=0")[2:] or 0))
body = sys.stdin.buffer.read()
with open(os.environ["CALLS"], "ab") as calls:
    calls.write(body + b"\\n")
sys.stdout.buffer.write(body)
"""


@pytest.fixture(scope="module")
def watchdog(tmp_path_factory):
    """One real watchdog taking one call at a time (max_inflight=1)."""
    tmp = tmp_path_factory.mktemp("queue-wd")
    (tmp / "fn.py").write_text(FUNCTION)
    calls = tmp / "calls"
    port = free_port()
    env = watchdog_env(tmp, port=str(port), max_inflight="1", exec_timeout="10",
                       fprocess=f"{sys.executable} {tmp / 'fn.py'}", CALLS=str(calls))
    proc = subprocess.Popen([sys.executable, "-m", "fwatchdog"], env=env)
    assert wait_for(lambda: proc.poll() is not None or port_answers(port)), "no watchdog"
    yield port, calls
    proc.terminate()
    proc.wait(10)


def queued(name, port, **bounds):
    """A function on the watchdog, with the sidecar's view of its limit."""
    return dataclasses.replace(spec(name, [port]), queue=QueueBounds(**bounds))


@pytest.fixture(params=["fast", "sanic"])
async def sidecar(watchdog, request, scaler_udp):
    port, calls = watchdog
    calls.write_bytes(b"")
    Sanic.test_mode = True
    config = load_config({"FUNCTIONS_NETWORK": "n", "HOLD_TIMEOUT": "1",
                          "CONNECT_TIMEOUT": "0.5", "COLD_START_TIMEOUT": "5",
                          "SCALER_WAKE": f"127.0.0.1:{scaler_udp.getsockname()[1]}",
                          "FAST_PATH": "true" if request.param == "fast" else "false"})
    app = app_module.SidecarApp("sidecar_queue_test")
    app_module.setup_sanic_config(app, config)
    app_module.setup_errors(app)
    app_module.setup_metrics(app)
    app.ctx.discovery = FixedTables(table(
        queued("q", port, max_inflight=1, length=10, wait=5),
        queued("short", port, max_inflight=1, length=1, wait=5),
        queued("brief", port, max_inflight=1, length=10, wait=0.4),
        # this sidecar thinks 2 fit; the watchdog takes 1 (another sidecar's load)
        queued("shared", port, max_inflight=2, length=10, wait=5),
        dataclasses.replace(queued("hot", port, max_inflight=1, length=10, wait=5),
                            measures_cpu=True),  # swarmfaas.scale.type=cpu
        dataclasses.replace(queued("cold", port, max_inflight=1, length=10, wait=5),
                            replicas=(), desired_replicas=0, scales_to_zero=True),
    ))
    app_module.setup_proxy(app, config)
    app_module.setup_function_routes(app, root_post=True)
    # a free port, not a fixed one: other checkouts may run these tests at once
    async with serving(app, free_port()) as client:
        client.calls = calls  # type: ignore[attr-defined]
        client.tables = app.ctx.discovery  # type: ignore[attr-defined]
        client.port = port  # type: ignore[attr-defined]
        yield client


async def timed(client, name, body, seconds, **kw):
    start = time.monotonic()
    response = await client.post(f"/function/{name}?s={seconds}", content=body, **kw)
    return response, time.monotonic() - start


async def staggered(client, name, bodies, seconds):
    """Requests sent one after another 50 ms apart (their arrival order)."""
    tasks = []
    for body in bodies:
        tasks.append(asyncio.create_task(timed(client, name, body, seconds)))
        await asyncio.sleep(0.05)
    return await asyncio.gather(*tasks)


def calls_made(client):
    return client.calls.read_bytes().split()


async def metric(client, line_start):
    text = (await client.get("/metrics")).text
    return [line for line in text.splitlines() if line.startswith(line_start)]


async def test_full_replicas_queue_calls_and_serve_them_in_arrival_order(sidecar):
    results = await staggered(sidecar, "q", [b"a", b"b", b"c", b"d"], 0.25)
    for (response, _), body in zip(results, [b"a", b"b", b"c", b"d"], strict=True):
        assert response.status_code == 200, response.text  # no 429 from the watchdog
        assert response.content == body
    assert calls_made(sidecar) == [b"a", b"b", b"c", b"d"]  # the function's own order
    took = [t for _, t in results]
    assert took[3] > 0.25 * 3.5  # it waited its turn behind three calls
    waited = await metric(sidecar, 'swarmfaas_queue_wait_seconds_count{function_name="q"}')
    assert waited == ['swarmfaas_queue_wait_seconds_count{function_name="q"} 3.0']


async def test_the_queue_length_bound_answers_429_with_retry_after(sidecar):
    first = asyncio.create_task(timed(sidecar, "short", b"a", 0.6))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(timed(sidecar, "short", b"b", 0))
    await asyncio.sleep(0.1)
    assert await metric(sidecar, 'swarmfaas_function_queued{function_name="short"}') == \
        ['swarmfaas_function_queued{function_name="short"} 1.0']
    inflight = await metric(sidecar, 'gateway_function_invocation_inflight{function_name="short"}')
    assert inflight == ['gateway_function_invocation_inflight{function_name="short"} 1.0']
    refused, took = await timed(sidecar, "short", b"c", 0)
    assert took < 0.3  # at once, not after a wait
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-swarmfaas-internal"] == "sidecar"
    assert refused.json()["error"] == "function_queue_full"
    assert "swarmfaas.queue.length" in refused.json()["reason"]
    assert [r.status_code for r, _ in await asyncio.gather(first, second)] == [200, 200]
    assert calls_made(sidecar) == [b"a", b"b"]


async def test_the_queue_wait_bound_answers_429(sidecar):
    first = asyncio.create_task(timed(sidecar, "brief", b"a", 1.2))
    await asyncio.sleep(0.1)
    refused, took = await timed(sidecar, "brief", b"b", 0)
    assert 0.35 < took < 1.0
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert "swarmfaas.queue.wait" in refused.json()["reason"]
    assert (await first)[0].status_code == 200
    assert calls_made(sidecar) == [b"a"]
    assert await metric(sidecar, 'swarmfaas_queue_dropped_total{cause="wait"') == \
        ['swarmfaas_queue_dropped_total{cause="wait",function_name="brief"} 1.0']


async def test_a_client_that_left_is_dropped_and_never_reaches_the_function(sidecar):
    first = asyncio.create_task(timed(sidecar, "q", b"a", 0.6))
    await asyncio.sleep(0.1)
    with pytest.raises(httpx.ReadTimeout):
        await sidecar.post("/function/q?s=0", content=b"gone", timeout=0.15)
    last = asyncio.create_task(timed(sidecar, "q", b"c", 0))
    await asyncio.sleep(0.1)
    # gone at once: only the third call waits now
    assert await metric(sidecar, 'swarmfaas_function_queued{function_name="q"}') == \
        ['swarmfaas_function_queued{function_name="q"} 1.0']
    assert [r.status_code for r, _ in await asyncio.gather(first, last)] == [200, 200]
    assert calls_made(sidecar) == [b"a", b"c"]
    assert await metric(sidecar, 'swarmfaas_queue_dropped_total{cause="left"') == \
        ['swarmfaas_queue_dropped_total{cause="left",function_name="q"} 1.0']


async def test_a_watchdog_at_max_inflight_sends_the_call_back_to_the_queue(sidecar):
    # The sidecar lets two go; the watchdog refuses the second with its own
    # 429 (the function never ran), and the sidecar tries it again once free.
    results = await staggered(sidecar, "shared", [b"a", b"b"], 0.4)
    assert [r.status_code for r, _ in results] == [200, 200], results[1][0].text
    assert calls_made(sidecar) == [b"a", b"b"]
    assert results[1][1] > 0.4  # it ran after the first


async def test_a_function_below_its_limit_does_not_wait(sidecar):
    response, _ = await timed(sidecar, "q", b"x", 0)
    assert response.status_code == 200 and response.content == b"x"
    assert await metric(sidecar, 'swarmfaas_queue_wait_seconds_count{function_name="q"}') == []


async def test_a_call_queued_behind_full_replicas_nudges_the_scaler_once(sidecar, scaler_udp):
    first = asyncio.create_task(timed(sidecar, "q", b"a", 0.6))
    await asyncio.sleep(0.1)
    assert await received(scaler_udp) == []  # a call that goes straight through: no nudge
    queued_calls = [asyncio.create_task(timed(sidecar, "q", body, 0))
                    for body in (b"b", b"c", b"d")]
    # the first to wait nudges; the others find it waiting
    assert await received(scaler_udp, 1) == [b"q"]
    assert [r.status_code for r, _ in await asyncio.gather(first, *queued_calls)] == [200] * 4


async def test_calls_held_at_zero_nudge_the_scaler_once(sidecar, scaler_udp):
    held = [asyncio.create_task(sidecar.get("/function/cold/")) for _ in range(5)]
    assert await received(scaler_udp, 1) == [b"cold"]
    sidecar.tables.publish(table(dataclasses.replace(
        queued("cold", sidecar.port, max_inflight=1, length=10, wait=5), scales_to_zero=True),
        generation=2))
    assert [(await call).status_code for call in held] == [200] * 5


async def test_the_watchdogs_cpu_reports_become_cores_per_function(sidecar):
    """The real watchdog reports its cgroup's count (on this host, the root
    cgroup: the machine's); for a cpu-scaled function two answers a span apart
    give a figure in the sidecar's metrics. No client ever sees the report, and
    other functions' reports are not kept."""
    answers = []
    for name in ("hot", "q"):
        answers.append((await timed(sidecar, name, b"a", 0))[0])
    await asyncio.sleep(1.1)  # a whole SPAN on the watchdog's clock
    for name in ("hot", "q"):
        answers.append((await timed(sidecar, name, b"b", 0))[0])
    assert [a.status_code for a in answers] == [200] * 4
    assert all("x-swarmfaas-cpu" not in {k.lower() for k in a.headers} for a in answers)
    [line] = await metric(sidecar, 'swarmfaas_function_cpu_cores{function_name="hot"}')
    assert 0 < float(line.rsplit(" ", 1)[1]) <= os.cpu_count() + 0.5
    assert await metric(sidecar, 'swarmfaas_function_cpu_cores{function_name="q"}') == []
