"""Properties of the watchdog's pure request handling, searched with
hypothesis: the HTTP head parser answers any bytes with a RequestHead or an
HttpError with a client-error status, and the CGI environment a forked
function sees is well formed, keeps the watchdog's own variables whatever
the headers say, and reads back every header."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from fwatchdog.cgi import build_cgi_env, canonical_env_name
from fwatchdog.httpwire import HttpError, RequestHead, parse_head

LIMIT = 1 << 20
LINES = st.lists(st.binary(max_size=40), max_size=6)
FIELD_NAMES = [b"content-length", b"transfer-encoding", b"connection", b"expect", b"host"]


@given(st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from([b"GET / HTTP/1.1", b"POST /x?y=1 HTTP/1.0", b"PUT /a HTTP/2.0"]),
              LINES).map(lambda t: b"\r\n".join([t[0], *t[1]])),
    st.tuples(st.sampled_from(FIELD_NAMES), st.binary(max_size=30)).map(
        lambda t: b"POST / HTTP/1.1\r\n" + t[0] + b": " + t[1]),
))
@example(b"POST / HTTP/1.1\r\nContent-Length: \xb2")
@example(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999")
def test_any_head_parses_or_is_a_client_error(data: bytes) -> None:
    try:
        head = parse_head(data, LIMIT)
    except HttpError as exc:
        assert exc.status in (400, 413, 501), exc  # 501: an unknown transfer coding
        return
    assert head.method and head.target
    assert head.chunked == (head.content_length is None)
    assert head.content_length is None or 0 <= head.content_length <= LIMIT


TCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~"
TOKEN = st.text(st.sampled_from(TCHAR), min_size=1, max_size=20)
VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xff, exclude_characters="\x7f"),
                max_size=30).map(str.strip)


@given(TOKEN)
def test_an_env_name_is_http_and_word_characters(header: str) -> None:
    name = canonical_env_name(header)
    assert name.startswith("Http_")
    assert canonical_env_name(header.upper()) == name == canonical_env_name(header.lower())
    assert "-" not in name


RESERVED = ["http-method", "http-path", "http-query", "http-content-length", "http-host",
            "Http-Method", "method", "path", "content-length"]


@given(st.lists(st.tuples(st.one_of(TOKEN, st.sampled_from(RESERVED)).map(str.lower), VALUE),
                max_size=10),
       st.sampled_from(["GET", "POST", "DELETE"]), st.text(st.sampled_from("/abc%?="), max_size=12),
       st.integers(0, LIMIT), st.booleans())
def test_the_cgi_environment_keeps_the_watchdogs_variables(headers, method, path, length, chunked):
    query = "q=1"
    head = RequestHead(method=method, target=f"/{path}?{query}", path=f"/{path}", query=query,
                       version="HTTP/1.1", headers=headers, keep_alive=True,
                       content_length=None if chunked else length, chunked=chunked)
    base = {"PATH": "/usr/bin", "fprocess": "cat"}
    env = build_cgi_env(base, head, length, cgi_headers=True)
    assert env["Http_Method"] == method and env["Http_Path"] == f"/{path}"
    assert env["Http_Query"] == query and env["Http_Content_Length"] == str(length)
    assert all(re.fullmatch(r"[A-Za-z0-9_!#$%&'*+.^`|~]+", k) for k in env)
    joined: dict[str, list[str]] = {}
    for name, value in headers:  # repeated fields join with ", ", in arrival order
        joined.setdefault(canonical_env_name(name), []).append(value)
    own = {"Http_Method", "Http_Path", "Http_Query", "Http_Content_Length", "Http_ContentLength",
           "Http_Host", "Http_Transfer_Encoding"}
    for key, values in joined.items():
        if key not in own:
            assert env[key] == ", ".join(values)
    assert build_cgi_env(base, head, length, cgi_headers=False) == base
