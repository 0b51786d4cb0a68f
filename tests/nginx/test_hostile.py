"""Malformed and hostile requests against the real nginx, over TLS: every one
is answered with the platform's JSON 4xx (X-Swarmfaas-Internal: nginx), or,
for HTTP/2 framing errors, refused at the protocol level; never a 5xx, never
nginx's own HTML, never a crashed worker, and never forwarded to the sidecar.

Raw bytes over TLS for HTTP/1.1; the `h2` library (checks off) and raw frames
for HTTP/2. The front door is conftest's production shape (DOMAIN=localhost,
1k body limit, 2 s client timeouts)."""

from __future__ import annotations

import json

import pytest
from h2_client import exchange, frame, h2_context
from ng_harness import raw_https, tls_context

pytestmark = pytest.mark.slow

H = b"Host: localhost\r\n"
C = b"Connection: close\r\n"


def req(line: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    return line + b"\r\n" + H + b"".join(h + b"\r\n" for h in headers) + C + b"\r\n" + body


# (name, raw request, status on the wire, error code)
HTTP1_CASES = [
    # request lines
    ("garbage request line", b"GARBAGE\r\n\r\n", 400, "bad_request"),
    ("method only", b"GET\r\n\r\n", 400, "bad_request"),
    ("lowercase method", req(b"get /function/echo HTTP/1.1"), 400, "bad_request"),
    ("NUL byte in the path", req(b"GET /function/a\x00b HTTP/1.1"), 400, "bad_request"),
    ("control byte in the path", req(b"GET /function/a\x7fb HTTP/1.1"), 400, "bad_request"),
    ("over-long URI", req(b"GET /" + b"a" * 70000 + b" HTTP/1.1"), 414, "uri_too_long"),
    ("CONNECT", req(b"CONNECT localhost:443 HTTP/1.1"), 400, "bad_request"),
    ("OPTIONS *", req(b"OPTIONS * HTTP/1.1"), 400, "bad_request"),
    ("HTTP/2 preface on HTTP/1.1", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "bad_request"),
    ("unknown HTTP version", req(b"GET / HTTP/9.9"), 400, "unsupported_http_version"),
    ("malformed HTTP version", req(b"GET / HTTP/1.x"), 400, "bad_request"),
    ("TRACE", req(b"TRACE /function/echo HTTP/1.1"), 405, "method_not_allowed"),
    ("path above the root", req(b"GET /../etc/passwd HTTP/1.1"), 400, "bad_request"),
    ("bad percent-encoding", req(b"GET /function/a%zz HTTP/1.1"), 400, "bad_request"),
    ("encoded path above the root", req(b"GET /%2e%2e/x HTTP/1.1"), 400, "bad_request"),
    ("an error page's own URI", req(b"GET /.swarmfaas/error/500 HTTP/1.1"), 404, "not_found"),
    ("a path no route serves", req(b"GET /etc/passwd HTTP/1.1"), 404, "not_found"),
    ("GET /alexa", req(b"GET /alexa HTTP/1.1"), 405, "method_not_allowed"),
    # hosts
    ("no Host on HTTP/1.1", b"GET /function/echo HTTP/1.1\r\n" + C + b"\r\n", 400, "bad_request"),
    ("two Host headers", req(b"GET /function/echo HTTP/1.1", b"Host: other"), 400, "bad_request"),
    (
        "a Host with a slash",
        b"GET /function/echo HTTP/1.1\r\nHost: a/b\r\n" + C + b"\r\n",
        400,
        "bad_request",
    ),
    (
        "another Host",
        b"GET /function/echo HTTP/1.1\r\nHost: evil.example\r\n" + C + b"\r\n",
        421,
        "unknown_host",
    ),
    ("absolute URI to another host", req(b"GET http://evil.example/ HTTP/1.1"), 421,
     "unknown_host"),
    # headers
    ("headers over the buffers", req(b"GET / HTTP/1.1", b"X-A: " + b"a" * 20000), 400,
     "request_header_too_large"),
    ("many headers", req(b"GET / HTTP/1.1", *[b"X-%d: v" % i for i in range(6000)]), 400,
     "request_header_too_large"),
    # nginx drops an invalid header line (ignore_invalid_headers) and goes on.
    ("a header line without a colon", req(b"GET / HTTP/1.1", b"NoColonHere"), 404, "not_found"),
    ("a bare CR in a header value", req(b"GET / HTTP/1.1", b"X-A: a\rb"), 400, "bad_request"),
    ("a NUL in a header value", req(b"GET / HTTP/1.1", b"X-A: a\x00b"), 400, "bad_request"),
    # bodies and framing (request smuggling)
    (
        "Content-Length and Transfer-Encoding",
        req(b"POST /function/echo HTTP/1.1", b"Content-Length: 3", b"Transfer-Encoding: chunked",
            body=b"0\r\n\r\n"),
        400,
        "bad_request",
    ),
    (
        "two Content-Lengths",
        req(b"POST /function/echo HTTP/1.1", b"Content-Length: 3", b"Content-Length: 4",
            body=b"abcd"),
        400,
        "bad_request",
    ),
    ("negative Content-Length", req(b"POST /function/echo HTTP/1.1", b"Content-Length: -1"), 400,
     "bad_request"),
    ("Content-Length not a number", req(b"POST /function/echo HTTP/1.1", b"Content-Length: 1e3"),
     400, "bad_request"),
    (
        "Content-Length over 2^64",
        req(b"POST /function/echo HTTP/1.1", b"Content-Length: 99999999999999999999999"),
        400,
        "bad_request",
    ),
    ("Content-Length over the body limit",
     req(b"POST /function/echo HTTP/1.1", b"Content-Length: 5000"), 413, "body_too_large"),
    ("chunked body over the body limit",
     req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: chunked",
         body=b"1388\r\n" + b"a" * 5000 + b"\r\n0\r\n\r\n"), 413, "body_too_large"),
    ("a bad chunk size", req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: chunked",
                             body=b"zz\r\nabc\r\n0\r\n\r\n"), 400, "bad_request"),
    ("Transfer-Encoding gzip", req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: gzip"),
     400, "unsupported_transfer_coding"),
    ("Transfer-Encoding gzip, chunked",
     req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: gzip, chunked"), 400,
     "unsupported_transfer_coding"),
    ("Transfer-Encoding identity",
     req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: identity"), 400,
     "unsupported_transfer_coding"),
]


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def is_platform_error(status, headers, body, want_status, want_error) -> None:
    assert status == want_status, body[:200]
    assert headers.get("x-swarmfaas-internal") == "nginx", headers
    assert headers.get("content-type") == "application/json", headers
    doc = json.loads(body)
    assert (doc["error"], doc["status"], doc["component"]) == (want_error, want_status, "nginx")


