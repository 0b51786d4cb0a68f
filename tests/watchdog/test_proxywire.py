"""The http-mode head scans (proxywire): tables of heads, checked against the general parser."""

from __future__ import annotations

import pytest

from fwatchdog.httpwire import HttpError, parse_head, parse_response_head
from fwatchdog.proxywire import cut, scan_request, scan_response


def scan(raw: str, limit: int = 1000):
    data = raw.replace("\n", "\r\n").replace("<LF>", "\n").encode() + b"\r\n\r\n"
    return data, scan_request(data, data.find(b"\r\n\r\n"), limit)


@pytest.mark.parametrize(("raw", "keep_alive", "length", "call_id", "forwarded"), [
    ("GET / HTTP/1.1\nHost: h", True, 0, b"", "GET / HTTP/1.1\nHost: h"),
    ("POST /f?q=1 HTTP/1.1\nHost: h\nContent-Length: 12\nX-Call-Id: AbC-1 ", True, 12, b"AbC-1",
     "POST /f?q=1 HTTP/1.1\nHost: h\nContent-Length: 12\nX-Call-Id: AbC-1 "),
    ("GET / HTTP/1.1\nConnection: keep-alive\nHost: h\nKeep-Alive: timeout=5\nTE: trailers",
     True, 0, b"", "GET / HTTP/1.1\nHost: h"),
    ("GET / HTTP/1.1\nHost: h\nconnection: Close", False, 0, b"", "GET / HTTP/1.1\nHost: h"),
    ("GET / HTTP/1.0\nHost: h", False, 0, b"", "GET / HTTP/1.0\nHost: h"),
    ("GET / HTTP/1.0\nHost: h\nConnection: keep-alive", True, 0, b"", "GET / HTTP/1.0\nHost: h"),
    ("GET / HTTP/1.1\nHost: h\nUpgrade: h2c\nProxy-Connection: x", True, 0, b"",
     "GET / HTTP/1.1\nHost: h"),
    ("GET / HTTP/1.1\nX-Connection: close\nHost: h", True, 0, b"",
     "GET / HTTP/1.1\nX-Connection: close\nHost: h"),
])
def test_scan_request_fits(raw, keep_alive, length, call_id, forwarded):
    data, got = scan(raw)
    assert got is not None
    assert (got.keep_alive, got.content_length, got.call_id) == (keep_alive, length, call_id)
    assert cut(data, 0, len(data), got.cuts) == forwarded.replace("\n", "\r\n").encode() + \
        b"\r\n\r\n"
    general = parse_head(data[:-4], 1000)  # same reading as the general parser
    assert (general.keep_alive, general.content_length or 0) == (keep_alive, length)
    assert got.method.decode() == general.method


@pytest.mark.parametrize("raw", [
    "GET / HTTP/1.1",  # no Host: the general path adds one
    "GET /_/health HTTP/1.1\nHost: h",  # the watchdog's own endpoints
    "POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked",
    "POST / HTTP/1.1\nHost: h\nExpect: 100-continue\nContent-Length: 3",
    "GET / HTTP/1.1\nHost: h\nConnection: close, X-Private",
    "POST / HTTP/1.1\nHost: h\nContent-Length: 3\nContent-Length: 3",
    "POST / HTTP/1.1\nHost: h\nContent-Length: +3",
    "GET / HTTP/1.1\nHost : h",  # space before the colon
    "GET / HTTP/1.1\nHost: h\n folded",  # obs-fold
    "GET / HTTP/1.1\nHost: h\nX: a\nb",  # a line without a colon
    "GET / HTTP/1.1\nHost: h\nX: a<LF>Y: b",  # bare LF
    "GET / HTTP/1.1\nHost: h\nX: a\x00b",
    "GET / HTTP/2.0\nHost: h",
    "GET /a b HTTP/1.1\nHost: h",
    "G(T / HTTP/1.1\nHost: h",
    "GET / HTTP/1.1\n: empty-name\nHost: h",
])
def test_scan_request_leaves_the_rest_to_the_general_parser(raw):
    assert scan(raw)[1] is None


