"""Resolving a request to a function, header policy and balancing (pure)."""

from __future__ import annotations

import uuid

import pytest

from faas_sidecar.balancer import pick
from faas_sidecar.errors import PlatformError
from faas_sidecar.headers import call_id_for, new_call_id, request_headers, response_headers
from faas_sidecar.model import Replica
from faas_sidecar.routing import header_name, resolve


@pytest.mark.parametrize(
    ("path", "header", "name", "upstream"),
    [
        ("/function/echo", None, "echo", "/"),
        ("/function/echo/", None, "echo", "/"),
        ("/function/echo/a/b", None, "echo", "/a/b"),
        ("/function/echo/a%2Fb", None, "echo", "/a%2Fb"),
        ("/function/echo/a/b", "other", "echo", "/a/b"),  # the path is explicit: it wins
        ("/anything/here", "echo", "echo", "/anything/here"),
        ("/", "echo", "echo", "/"),
        ("/x", " echo ", "echo", "/x"),
        # OpenFaaS's <name>.<namespace>: the platform's namespace or its alias
        ("/function/echo.swarmfaas-fn", None, "echo", "/"),
        ("/function/echo.openfaas-fn/a?b", None, "echo", "/a?b"),
        ("/x", "echo.openfaas-fn", "echo", "/x"),
        ("/x", "echo.swarmfaas-fn", "echo", "/x"),
    ],
)
def test_resolve(path, header, name, upstream):
    route = resolve(path, header)
    assert (route.name, route.path) == (name, upstream)


@pytest.mark.parametrize(
    ("path", "header", "status", "code"),
    [
        ("/x", None, 404, "not_found"),
        ("/function/", None, 404, "function_not_found"),
        ("/function/Echo", None, 400, "invalid_function_name"),
        ("/function/../etc", None, 400, "invalid_function_name"),
        ("/function/e_x", None, 400, "invalid_function_name"),
        ("/x", "", 404, "function_not_found"),
        ("/x", "a" * 64, 400, "invalid_function_name"),
        ("/x", "bad name", 400, "invalid_function_name"),
        ("/x", "-echo", 400, "invalid_function_name"),
        ("/function/echo.other", None, 404, "namespace_not_found"),
        ("/function/echo.openfaas-fn.x", None, 404, "namespace_not_found"),
        ("/function/echo.", None, 404, "namespace_not_found"),
        ("/function/echo.OPENFAAS-FN", None, 404, "namespace_not_found"),
        ("/x", "echo.kube-system", 404, "namespace_not_found"),
        ("/function/.openfaas-fn", None, 400, "invalid_function_name"),
        ("/function/Echo.openfaas-fn", None, 400, "invalid_function_name"),
    ],
)
def test_resolve_rejects(path, header, status, code):
    with pytest.raises(PlatformError) as info:
        resolve(path, header)
    assert (info.value.status, info.value.code) == (status, code)


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ([], None),
        (["echo"], "echo"),
        ([" echo "], "echo"),
        (["echo", "echo"], "echo"),  # the same name twice is no ambiguity
        (["echo", " echo"], "echo"),
        (["", ""], ""),  # check_name judges what is left
    ],
)
def test_header_name(values, name):
    assert header_name(values) == name


@pytest.mark.parametrize("values", [["echo", "other"], ["a", "a", "b"], ["echo", ""]])
def test_header_name_refuses_different_names(values):
    with pytest.raises(PlatformError) as info:
        header_name(values)
    assert (info.value.status, info.value.code) == (400, "bad_request")


def _names(headers):
    return [n.lower() for n, _ in headers]