@pytest.fixture(scope="module")
def ctx(dev_ca):
    return tls_context(dev_ca / "ca.pem")


@pytest.fixture(scope="module")
def h2ctx(dev_ca):
    return h2_context(str(dev_ca / "ca.pem"))


@pytest.mark.parametrize(
    ("request_bytes", "status", "error"),
    [pytest.param(r, s, e, id=n) for n, r, s, e in HTTP1_CASES],
)
def test_http1_client_errors_are_platform_json(front, ctx, upstream, request_bytes, status, error):
    before = len(upstream.seen)
    raw, _ = raw_https(front.https_port, ctx, "localhost", request_bytes)
    is_platform_error(*parse(raw), status, error)
    assert len(upstream.seen) == before  # refused at the front door


def test_http09_gets_the_json_body_alone(front, ctx):
    # HTTP/0.9 has no status line or headers: nginx sends the body only.
    raw, _ = raw_https(front.https_port, ctx, "localhost", b"GET /\r\n")
    assert json.loads(raw)["component"] == "nginx"


# -- HTTP/2 ----------------------------------------------------------------------
def h(method=b"GET", path=b"/function/echo", *extra: tuple[bytes, bytes], drop=()):
    base = [(b":method", method), (b":scheme", b"https"), (b":authority", b"localhost"),
            (b":path", path)]
    return [kv for kv in base if kv[0] not in drop] + list(extra)


