"""engineclient: the one Docker client factory and the one map of docker-py /
requests exceptions to the platform's errors (pure: no Engine is dialled)."""

from __future__ import annotations

import json

import docker.errors
import msgspec
import pytest
import requests

from faas_sidecar.engineclient import (
    API_VERSION,
    EngineError,
    api_client,
    docker_client,
    engine_calls,
    engine_error,
    platform_error,
)
from faas_sidecar.errors import PlatformError

TOKEN = "t" * 32


class FakeResponse:
    """Just what docker.errors.APIError reads from a response."""

    def __init__(self, status: int) -> None:
        self.status_code = status
        self.reason = "reason"
        self.url = "http://docker/x"


def api_error(status: int, explanation: str | None = "explained") -> docker.errors.APIError:
    return docker.errors.APIError("boom", response=FakeResponse(status), explanation=explanation)


# -- the factory ---------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda url, token: api_client(url, timeout=7.5, token=token),
    lambda url, token: docker_client(url, timeout=7.5, token=token).api,
])
@pytest.mark.parametrize(("token", "authorization"), [
    (None, None), (TOKEN, f"Bearer {TOKEN}"),
])
def test_clients_pin_the_version_carry_the_token_and_the_timeout(make, token, authorization):
    api = make("tcp://127.0.0.1:9", token)  # never dialled: the constructor does not call
    try:
        assert api._version == API_VERSION
        assert api.timeout == 7.5
        assert api.headers.get("Authorization") == authorization
    finally:
        api.close()


def test_no_url_is_the_default_socket():
    api = api_client(None, timeout=1)
    try:
        assert api.base_url == "http+docker://localhost"  # docker-py's name for the unix socket
    finally:
        api.close()


@pytest.mark.parametrize("make", [api_client, docker_client])
def test_a_url_docker_cannot_use_is_an_engine_error(make):
    with pytest.raises(EngineError, match="connecting to the Docker Engine"):
        make("gopher://127.0.0.1:9", timeout=1)


# -- docker-py / requests -> EngineError -----------------------------------------

@pytest.mark.parametrize(("exc", "status", "detail"), [
    (api_error(404, "no such service"), 404, "no such service"),
    (api_error(403, "the engine gate refuses"), 403, "the engine gate refuses"),
    (api_error(500, None), 500, None),  # no explanation: docker-py's own text
    (docker.errors.NotFound("gone", response=FakeResponse(404), explanation="gone"), 404,
     "gone"),
    (docker.errors.DockerException("no socket"), None, "DockerException"),
    (requests.exceptions.ConnectionError("refused"), None, "ConnectionError"),
    (requests.exceptions.ReadTimeout("slow"), None, "ReadTimeout"),
    (FileNotFoundError(2, "no such file"), None, "FileNotFoundError"),
    (ConnectionResetError(104, "reset"), None, "ConnectionResetError"),
    (json.JSONDecodeError("garbled", "{", 0), None, "JSONDecodeError"),  # a garbled answer
    (msgspec.DecodeError("truncated"), None, "DecodeError"),  # listing.py's decode
    (msgspec.ValidationError("Expected `object`, got `array` - at `$[0].Spec`"), None,
     "ValidationError"),  # a listing of another shape
])
def test_engine_error_keeps_the_status_and_the_detail(exc, status, detail):
    err = engine_error(exc, "listing")
    assert (err.status, err.action) == (status, "listing")
    assert err.detail == (detail or str(exc))
    assert str(err).startswith("listing: ")


@pytest.mark.parametrize("bug", [KeyError("k"), TypeError("t"), ValueError("not JSON"),
                                 AttributeError("a")])
def test_bugs_are_not_hidden(bug):
    with pytest.raises(type(bug)):
        engine_error(bug, "listing")
    with pytest.raises(type(bug)), engine_calls("listing"):
        raise bug


def test_engine_calls_translates_and_chains():
    with pytest.raises(EngineError) as info, engine_calls("inspecting network 'n'"):
        raise api_error(404, "network n not found")
    assert info.value.status == 404
    assert isinstance(info.value.__cause__, docker.errors.APIError)


@pytest.mark.parametrize("passing", [PlatformError(404, "function_not_found", "no"),
                                     EngineError("x", status=500)])
def test_engine_calls_lets_platform_errors_through(passing):
    with pytest.raises(type(passing)) as info, engine_calls("scale"):
        raise passing
    assert info.value is passing


# -- -> the platform error a client sees -------------------------------------------