def test_request_headers_strip_hop_by_hop_and_add_ours():
    given = [
        ("Host", "fn.example.com"), ("Connection", "keep-alive, X-Secret-Hop"),
        ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Transfer-Encoding", "chunked"),
        ("Upgrade", "h2c"), ("Proxy-Authorization", "Basic x"), ("X-Secret-Hop", "1"),
        ("Content-Length", "999"), ("Expect", "100-continue"), ("X-Call-Id", "old"),
        ("X-Start-Time", "1"), ("Accept", "*/*"), ("Authorization", "Bearer t"),
    ]
    out = request_headers(given, call_id="cid", start_time_ns=42, client_ip="10.0.0.2",
                          scheme="http", body_length=5)
    names = _names(out)
    for gone in ("connection", "keep-alive", "te", "transfer-encoding", "upgrade",
                 "proxy-authorization", "x-secret-hop", "expect"):
        assert gone not in names
    d = dict(out)
    assert d["Host"] == "fn.example.com"
    assert d["Authorization"] == "Bearer t"  # end-to-end: the function decides
    assert d["X-Call-Id"] == "cid" and names.count("x-call-id") == 1
    assert d["X-Start-Time"] == "42"
    assert d["Content-Length"] == "5" and names.count("content-length") == 1
    assert d["X-Forwarded-For"] == "10.0.0.2"
    assert d["X-Forwarded-Proto"] == "http"
    assert d["X-Forwarded-Host"] == "fn.example.com"


@pytest.mark.parametrize(
    ("given", "expected_for", "expected_proto", "expected_host"),
    [
        ([("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"),
          ("X-Forwarded-Host", "pub.example"), ("Host", "sidecar:8080")],
         "1.2.3.4, 10.0.0.2", "https", "pub.example"),
        ([("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "2.2.2.2")],
         "1.1.1.1, 2.2.2.2, 10.0.0.2", "http", None),
    ],
)
def test_forwarded_headers_extend_what_nginx_set(given, expected_for, expected_proto,
                                                 expected_host):
    out = request_headers(given, call_id="c", start_time_ns=1, client_ip="10.0.0.2",
                          scheme="http", body_length=0)
    assert [v for n, v in out if n.lower() == "x-forwarded-for"] == [expected_for]
    assert [v for n, v in out if n.lower() == "x-forwarded-proto"] == [expected_proto]
    hosts = [v for n, v in out if n.lower() == "x-forwarded-host"]
    assert hosts == ([expected_host] if expected_host else [])


def test_request_headers_chunked_when_length_unknown():
    out = request_headers([], call_id="c", start_time_ns=1, client_ip="", scheme="http",
                          body_length=None)
    assert ("Transfer-Encoding", "chunked") in out
    assert "content-length" not in _names(out)


def test_response_headers():
    given = [("Content-Type", "text/plain"), ("Connection", "close, X-Hop"), ("X-Hop", "1"),
             ("Transfer-Encoding", "chunked"), ("Content-Length", "3"),
             ("X-Call-Id", "function-made"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    out = response_headers(given, call_id="cid")
    assert out == [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"),
                   ("Set-Cookie", "b=2"), ("X-Call-Id", "cid")]


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123", True), ("a" * 128, True), ("a" * 129, False), ("has space", False),
     ("x\r\nInjected: 1", False), ("", False), (None, False)],
)
def test_call_id(given, kept):
    got = call_id_for(given)
    assert (got == given) is kept
    assert 1 <= len(got) <= 128


def test_new_call_ids_are_distinct_version_4_uuids():
    ids = [new_call_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


R = [Replica(f"t{i}", f"10.0.0.{i}", 8080) for i in range(3)]


@pytest.mark.parametrize(
    ("in_flight", "exclude", "start", "expected"),
    [
        ({}, (), 0, "t0"),
        ({}, (), 1, "t1"),  # idle replicas rotate
        ({}, (), 5, "t2"),
        ({("10.0.0.0", 8080): 2, ("10.0.0.1", 8080): 1, ("10.0.0.2", 8080): 3}, (), 0, "t1"),
        ({("10.0.0.0", 8080): 1, ("10.0.0.1", 8080): 1, ("10.0.0.2", 8080): 1}, (), 2, "t2"),
        ({}, {("10.0.0.0", 8080)}, 0, "t1"),  # a replica that failed is not retried
        ({("10.0.0.2", 8080): 9}, {("10.0.0.0", 8080), ("10.0.0.1", 8080)}, 0, "t2"),
        ({}, {("10.0.0.0", 8080), ("10.0.0.1", 8080), ("10.0.0.2", 8080)}, 0, None),
    ],
)
def test_pick_least_in_flight(in_flight, exclude, start, expected):
    got = pick(R, in_flight, exclude, start)
    assert (got.task_id if got else None) == expected


def test_pick_no_replicas():
    assert pick((), {}, (), 0) is None
