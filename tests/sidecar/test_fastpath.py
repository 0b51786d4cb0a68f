"""The lean function path (faas_sidecar.fastpath): which heads it takes, and, on
a real server over raw sockets, that it hands everything else to Sanic intact.

tests/sidecar/test_proxy.py runs the proxy's whole behaviour on both paths;
these tests cover what only this path does: pipelining, the hand-over in the
middle of a keep-alive connection, Connection: close, the idle timeout, a
client that leaves, and that plain requests really skip Sanic.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from sanic import Sanic
from test_proxy import FixedTables, spec, table

from faas_sidecar import app as app_module
from faas_sidecar.config import load_config
from faas_sidecar.fastpath import FAST_BODY_LIMIT, parse_head

PORT = 18820
ECHO = 18821
RUDE = 18822  # answers once per connection, then drops it unanswered (rude_server)

GET = b"GET /function/echo/a?b=1 HTTP/1.1\r\nHost: h\r\nAccept: */*"


@pytest.mark.parametrize(
    ("head", "taken"),
    [
        (GET, True),
        (b"POST /function/echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5", True),
        (b"HEAD /function/echo/ HTTP/1.1", True),
        (b"DELETE /function/e-1/x/y HTTP/1.1\r\nX-Call-Id: abc", True),
        (b"GET /function/echo.openfaas-fn/a HTTP/1.1", True),
        (b"GET /function/echo.swarmfaas-fn?x=1 HTTP/1.1", True),
        # another namespace: Sanic answers its 404
        (b"GET /function/echo.other HTTP/1.1", False),
        (b"GET /function/echo.openfaas-fn.x HTTP/1.1", False),
        # not this path's: Sanic parses, routes or rejects them as before
        (b"GET /function/echo HTTP/1.0\r\nHost: h", False),
        (b"GET /healthz HTTP/1.1\r\nHost: h", False),
        (b"GET /function HTTP/1.1", False),
        (b"GET /function/ HTTP/1.1", False),
        (b"GET /function/echo#x HTTP/1.1", False),
        (b"GET /function/\xc3\xa9 HTTP/1.1", False),
        (b"BREW /function/echo HTTP/1.1", False),
        (b"GET  /function/echo HTTP/1.1", False),
        (b"POST /function/echo HTTP/1.1\r\nTransfer-Encoding: chunked", False),
        (b"POST /function/echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1", False),
        (b"GET /function/echo HTTP/1.1\r\nUpgrade: websocket", False),
        (b"POST /function/echo HTTP/1.1\r\nContent-Length: x", False),
        (b"POST /function/echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2", False),
        (b"POST /function/echo HTTP/1.1\r\nContent-Length: %d" % (FAST_BODY_LIMIT + 1), False),
        (b"GET /function/echo HTTP/1.1\r\nHost: h\r\n folded", False),
        (b"GET /function/echo HTTP/1.1\r\nBad Name: v", False),
        (b"GET /function/echo HTTP/1.1\r\nNoColon", False),
        (b"GET /function/echo HTTP/1.1\r\nX: a\x00b", False),
        (b"GET /function/echo HTTP/1.1\r\nX: a\rb", False),
    ],
)
def test_which_heads_the_fast_path_takes(head, taken):
    assert (parse_head(head) is not None) is taken


def test_parsed_head():
    plain = parse_head(b"POST /function/echo/a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\n"
                       b"Content-Length: 3\r\nConnection: keep-alive, close\r\nX-Call-Id: c-1")
    assert plain is not None
    assert (plain.method, plain.name, plain.path, plain.query) == ("POST", "echo", "/a/b",
                                                                   "x=1&y=2")
    assert (plain.body_length, plain.close, plain.x_call_id) == (3, True, "c-1")
    assert ("Host", "h") in plain.headers
    namespaced = parse_head(b"GET /function/echo.openfaas-fn/x?y HTTP/1.1")
    assert namespaced is not None and (namespaced.name, namespaced.path) == ("echo", "/x")
    bare = parse_head(b"GET /function/echo HTTP/1.1")
    assert bare is not None and (bare.path, bare.query, bare.body_length) == ("/", "", 0)
    assert not plain.asynchronous and not bare.asynchronous


def test_parsed_asynchronous_head():
    stored = parse_head(b"POST /async-function/echo.openfaas-fn/a?x=1 HTTP/1.1\r\n"
                        b"Content-Length: 2\r\nX-Call-Id: c-2")
    assert stored is not None and stored.asynchronous
    assert (stored.name, stored.path, stored.query, stored.body_length, stored.x_call_id) == \
        ("echo", "/a", "x=1", 2, "c-2")
    for other in (b"GET /async-functions/echo HTTP/1.1", b"GET /async-function HTTP/1.1",
                  b"GET /async-function/echo.other-ns HTTP/1.1"):
        assert parse_head(other) is None, other


@pytest.fixture
async def server(echo_server):
    echo_server(ECHO)
    Sanic.test_mode = True
    config = load_config({"FUNCTIONS_NETWORK": "n", "HOLD_TIMEOUT": "1"})
    app = app_module.SidecarApp("sidecar_fastpath_test")
    app.config.KEEP_ALIVE_TIMEOUT = 1
    app_module.setup_sanic_config(app, config)
    app_module.setup_errors(app)
    app_module.setup_metrics(app)
    app.ctx.discovery = FixedTables(table(spec("echo", [ECHO]), spec("slow", [ECHO], timeout=0.2),
                                          spec("rude", [RUDE])))
    app_module.setup_proxy(app, config)
    app_module.setup_function_routes(app, root_post=True)
    # Which requests went out without a task (Proxy.call_now took them).
    pending: list[bool] = []
    real_call_now = app.ctx.proxy.call_now

    def counting_call_now(*args, **kw):
        started = real_call_now(*args, **kw)
        pending.append(started is not None)
        return started

    app.ctx.proxy.call_now = counting_call_now
    app.ctx.pending = pending
    forwarded = []
    real_forward = app.ctx.proxy.forward

    async def counting_forward(request, name, **kw):
        forwarded.append(request.path)
        return await real_forward(request, name, **kw)

    app.ctx.proxy.forward = counting_forward
    srv = await app.create_server(host="127.0.0.1", port=PORT, return_asyncio_server=True)
    app.ctx.server = srv
    await srv.startup()
    await srv.before_start()
    await srv.after_start()
    app.ctx.forwarded = forwarded
    yield app
    await srv.before_stop()
    await srv.close()
    await srv.after_stop()
    Sanic._app_registry.pop("sidecar_fastpath_test", None)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if status == 100:
        return await read_response(reader)
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def test_plain_requests_skip_sanic_and_pipeline(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(GET + b"\r\n\r\n" + b"POST /function/echo/p HTTP/1.1\r\nHost: h\r\n"
                 b"Content-Length: 4\r\n\r\nbody")
    status, headers, body = await read_response(reader)
    assert status == 200 and json.loads(body)["path"] == "/a?b=1"
    assert len(headers["x-call-id"]) == 36
    status, _, body = await read_response(reader)
    assert status == 200 and json.loads(body)["body"] == "body"
    assert server.ctx.forwarded == []  # neither went through Sanic's handler
    writer.close()


async def test_hand_over_to_sanic_mid_connection(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    # fast, then Sanic's (/metrics), then a plain one that Sanic now serves too
    writer.write(GET + b"\r\n\r\n" + b"GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n" +
                 b"GET /function/echo/later HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (await read_response(reader))[0] == 200
    status, _, body = await read_response(reader)
    assert status == 200 and b"gateway_function_invocation_total" in body
    status, _, body = await read_response(reader)
    assert status == 200 and json.loads(body)["path"] == "/later"
    assert server.ctx.forwarded == ["/function/echo/later"]
    writer.close()


@pytest.mark.parametrize("head", [
    b"GET /function/echo/x HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    b"POST /function/echo/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n",
    b"POST /function/echo/x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
    b"Content-Length: 3\r\n\r\nabc",
])
async def test_what_sanic_takes_still_works(server, head):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(head)
    status, _, body = await read_response(reader)
    assert status == 200 and json.loads(body)["path"] == "/x"
    assert server.ctx.forwarded == ["/function/echo/x"]
    writer.close()


async def test_body_in_pieces_and_connection_close(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(b"PUT /function/echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                 b"Content-Length: 6\r\n\r\nab")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.write(b"cdef")
    status, headers, body = await read_response(reader)
    assert status == 200 and json.loads(body)["body"] == "abcdef"
    assert headers["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), 2) == b""  # closed by the sidecar
    writer.close()


async def test_platform_error_on_the_fast_path(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(b"GET /function/nope HTTP/1.1\r\nHost: h\r\nX-Call-Id: c-9\r\n\r\n" + GET +
                 b"\r\n\r\n")
    status, headers, body = await read_response(reader)
    assert status == 404 and headers["x-swarmfaas-internal"] == "sidecar"
    assert headers["x-call-id"] == "c-9"
    assert json.loads(body) == {"error": "function_not_found", "reason": "no function named "
                                "'nope'", "status": 404, "component": "sidecar",
                                "call_id": "c-9"}
    assert (await read_response(reader))[0] == 200  # the connection is still good
    writer.close()


async def test_idle_connection_is_closed(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(GET + b"\r\n\r\n")
    assert (await read_response(reader))[0] == 200
    # KEEP_ALIVE_TIMEOUT is 1 s here; the sweep may take up to twice that
    assert await asyncio.wait_for(reader.read(), 4) == b""
    writer.close()


async def test_client_leaving_is_a_499_and_harmless(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(b"GET /function/echo/sleep/0.5 HTTP/1.1\r\nHost: h\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    await asyncio.sleep(0.7)
    text = server.ctx.sidecar_metrics.render().decode()
    assert 'gateway_function_invocation_total{code="499",function_name="echo"} 1.0' in text
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(GET + b"\r\n\r\n")
    assert (await read_response(reader))[0] == 200
    writer.close()


async def request(reader, writer, head: bytes) -> tuple[int, dict[str, str], bytes]:
    writer.write(head)
    return await read_response(reader)


async def test_a_warm_connection_skips_the_task(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    for _ in range(3):
        assert (await request(reader, writer, GET + b"\r\n\r\n"))[0] == 200
    # the first needed a new connection to the replica (a task); then the pool's
    assert server.ctx.pending == [False, True, True]
    writer.close()


async def test_timeout_without_a_task_is_a_504(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    await request(reader, writer, b"GET /function/slow HTTP/1.1\r\nHost: h\r\n\r\n")
    status, headers, body = await request(
        reader, writer, b"GET /function/slow/sleep/3 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert server.ctx.pending == [False, True]
    assert status == 504 and json.loads(body)["error"] == "function_timeout"
    assert headers["x-swarmfaas-internal"] == "sidecar"
    status, _, _ = await request(reader, writer, GET + b"\r\n\r\n")
    assert status == 200  # the client's connection is still good
    text = server.ctx.sidecar_metrics.render().decode()
    assert 'gateway_function_invocation_total{code="504",function_name="slow"} 1.0' in text
    writer.close()


@pytest.fixture
async def rude_server():
    """A replica that closes a kept-alive connection when its second request
    arrives, unanswered: the race of a keep-alive timeout, every time."""

    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nrude")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", RUDE)
    yield
    srv.close()


async def test_a_pooled_connection_the_replica_dropped_is_retried(server, rude_server):
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    rude = b"GET /function/rude HTTP/1.1\r\nHost: h\r\n\r\n"
    for _ in range(4):
        status, _, body = await request(reader, writer, rude)
        assert (status, body) == (200, b"rude")
    assert server.ctx.pending == [False, True, True, True]
    text = server.ctx.sidecar_metrics.render().decode()
    assert 'swarmfaas_proxy_retries_total{function_name="rude"} 3.0' in text
    writer.close()


async def test_graceful_shutdown_answers_the_request_in_flight(server):
    busy_reader, busy = await asyncio.open_connection("127.0.0.1", PORT)
    await request(busy_reader, busy, GET + b"\r\n\r\n")  # warm: the next has no task
    idle_reader, idle = await asyncio.open_connection("127.0.0.1", PORT)
    busy.write(b"GET /function/echo/sleep/0.3 HTTP/1.1\r\nHost: h\r\n\r\n")
    await asyncio.sleep(0.1)
    closed_now = [conn.close_if_idle() for conn in list(server.ctx.server.connections)]
    assert sorted(closed_now) == [False, True]
    assert await asyncio.wait_for(idle_reader.read(), 2) == b""
    status, headers, _ = await read_response(busy_reader)
    assert status == 200 and headers["connection"] == "close"
    assert await asyncio.wait_for(busy_reader.read(), 2) == b""
    busy.close()
    idle.close()


async def test_namespaced_names_on_both_paths(server):
    """``<name>.<namespace>`` is served by the fast path for the platform's
    namespace and its alias, and by Sanic (chunked body, X-Function); any other
    namespace is a JSON 404 on the same keep-alive connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    requests = [
        (b"GET /function/echo.openfaas-fn/a HTTP/1.1\r\nHost: h\r\n\r\n", 200),
        (b"GET /function/echo.swarmfaas-fn/a HTTP/1.1\r\nHost: h\r\n\r\n", 200),
        (b"GET /function/echo.other/a HTTP/1.1\r\nHost: h\r\n\r\n", 404),
    ]
    for request, expected in requests:
        writer.write(request)
        status, headers, body = await read_response(reader)
        assert status == expected, body
        if status == 404:
            assert json.loads(body)["error"] == "namespace_not_found"
            assert "'swarmfaas-fn'" in json.loads(body)["reason"]
            assert headers["x-swarmfaas-internal"] == "sidecar"
        else:
            assert json.loads(body)["path"] == "/a"
    writer.close()
    # The two good ones went through the fast path's call_now, not Sanic
    assert len(server.ctx.pending) == 2 and server.ctx.forwarded == []
    # Sanic's own path: a chunked body, and X-Function with a namespace
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(b"POST /function/echo.openfaas-fn HTTP/1.1\r\nHost: h\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    status, _, body = await read_response(reader)
    assert status == 200 and json.loads(body)["body"] == "abc"
    for header, expected in ((b"echo.openfaas-fn", 200), (b"echo.nope", 404)):
        writer.write(b"GET /x HTTP/1.1\r\nHost: h\r\nX-Function: " + header + b"\r\n\r\n")
        status, _, body = await read_response(reader)
        assert status == expected, body
    writer.close()