# (name, headers, body, status, error code)
H2_STREAM_CASES = [
    ("no :path", h(drop=(b":path",)), None, 400, "bad_request"),
    ("no :method", h(drop=(b":method",)), None, 400, "bad_request"),
    ("no :scheme", h(drop=(b":scheme",)), None, 400, "bad_request"),
    ("two :path", h(b"GET", b"/function/echo", (b":path", b"/x")), None, 400, "bad_request"),
    ("an unknown pseudo-header", h(b"GET", b"/function/echo", (b":foo", b"x")), None, 400,
     "bad_request"),
    ("a pseudo-header after a header", h(b"GET", b"/f", (b"x-a", b"1"), (b":foo", b"x")), None,
     400, "bad_request"),
    ("lowercase :method", h(b"get"), None, 400, "bad_request"),
    (":path without a slash", h(b"GET", b"function/echo"), None, 400, "bad_request"),
    (":path above the root", h(b"GET", b"/../etc/passwd"), None, 400, "bad_request"),
    ("CONNECT", h(b"CONNECT", b"/"), None, 405, "method_not_allowed"),
    ("TRACE", h(b"TRACE"), None, 405, "method_not_allowed"),
    ("body shorter than content-length",
     h(b"POST", b"/function/echo", (b"content-length", b"10")), b"abc", 400, "bad_request"),
    ("body longer than content-length",
     h(b"POST", b"/function/echo", (b"content-length", b"1")), b"abc", 400, "bad_request"),
    ("content-length over the body limit",
     h(b"POST", b"/function/echo", (b"content-length", b"5000")), b"a" * 5000, 413,
     "body_too_large"),
    ("another :authority", [(b":method", b"GET"), (b":scheme", b"https"),
                            (b":authority", b"evil.example"), (b":path", b"/function/echo")],
     None, 421, "unknown_host"),
    ("an error page's own URI", h(b"GET", b"/.swarmfaas/error/502"), None, 404, "not_found"),
    ("content-length and no body", h(b"POST", b"/function/echo", (b"content-length", b"5000")),
     None, 400, "bad_request"),
]


@pytest.mark.parametrize(
    "header", [b"connection", b"transfer-encoding", b"upgrade", b"keep-alive"]
)
def test_http2_hop_by_hop_headers_never_reach_the_sidecar(front, h2ctx, upstream, header):
    # Malformed in HTTP/2, and harmless: nginx drops them and frames the body
    # itself, so nothing can smuggle a second request to the sidecar.
    headers = h(b"POST", b"/function/echo", (header, b"chunked"))
    got = exchange(front.https_port, h2ctx, headers, b"abc")
    assert got.status == 200
    seen = upstream.seen[-1]
    assert header.decode() not in seen.headers and seen.body == b"abc"
    assert seen.headers["content-length"] == "3"


# Malformed in HTTP/2's own terms (RFC 9113 8.2.1, 8.3): nginx refuses the
# stream (RST_STREAM) or the connection (GOAWAY), with no response to carry a
# status. (name, headers, the refusal)
H2_REFUSED_CASES = [
    ("NUL in :path", h(b"GET", b"/function/a\x00b"), "reset"),
    ("an uppercase header name", h(b"GET", b"/function/echo", (b"X-Function", b"echo")), "reset"),
    ("a NUL in a header value", h(b"GET", b"/function/echo", (b"x-a", b"a\x00b")), "reset"),
    # Over large_client_header_buffers: ENHANCE_YOUR_CALM on the connection.
    ("an over-long :path", h(b"GET", b"/" + b"a" * 70000), "goaway"),
    ("a huge header", h(b"GET", b"/function/echo", (b"x-a", b"a" * 20000)), "goaway"),
]