def test_scan_request_refuses_a_body_over_the_limit_from_its_length():
    with pytest.raises(HttpError) as caught:
        scan("POST / HTTP/1.1\nHost: h\nContent-Length: 1001", limit=1000)
    assert caught.value.status == 413


SANIC = ("HTTP/1.1 200 OK\ncontent-length: 13\nconnection: keep-alive\n"
         "content-type: text/plain; charset=utf-8")


@pytest.mark.parametrize(("raw", "method", "status", "length", "keep_alive", "kept", "ids"), [
    (SANIC, b"GET", 200, 13, True,
     "HTTP/1.1 200 OK\ncontent-length: 13\ncontent-type: text/plain; charset=utf-8",
     (False, True)),
    (SANIC, b"HEAD", 200, 0, True,
     "HTTP/1.1 200 OK\ncontent-length: 13\ncontent-type: text/plain; charset=utf-8",
     (False, True)),
    ("HTTP/1.1 404 Not Found\nContent-Length: 0\nConnection: close\nX-Call-Id: c", b"GET", 404,
     0, False, "HTTP/1.1 404 Not Found\nContent-Length: 0\nX-Call-Id: c", (True, False)),
    ("HTTP/1.1 201 \nX-Duration-Seconds: 9\nContent-Length: 2\nKeep-Alive: timeout=5",
     b"POST", 201, 2, True, "HTTP/1.1 201 \nContent-Length: 2", (False, False)),
    # a function's own draining marker is cut: only the watchdog makes one
    ("HTTP/1.1 503 \nX-Swarmfaas-Draining: 1\nContent-Length: 2", b"GET", 503, 2, True,
     "HTTP/1.1 503 \nContent-Length: 2", (False, False)),
])
def test_scan_response_fits(raw, method, status, length, keep_alive, kept, ids):
    data = raw.replace("\n", "\r\n").encode()
    got = scan_response(data, len(data), method)
    assert got is not None
    assert (got.status, got.content_length, got.keep_alive) == (status, length, keep_alive)
    assert got.head == kept.replace("\n", "\r\n").encode()
    assert (got.has_call_id, got.has_content_type) == ids
    general = parse_response_head(data, method.decode())
    assert (general.status, general.content_length, general.keep_alive) == \
        (status, length, keep_alive)


@pytest.mark.parametrize("raw", [
    "HTTP/1.0 200 OK\nContent-Length: 1",  # re-framed by the general path
    "HTTP/1.1 100 Continue",
    "HTTP/1.1 204 No Content",
    "HTTP/1.1 304 Not Modified\nContent-Length: 5",
    "HTTP/1.1 200 OK\nTransfer-Encoding: chunked",
    "HTTP/1.1 200 OK\nContent-Type: text/plain",  # body runs to close
    "HTTP/1.1 200 OK\nContent-Length: 1\nContent-Length: 1",
    "HTTP/1.1 200 OK\nContent-Length: 1\nConnection: X-Private",
    "HTTP/1.1 2x0 OK\nContent-Length: 1",
    "HTTP/1.10 200 OK\nContent-Length: 1",
])
def test_scan_response_leaves_the_rest_to_the_general_path(raw):
    data = raw.replace("\n", "\r\n").encode()
    assert scan_response(data, len(data), b"GET") is None


def test_deadlines_expire_in_order_and_forget_finished_exchanges():
    import asyncio

    from fwatchdog.deadlines import COMPACT_MIN, Deadlines

    class Fake:
        def __init__(self, deadline: float) -> None:
            self.deadline = deadline
            self.over = False

        def timed_out(self) -> None:
            self.over = True
            expired.append(self)

    expired: list[Fake] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        deadlines = Deadlines(0.05)
        slow = Fake(loop.time() + 0.05)
        deadlines.add(slow)  # type: ignore[arg-type]
        for _ in range(3 * COMPACT_MIN):  # finished quickly behind the slow one
            fast = Fake(loop.time() + 0.05)
            deadlines.add(fast)  # type: ignore[arg-type]
            fast.over = True
        assert len(deadlines.queue) < 2 * COMPACT_MIN + 2
        late = Fake(loop.time() + 0.15)
        deadlines.add(late)  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        assert expired == [slow]
        await asyncio.sleep(0.1)
        assert expired == [slow, late]

    asyncio.run(scenario())
