"""Pure cores: CGI environment, header policy, HTTP wire parsing. Table-driven, no IO."""

from __future__ import annotations

import pytest

from fwatchdog import cgroupcpu, errors
from fwatchdog.cgi import build_cgi_env, canonical_env_name
from fwatchdog.headers import (
    function_response_headers,
    proxied_response_headers,
    response_content_type,
    upstream_request_headers,
)
from fwatchdog.httpwire import ChunkedDecoder, HttpError, parse_head, parse_response_head


@pytest.fixture(autouse=True)
def no_cgroup_count(monkeypatch):
    """The header builders as in a process with no cgroup count to read (the
    host's own root cgroup is readable here): test_cgroupcpu.py covers the count."""
    monkeypatch.setattr(cgroupcpu, "_CPU", cgroupcpu.CgroupCpu(None))


def head(raw: str, limit: int = 1000):
    return parse_head(raw.replace("\n", "\r\n").encode(), limit)


@pytest.mark.parametrize(("header", "env"), [
    ("x-call-id", "Http_X_Call_Id"), ("content-type", "Http_Content_Type"),
    ("user-agent", "Http_User_Agent"), ("accept", "Http_Accept"), ("x-a-b-c", "Http_X_A_B_C"),
    ("dnt", "Http_Dnt"),
])
def test_canonical_env_name(header, env):
    assert canonical_env_name(header) == env


@pytest.mark.parametrize(("raw", "body_len", "expected", "absent"), [
    ("POST /fn/x?a=1&b=2 HTTP/1.1\nHost: h:8080\nContent-Type: text/plain\nContent-Length: 3",
     3, {"Http_Method": "POST", "Http_Path": "/fn/x", "Http_Query": "a=1&b=2",
         "Http_Content_Length": "3", "Http_Host": "h:8080", "Http_Content_Type": "text/plain",
         "BASE": "1"}, ["Http_Transfer_Encoding"]),
    ("GET / HTTP/1.1\nHost: h", 0,
     {"Http_Method": "GET", "Http_Path": "/", "Http_Content_Length": "0"}, ["Http_Query"]),
    ("DELETE /x HTTP/1.1\nX-Tag: a\nX-Tag: b", 0, {"Http_X_Tag": "a, b", "Http_Host": ""}, []),
    ("PUT /x HTTP/1.1\nTransfer-Encoding: chunked", 5,
     {"Http_Transfer_Encoding": "chunked", "Http_Content_Length": "5"}, []),
    ("PATCH /x HTTP/1.1\nHttp-Method: fake", 0, {"Http_Method": "PATCH"}, []),
])
def test_build_cgi_env(raw, body_len, expected, absent):
    env = build_cgi_env({"BASE": "1", "Http_Query": "stale"}, head(raw), body_len, True)
    for key, value in expected.items():
        assert env[key] == value
    for key in absent:
        assert key not in env


def test_cgi_headers_off_passes_only_base():
    assert build_cgi_env({"PATH": "/bin"}, head("GET /x?y HTTP/1.1\nA: b"), 0, False) == \
        {"PATH": "/bin"}


@pytest.mark.parametrize(("configured", "raw", "expected"), [
    ("", "POST / HTTP/1.1\nContent-Type: text/csv", "text/csv"),
    ("application/json", "POST / HTTP/1.1\nContent-Type: text/csv", "application/json"),
    ("", "GET / HTTP/1.1", None),
    # Control characters are not echoed into the answer (the sidecar made it a 502).
    ("", "POST / HTTP/1.1\nContent-Type: ;;;/\x7f", None),
    ("", "POST / HTTP/1.1\nContent-Type: a\x01b", None),
    ("", "POST / HTTP/1.1\nContent-Type: text/plain;\tcharset=utf-8", "text/plain;\tcharset=utf-8"),
])
def test_response_content_type(configured, raw, expected):
    assert response_content_type(configured, head(raw)) == expected


def test_function_response_headers_carry_call_id_and_duration():
    headers = dict(function_response_headers("", head("GET / HTTP/1.1\nX-Call-Id: c1"), 0.25))
    assert headers == {"X-Duration-Seconds": "0.250000", "X-Call-Id": "c1"}


def test_upstream_request_headers_drop_hop_by_hop():
    h = head("POST / HTTP/1.1\nHost: a\nConnection: keep-alive, X-Private\nX-Private: 1\n"
             "Keep-Alive: timeout=5\nTE: trailers\nUpgrade: h2c\nContent-Length: 0\nX-Ok: y")
    assert upstream_request_headers(h) == [("host", "a"), ("x-ok", "y")]