@pytest.mark.parametrize(
    ("headers", "body", "status", "error"),
    [pytest.param(hd, b, s, e, id=n) for n, hd, b, s, e in H2_STREAM_CASES],
)
def test_http2_client_errors_are_platform_json(
    front, h2ctx, upstream, headers, body, status, error
):
    before = len(upstream.seen)
    got = exchange(front.https_port, h2ctx, headers, body)
    if got.status is None:
        # Refused at the protocol level (RST_STREAM / GOAWAY): no 5xx either.
        assert got.reset is not None or got.goaway is not None, got
        pytest.fail(f"no response, refused with reset={got.reset} goaway={got.goaway}")
    is_platform_error(got.status, got.headers, got.body, status, error)
    assert len(upstream.seen) == before


@pytest.mark.parametrize(
    ("headers", "refusal"), [pytest.param(hd, r, id=n) for n, hd, r in H2_REFUSED_CASES]
)
def test_malformed_http2_requests_are_refused(front, h2ctx, upstream, headers, refusal):
    before = len(upstream.seen)
    got = exchange(front.https_port, h2ctx, headers)
    assert got.status is None, got
    assert (got.reset if refusal == "reset" else got.goaway) is not None, got
    assert len(upstream.seen) == before


# Frames no client library sends: (name, raw frames). nginx ends the
# connection (GOAWAY, whichever error code it picks) and answers nothing.
H2_FRAME_CASES = [
    ("DATA on stream 0", frame(0x0, 0x1, 0, b"abc")),
    ("HEADERS on an even stream", frame(0x1, 0x5, 2, b"\x82")),
    ("HEADERS with a broken HPACK block", frame(0x1, 0x5, 3, b"\xff\xff\xff\xff")),
    ("SETTINGS with a bad length", frame(0x4, 0x0, 0, b"\x00\x01\x00")),
    ("SETTINGS on a stream", frame(0x4, 0x0, 1, b"")),
    ("PING with a bad length", frame(0x6, 0x0, 0, b"\x00" * 7)),
    ("WINDOW_UPDATE of 0 on the connection", frame(0x8, 0x0, 0, b"\x00\x00\x00\x00")),
    ("DATA on an idle stream, over the frame size", frame(0x0, 0x0, 1, b"a" * 20000)),
    ("CONTINUATION without HEADERS", frame(0x9, 0x4, 1, b"\x82")),
    ("PRIORITY depending on itself", frame(0x2, 0x0, 5, b"\x00\x00\x00\x05\x10")),
]


@pytest.mark.parametrize("raw", [pytest.param(r, id=n) for n, r in H2_FRAME_CASES])
def test_http2_framing_errors_are_refused_at_the_protocol_level(front, h2ctx, upstream, raw):
    before = len(upstream.seen)
    got = exchange(front.https_port, h2ctx, [], raw=raw)
    assert got.status is None, got
    assert got.goaway is not None or got.closed, got
    assert len(upstream.seen) == before


def test_nginx_survives_the_corpus_and_logs_no_internal_error(front, ctx):
    """Run after the cases above (file order): the workers are up and no
    request ended in nginx's 500 path."""
    raw, _ = raw_https(
        front.https_port, ctx, "localhost", req(b"GET /function/echo HTTP/1.1")
    )
    assert parse(raw)[0] == 200
    log = front.log.read_text(errors="replace")
    for marker in ("empty URI in redirect", "[alert]", "[emerg]", "worker process exited"):
        assert marker not in log
    statuses = [int(e["status"]) for e in front.access_entries()]
    assert statuses and all(s < 500 or s in (502, 504) for s in statuses)
