"""Properties of the fast path's request-head parser (fastpath.parse_head),
searched with hypothesis: it takes a head or hands it to Sanic (None), never
raises, and what it takes reads back exactly what a client wrote."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from faas_sidecar.fastpath import FAST_BODY_LIMIT, parse_head
from faas_sidecar.labels import NAME_MAX
from faas_sidecar.wire import request_head

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
NAMES = st.from_regex(rf"\A[a-z0-9-]{{1,{NAME_MAX}}}\Z")
# Path and query characters the fast path takes (visible ASCII but "#", "?" in the query).
PATH = st.text(st.sampled_from([chr(c) for c in range(0x21, 0x7f) if chr(c) not in "#?"]),
               max_size=40)
QUERY = st.text(st.sampled_from([chr(c) for c in range(0x21, 0x7f) if chr(c) != "#"]),
                max_size=40)
TOKEN = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"),
                min_size=1, max_size=20)
VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), max_size=40)
HEADERS = st.lists(st.tuples(TOKEN, VALUE), max_size=8).filter(
    lambda hs: not {n.lower() for n, _ in hs} & {"transfer-encoding", "expect", "upgrade",
                                                 "content-length", "connection", "x-call-id"})


@given(st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from([b"GET /function/echo HTTP/1.1", b"POST /function/a-1/x?y HTTP/1.1"]),
              st.lists(st.binary(max_size=40), max_size=6))
    .map(lambda t: b"\r\n".join([t[0], *t[1]])),
    st.tuples(st.sampled_from([b"content-length", b"Content-Length", b"connection", b"x-call-id"]),
              st.binary(max_size=30))
    .map(lambda t: b"POST /function/echo HTTP/1.1\r\n" + t[0] + b":" + t[1]),
))
@example(b"GET /function/echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2")
def test_any_bytes_are_taken_or_handed_to_sanic(head: bytes) -> None:
    got = parse_head(head)
    assert got is None or (got.name and 0 <= got.body_length <= FAST_BODY_LIMIT)


def test_a_content_length_of_non_ascii_digits_is_handed_to_sanic() -> None:
    assert parse_head(b"POST /function/echo HTTP/1.1\r\nContent-Length: \xb2") is None


@given(st.sampled_from(METHODS), NAMES, st.one_of(st.none(), PATH), st.one_of(st.none(), QUERY),
       HEADERS, st.integers(0, FAST_BODY_LIMIT))
def test_a_plain_head_reads_back_what_was_written(method, name, path, query, headers, length):
    target = f"/function/{name}" + (f"/{path}" if path is not None else "") + (
        f"?{query}" if query is not None else "")
    fields = [*headers, ("Content-Length", str(length))]
    head = request_head(method, target, fields).removesuffix(b"\r\n\r\n")
    got = parse_head(head)
    assert got is not None, head
    assert (got.method, got.name) == (method, name)
    assert got.path == ("/" + path if path is not None else "/")
    assert got.query == (query or "")
    assert got.body_length == length
    assert [(n, v.strip(" \t")) for n, v in fields] == got.headers


@given(NAMES, st.integers(FAST_BODY_LIMIT + 1, 10**30))
def test_a_body_over_the_fast_limit_goes_to_sanic(name, length):
    head = f"POST /function/{name} HTTP/1.1\r\nContent-Length: {length}".encode()
    assert parse_head(head) is None


@given(NAMES, st.sampled_from(["Transfer-Encoding: chunked", "Expect: 100-continue",
                               "Upgrade: h2c", "Content-Length: -1", "Content-Length: 1e3",
                               "X-A: a\rb", "X-A:\x00", " X-A: b"]))
def test_unusual_framing_goes_to_sanic(name, line):
    assert parse_head(f"POST /function/{name} HTTP/1.1\r\n{line}".encode()) is None