@pytest.mark.parametrize(("upstream", "configured", "raw", "expected"), [
    ([("Content-Type", "text/html"), ("Connection", "close"), ("Content-Length", "3")],
     "application/json", "GET / HTTP/1.1",
     [("Content-Type", "text/html"), ("X-Duration-Seconds", "0.001000")]),
    ([("Transfer-Encoding", "chunked"), ("X-A", "1")], "application/json",
     "GET / HTTP/1.1\nX-Call-Id: z",
     [("X-A", "1"), ("Content-Type", "application/json"), ("X-Call-Id", "z"),
      ("X-Duration-Seconds", "0.001000")]),
    ([("X-Call-Id", "up"), ("X-Duration-Seconds", "9")], "", "GET / HTTP/1.1\nX-Call-Id: z",
     [("X-Call-Id", "up"), ("X-Duration-Seconds", "0.001000")]),
    ([("X-Swarmfaas-Draining", "1"), ("X-A", "1")], "", "GET / HTTP/1.1",  # only ours marks
     [("X-A", "1"), ("X-Duration-Seconds", "0.001000")]),
])
def test_proxied_response_headers(upstream, configured, raw, expected):
    assert proxied_response_headers(upstream, configured, head(raw), 0.001) == expected


@pytest.mark.parametrize(("raw", "checks"), [
    ("GET /a?b=c HTTP/1.1\nHost: x", {"method": "GET", "path": "/a", "query": "b=c",
                                      "keep_alive": True, "content_length": 0}),
    ("GET / HTTP/1.0", {"keep_alive": False}),
    ("GET / HTTP/1.0\nConnection: keep-alive", {"keep_alive": True}),
    ("POST / HTTP/1.1\nConnection: close\nContent-Length: 10", {"keep_alive": False,
                                                                "content_length": 10}),
    ("POST / HTTP/1.1\nTransfer-Encoding: chunked", {"chunked": True, "content_length": None}),
    ("POST / HTTP/1.1\nContent-Length: 5\nExpect: 100-continue", {"expect_continue": True}),
    ("OPTIONS * HTTP/1.1", {"method": "OPTIONS", "path": "*"}),
])
def test_parse_head(raw, checks):
    parsed = head(raw)
    for name, value in checks.items():
        assert getattr(parsed, name) == value


@pytest.mark.parametrize(("raw", "status"), [
    ("GET / HTTP/1.1 extra", 400),
    ("GET /", 400),
    ("GET / HTTP/2.0", 400),
    ("G(T / HTTP/1.1", 400),
    ("GET / HTTP/1.1\nBad Header: x", 400),
    ("GET / HTTP/1.1\nNoColon", 400),
    ("GET / HTTP/1.1\nName : x", 400),
    ("POST / HTTP/1.1\nContent-Length: 5\nContent-Length: 6", 400),
    ("POST / HTTP/1.1\nContent-Length: -5", 400),
    ("POST / HTTP/1.1\nContent-Length: 1001", 413),
    ("POST / HTTP/1.1\nTransfer-Encoding: gzip", 501),
    ("POST / HTTP/1.1\nTransfer-Encoding: chunked\nContent-Length: 3", 400),
])
def test_parse_head_rejects(raw, status):
    with pytest.raises(HttpError) as info:
        head(raw)
    assert info.value.status == status


@pytest.mark.parametrize(("pieces", "body"), [
    ([b"5\r\nhello\r\n0\r\n\r\n"], b"hello"),
    ([b"5\r", b"\nhel", b"lo\r\n3;ext=1\r\nabc\r\n", b"0\r\nTrailer: x\r\n\r\n"], b"helloabc"),
    ([b"A\r\n0123456789\r\n0\r\n\r\n"], b"0123456789"),
])
def test_chunked_decoder(pieces, body):
    dec = ChunkedDecoder(100)
    buf = bytearray()
    for piece in pieces:
        buf += piece
        dec.feed(buf)
    assert dec.done and bytes(dec.body) == body and not buf


@pytest.mark.parametrize(("data", "status"), [
    (b"zz\r\n", 400), (b"5\r\nhelloXX", 400), (b"65\r\n", 413),
])
def test_chunked_decoder_rejects(data, status):
    with pytest.raises(HttpError) as info:
        ChunkedDecoder(100).feed(bytearray(data))
    assert info.value.status == status