@pytest.mark.parametrize(("exc", "action", "status", "code", "reason"), [
    (api_error(403, "bind mount"), "deploy", 403, "refused_by_engine_gate",
     "deploy: bind mount"),
    (api_error(409, "name conflicts"), "deploy", 409, "conflict",
     "deploy: Docker reports a conflict: name conflicts"),
    (api_error(404, "gone"), "update", 404, "function_not_found", "update: gone"),
    (api_error(404, "network x not found"), "deploy", 400, "rejected_by_docker",
     "deploy: Docker refused: network x not found"),
    (api_error(400, "bad constraint"), "update", 400, "rejected_by_docker",
     "update: Docker refused: bad constraint"),
    (api_error(503, "not a manager"), "list", 502, "docker_error",
     "list: Docker Engine error 503: not a manager"),
    (requests.exceptions.ConnectionError("refused"), "list", 502, "docker_unavailable",
     "list: the Docker Engine cannot be reached (ConnectionError)"),
    # an EngineError from an adapter's engine_calls maps the same as the raw exception
    (engine_error(api_error(409, "x"), "scale"), "scale", 409, "conflict",
     "scale: Docker reports a conflict: x"),
    (engine_error(OSError(2, "no socket"), "list"), "list", 502, "docker_unavailable",
     "list: the Docker Engine cannot be reached (FileNotFoundError)"),
])
def test_platform_error(exc, action, status, code, reason):
    err = platform_error(exc, action)
    assert (err.status, err.code, err.reason) == (status, code, reason)


def test_platform_error_of_a_bug_raises_it():
    with pytest.raises(KeyError):
        platform_error(KeyError("bug"), "list")


# -- stream_get: one streamed GET over a unix socket -------------------------------
# A real HTTP/1.1 server on a unix socket stands in for the Engine's wire: what
# is tested is the client's framing (head, chunked body in any pieces, an error
# answer, closing), not the Engine.

async def _engine_like(path, answer):
    """Serve ``answer(request_head, writer)`` on a unix socket; returns the
    server and the list of request heads and 'closed' marks it saw."""
    import asyncio

    seen: list = []

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.decode("latin-1"))
        try:
            await answer(writer)
            while await reader.read(1024):
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            seen.append("closed")
            writer.close()

    server = await asyncio.start_unix_server(handle, path=str(path))
    return server, seen


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_stream_get_reads_a_chunked_answer_in_any_pieces(tmp_path):
    import asyncio

    from faas_sidecar.engineclient import stream_get

    body = b"frame-one|frame-two|frame-three"

    async def answer(writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker"
                     b".multiplexed-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        wire = b"".join(_chunk(body[i:i + 7]) for i in range(0, len(body), 7)) + b"0\r\n\r\n"
        for i in range(0, len(wire), 5):  # the wire in 5-byte pieces
            writer.write(wire[i:i + 5])
            await writer.drain()
            await asyncio.sleep(0)

    server, seen = await _engine_like(tmp_path / "e.sock", answer)
    async with server:
        stream = await stream_get(f"unix://{tmp_path / 'e.sock'}", "/services/abc/logs",
                                  {"stdout": "1", "tail": "all"}, token=TOKEN, timeout=5,
                                  action="logs")
        got = b"".join([piece async for piece in stream])
    assert got == body
    head = seen[0]
    assert head.startswith(f"GET /v{API_VERSION}/services/abc/logs?stdout=1&tail=all HTTP/1.1")
    assert f"Authorization: Bearer {TOKEN}" in head


async def test_stream_get_raises_the_engines_error_before_any_byte(tmp_path):
    from faas_sidecar.engineclient import stream_get

    async def answer(writer):
        body = json.dumps({"message": "service abc not found"}).encode()
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    server, _ = await _engine_like(tmp_path / "e.sock", answer)
    async with server:
        with pytest.raises(EngineError) as info:
            await stream_get(f"unix://{tmp_path / 'e.sock'}", "/services/abc/logs", {},
                             token=None, timeout=5, action="logs")
    assert (info.value.status, info.value.detail) == (404, "service abc not found")
    assert platform_error(info.value, "logs").code == "rejected_by_docker"


async def test_closing_a_quiet_stream_closes_the_connection(tmp_path):
    import asyncio

    from faas_sidecar.engineclient import stream_get

    async def answer(writer):
        # then nothing new: the stream stays open until the client leaves
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunk(b"x"))
        await writer.drain()

    server, seen = await _engine_like(tmp_path / "e.sock", answer)
    async with server:
        stream = await stream_get(f"unix://{tmp_path / 'e.sock'}", "/x", {}, token=None,
                                  timeout=5, action="logs")
        assert await anext(stream) == b"x"
        await asyncio.sleep(0.1)
        assert "closed" not in seen  # still open while the client follows
        await stream.aclose()
        for _ in range(100):
            if "closed" in seen:
                break
            await asyncio.sleep(0.02)
    assert "closed" in seen  # the Engine side saw the connection end


async def test_an_unreachable_engine_is_an_engine_error_without_a_status(tmp_path):
    from faas_sidecar.engineclient import stream_get

    with pytest.raises(EngineError) as info:
        await stream_get(f"unix://{tmp_path / 'nobody.sock'}", "/x", {}, token=None,
                         timeout=2, action="logs")
    assert info.value.status is None
    assert platform_error(info.value, "logs").code == "docker_unavailable"
