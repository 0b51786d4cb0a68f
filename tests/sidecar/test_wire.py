"""The sidecar's wire writers (wire.py): bytes out, by table."""

from __future__ import annotations

import pytest

from faas_sidecar import wire


@pytest.mark.parametrize(("status", "headers", "framing", "expected"), [
    (200, [], None, b"HTTP/1.1 200 OK\r\n\r\n"),
    (404, [("X-A", "1")], wire.content_length(3),
     b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\ncontent-length: 3\r\n\r\n"),
    (200, [("A", "b")], wire.CHUNKED,
     b"HTTP/1.1 200 OK\r\nA: b\r\ntransfer-encoding: chunked\r\n\r\n"),
    (299, [], None, b"HTTP/1.1 299 Unknown\r\n\r\n"),
    (401, [("V", "\xe9")], None, b"HTTP/1.1 401 Unauthorized\r\nV: \xe9\r\n\r\n"),
])
def test_response_head(status, headers, framing, expected):
    assert wire.response_head(status, headers, framing) == expected


def test_request_head():
    assert wire.request_head("POST", "/a?b=1", [("Host", "h"), ("Content-Length", "0")]) == \
        b"POST /a?b=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(("data", "frame"), [
    (b"a", b"1\r\na\r\n"), (b"x" * 26, b"1a\r\n" + b"x" * 26 + b"\r\n"),
])
def test_chunk_framing(data, frame):
    assert wire.chunk(data) == frame
    assert wire.LAST_CHUNK == b"0\r\n\r\n"


@pytest.mark.parametrize(("status", "method", "none"), [
    (200, "GET", False), (200, "HEAD", True), (204, "GET", True), (304, "GET", True),
    (101, "GET", True), (404, "POST", False),
])
def test_no_body(status, method, none):
    assert wire.no_body(status, method) is none


def test_every_reason_the_sidecar_and_gate_send_is_known():
    for status in (200, 400, 401, 403, 404, 413, 499, 500, 502, 503, 504):
        assert wire.reason(status) != "Unknown"
    assert "connection" in wire.HOP_BY_HOP and "content-length" not in wire.HOP_BY_HOP