@pytest.mark.parametrize(("raw", "method", "length", "chunked", "keep_alive"), [
    ("HTTP/1.1 200 OK\r\nContent-Length: 5", "GET", 5, False, True),
    ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", "GET", None, True, True),
    ("HTTP/1.1 200 OK", "GET", None, False, False),
    ("HTTP/1.1 204 No Content", "GET", 0, False, True),
    ("HTTP/1.1 200 OK\r\nContent-Length: 5", "HEAD", 0, False, True),
    ("HTTP/1.0 200 OK\r\nContent-Length: 1", "GET", 1, False, False),
    ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1", "GET", 1, False, False),
])
def test_parse_response_head(raw, method, length, chunked, keep_alive):
    h = parse_response_head(raw.encode(), method)
    assert (h.content_length, h.chunked, h.keep_alive) == (length, chunked, keep_alive)


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 \xb200 OK\r\n",  # latin-1 "²00": a digit to str.isdigit(), not to int()
    b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n",
    b"HTTP/1.1\r\n",
])
def test_a_function_response_head_with_no_ascii_number_is_a_502(raw):
    with pytest.raises(HttpError) as e:
        parse_response_head(raw, "GET")
    assert e.value.status == 502


def test_platform_error_shape():
    err = errors.overloaded(3)
    assert err.status == 429
    headers = dict(err.headers())
    assert headers["X-Swarmfaas-Internal"] == "watchdog" and headers["Retry-After"] == "1"
    import json
    assert json.loads(err.body("c9")) == {"error": "too_many_requests", "reason": err.reason,
                                          "status": 429, "component": "watchdog",
                                          "call_id": "c9"}
    assert errors.function_failed(-9).reason.endswith("killed by signal 9")


@pytest.mark.parametrize(("raw", "forwarded"), [
    (b"GET /x?a=1 HTTP/1.1\r\nHost: fn\r\nX-Call-Id: 7", True),
    (b"POST / HTTP/1.1\r\nHost: fn\r\nContent-Length: 3", True),
    (b"GET / HTTP/1.1\r\nHost: fn\r\nConnection: keep-alive", False),  # hop-by-hop: rewrite
    (b"GET / HTTP/1.1\r\nHost: fn\r\nTE: trailers", False),
    (b"POST / HTTP/1.1\r\nHost: fn\r\nTransfer-Encoding: chunked", False),  # decoded body
    (b"GET / HTTP/1.0", False),  # no Host: one must be added
])
def test_forwardable_head(raw, forwarded):
    from fwatchdog.headers import forwardable_head
    from fwatchdog.httpwire import parse_head

    head = parse_head(raw, 1024)
    assert forwardable_head(head) == (raw if forwarded else None)


# The wire writers (httpwire): every head and chunk frame the watchdog sends ---------
@pytest.mark.parametrize("made, expected", [
    (lambda w: w.response_head(200, [("A", "1")]), b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n"),
    (lambda w: w.response_head(599, []), b"HTTP/1.1 599 Unknown\r\n\r\n"),
    (lambda w: w.request_head("GET", "/x?y", [("Host", "h:1")]),
     b"GET /x?y HTTP/1.1\r\nHost: h:1\r\n\r\n"),
    (lambda w: w.relayed_head(b"HTTP/1.1 200 OK\r\nA: 1", 0.5),
     b"HTTP/1.1 200 OK\r\nA: 1\r\nX-Duration-Seconds: 0.500000\r\n\r\n"),
    (lambda w: w.relayed_head(b"HTTP/1.1 204 No Content", 1, b"c1", b"text/plain", True),
     b"HTTP/1.1 204 No Content\r\nX-Call-Id: c1\r\nContent-Type: text/plain\r\n"
     b"X-Duration-Seconds: 1.000000\r\nConnection: close\r\n\r\n"),
    (lambda w: w.closed_head(b"POST / HTTP/1.1\r\nHost: h", b"hi"),
     b"POST / HTTP/1.1\r\nHost: h\r\n\r\nhi"),
    (lambda w: w.chunk(b"x" * 26), b"1a\r\n" + b"x" * 26 + b"\r\n"),
    (lambda w: w.LAST_CHUNK, b"0\r\n\r\n"),
    (lambda w: w.CONTINUE, b"HTTP/1.1 100 Continue\r\n\r\n"),
])
def test_wire_writers(made, expected):
    from fwatchdog import httpwire

    assert made(httpwire) == expected


def test_the_watchdog_modules_import_no_circle():
    """server.py must not reach back to proxy.py (or any module importing it)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "watchdog" / "fwatchdog"
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        name = name.removesuffix(".__init__")
        deps = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                deps.add(target)
                deps.update(f"{target}.{a.name}" for a in node.names)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for dep in graph.get(start, ()):
            if dep == goal or (dep not in seen and not seen.add(dep)
                               and reaches(dep, goal, seen)):
                return True
        return False

    circles = sorted(m for m in graph if reaches(m, m, set()))
    assert circles == []
