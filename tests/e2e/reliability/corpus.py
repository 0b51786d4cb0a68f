"""The hostile-input corpus: requests a broken or hostile client sends, each
with the answer the deployed platform must give (docs/reliability.md).

Data only: `test_hostile_corpus.py` sends every case to the stack over TLS
(raw HTTP/1.1 bytes, or HTTP/2 through the `h2` library with its checks off)
and checks the answer. A case states:

- `expect`: the status on the wire, or a protocol-level refusal for HTTP/2
  (`RESET` for RST_STREAM, `GOAWAY`) and `CLOSED` for a connection the front
  door ends without an answer (a slow client's header timeout);
- `error` and `component`: the platform's JSON error code (docs/errors.md) and
  who answers (`X-Swarmfaas-Internal`), or None when the function answers.

No case may expect a 5xx. Requests use the stack's samples: `echo` (fork
mode, `cat`), `webhookstash` (GitHub-signed) and the Alexa skill.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

RESET = "reset"  # HTTP/2 RST_STREAM on the request's stream
GOAWAY = "goaway"  # HTTP/2 GOAWAY on the connection
CLOSED = "closed"  # the connection ended with no response at all
Expect = int | str

SKILL_ID = "amzn1.ask.skill.5a1e0000-0000-4000-8000-00000000e2e5"  # stack.yml's default


@dataclass(frozen=True)
class Slow:
    """A request sent in parts with pauses; `hold` seconds of silence at the end."""

    parts: tuple[bytes, ...]
    pause: float
    hold: float = 0.0


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    expect: Expect
    error: str | None = None
    component: str | None = None
    h1: bytes | None = None  # raw HTTP/1.1 request
    h2: list[tuple[bytes, bytes]] | None = None  # HTTP/2 header block
    h2_body: bytes | None = None
    h2_raw: bytes = b""  # raw frames after the request (or alone)
    slow: Slow | None = None
    full_only: bool = False  # only in the full form (RELIABILITY_FULL=1): long waits

    @property
    def protocol(self) -> str:
        return "h2" if self.h2 is not None or self.h2_raw else "h1"


# -- building blocks ---------------------------------------------------------------
H = b"Host: localhost\r\n"
C = b"Connection: close\r\n"


def req(line: bytes, *headers: bytes, body: bytes = b"", host: bool = True) -> bytes:
    """An HTTP/1.1 request: line, Host, headers, Connection: close, body."""
    head = line + b"\r\n" + (H if host else b"") + b"".join(h + b"\r\n" for h in headers)
    return head + C + b"\r\n" + body


def post(path: bytes, body: bytes, *headers: bytes) -> bytes:
    return req(b"POST " + path + b" HTTP/1.1", b"Content-Length: %d" % len(body), *headers,
               body=body)


def nginx(name: str, category: str, status: int, error: str, raw: bytes, **kw: object) -> Case:
    return Case(name, category, status, error, "nginx", h1=raw, **kw)  # type: ignore[arg-type]


def sidecar(name: str, category: str, status: int, error: str, raw: bytes, **kw: object) -> Case:
    return Case(name, category, status, error, "sidecar", h1=raw, **kw)  # type: ignore[arg-type]


def served(name: str, category: str, raw: bytes, status: int = 200) -> Case:
    """Odd but valid: the function answers."""
    return Case(name, category, status, None, None, h1=raw)


def deep(depth: int, opener: bytes = b"[") -> bytes:
    """JSON nested `depth` deep: arrays, or objects when `opener` is '{"a":'."""
    closer = b"]" if opener == b"[" else b"}"
    return opener * depth + b"1" + closer * depth


def envelope(skill: str = SKILL_ID, **request: object) -> bytes:
    """A minimal Alexa LaunchRequest envelope (unsigned)."""
    req_doc = {"type": "LaunchRequest", "requestId": "amzn1.echo-api.request.1",
               "timestamp": "2026-01-01T00:00:00Z", "locale": "en-US", **request}
    app = {"applicationId": skill}
    doc = {"version": "1.0",
           "session": {"new": True, "sessionId": "amzn1.echo-api.session.1", "application": app,
                       "user": {"userId": "amzn1.ask.account.X"}},
           "context": {"System": {"application": app, "user": {"userId": "amzn1.ask.account.X"},
                                  "apiEndpoint": "https://api.amazonalexa.com"}},
           "request": req_doc}
    return json.dumps(doc).encode()


ALEXA_JSON = b"Content-Type: application/json"
BAD_CERT_URL = b"SignatureCertChainUrl: https://evil.example/echo.api/cert.pem"
BASIC_WRONG = b"Authorization: Basic YWRtaW46d3Jvbmc="  # admin:wrong
ECHO = b"/function/echo"

# -- HTTP/1.1 ----------------------------------------------------------------------
REQUEST_LINES = [
    nginx("garbage request line", "request-line", 400, "bad_request", b"GARBAGE\r\n\r\n"),
    nginx("method only", "request-line", 400, "bad_request", b"GET\r\n\r\n"),
    nginx("lowercase method", "request-line", 400, "bad_request",
          req(b"get /function/echo HTTP/1.1")),
    nginx("NUL byte in the path", "request-line", 400, "bad_request",
          req(b"GET /function/a\x00b HTTP/1.1")),
    nginx("DEL byte in the path", "request-line", 400, "bad_request",
          req(b"GET /function/a\x7fb HTTP/1.1")),
    nginx("over-long URI", "request-line", 414, "uri_too_long",
          req(b"GET /function/echo?" + b"a" * 70000 + b" HTTP/1.1")),
    nginx("HTTP/2 preface on HTTP/1.1", "request-line", 400, "bad_request",
          b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    nginx("unknown HTTP version", "request-line", 400, "unsupported_http_version",
          req(b"GET /function/echo HTTP/9.9")),
    nginx("malformed HTTP version", "request-line", 400, "bad_request",
          req(b"GET /function/echo HTTP/1.x")),
    nginx("HTTP version with letters", "request-line", 400, "bad_request",
          req(b"GET /function/echo FTP/1.1")),
    nginx("a tab for the space", "request-line", 400, "bad_request",
          req(b"GET\t/function/echo\tHTTP/1.1")),
    nginx("a space in the path", "request-line", 400, "bad_request",
          req(b"GET /function/echo x HTTP/1.1")),
    nginx("an absolute URI with userinfo", "request-line", 400, "bad_request",
          req(b"GET https://user:pw@localhost/function/echo HTTP/1.1")),
    # nginx takes any token as a method; the sidecar's router refuses it.
    sidecar("a method of 300 letters", "request-line", 405, "method_not_allowed",
          req(b"A" * 300 + b" /function/echo HTTP/1.1")),
    nginx("a request line of CRLFs only", "request-line", 400, "bad_request",
          b"\r\n\r\n\r\nX\r\n\r\n"),
    nginx("a UTF-8 method", "request-line", 400, "bad_request",
          req("GËT /function/echo HTTP/1.1".encode())),
    served("bare LF line endings", "request-line",
           b"GET /function/echo HTTP/1.1\nHost: localhost\nConnection: close\n\n"),
    served("extra spaces between the parts", "request-line",
           req(b"GET  /function/echo  HTTP/1.1")),
]

METHODS = [
    nginx("CONNECT", "method", 400, "bad_request", req(b"CONNECT localhost:443 HTTP/1.1")),
    nginx("OPTIONS *", "method", 400, "bad_request", req(b"OPTIONS * HTTP/1.1")),
    nginx("TRACE", "method", 405, "method_not_allowed", req(b"TRACE /function/echo HTTP/1.1")),
    nginx("TRACE to the system API", "method", 405, "method_not_allowed",
          req(b"TRACE /system/functions HTTP/1.1")),
    nginx("GET /alexa", "method", 405, "method_not_allowed", req(b"GET /alexa HTTP/1.1")),
    nginx("PUT /alexa", "method", 405, "method_not_allowed", req(b"PUT /alexa HTTP/1.1")),
    nginx("DELETE /alexa", "method", 405, "method_not_allowed", req(b"DELETE /alexa HTTP/1.1")),
    sidecar("an unknown method on a function", "method", 405, "method_not_allowed",
            req(b"FROB /function/echo HTTP/1.1")),
    sidecar("PROPFIND on a function", "method", 405, "method_not_allowed",
            req(b"PROPFIND /function/echo HTTP/1.1")),
    served("HEAD on a function", "method", req(b"HEAD /function/echo HTTP/1.1")),
    served("OPTIONS on a function", "method", req(b"OPTIONS /function/echo HTTP/1.1")),
    served("DELETE on a function", "method", req(b"DELETE /function/echo HTTP/1.1")),
]

PATHS = [
    nginx("path above the root", "path", 400, "bad_request", req(b"GET /../etc/passwd HTTP/1.1")),
    nginx("encoded path above the root", "path", 400, "bad_request",
          req(b"GET /%2e%2e/x HTTP/1.1")),
    nginx("function path above the root", "path", 400, "bad_request",
          req(b"GET /function/../../etc/passwd HTTP/1.1")),
    nginx("bad percent-encoding", "path", 400, "bad_request", req(b"GET /function/a%zz HTTP/1.1")),
    nginx("an encoded NUL in the path", "path", 400, "bad_request",
          req(b"GET /function/echo%00 HTTP/1.1")),
    nginx("a truncated percent-escape", "path", 400, "bad_request",
          req(b"GET /function/echo% HTTP/1.1")),
    nginx("an error page's own URI", "path", 404, "not_found",
          req(b"GET /.swarmfaas/error/500 HTTP/1.1")),
    nginx("a path no route serves", "path", 404, "not_found", req(b"GET /etc/passwd HTTP/1.1")),
    nginx("/function without a slash", "path", 404, "not_found", req(b"GET /function HTTP/1.1")),
    nginx("/system without a slash", "path", 404, "not_found", req(b"GET /system HTTP/1.1")),
    nginx("/metrics from outside", "path", 404, "not_found", req(b"GET /metrics HTTP/1.1")),
    sidecar("/async-function/ of no function", "path", 404, "function_not_found",
            req(b"POST /async-function/nope HTTP/1.1", b"Content-Length: 0")),
    nginx("a path of 4,000 slashes", "path", 404, "not_found",
          req(b"GET " + b"/" * 4000 + b" HTTP/1.1")),
    sidecar("/function/ with no name", "name", 404, "function_not_found",
            req(b"GET /function/ HTTP/1.1")),
    sidecar("the sidecar as a function", "name", 404, "function_not_found",
            req(b"POST /function/sidecar HTTP/1.1")),
    sidecar("nginx as a function", "name", 404, "function_not_found",
            req(b"POST /function/nginx HTTP/1.1")),
    sidecar("the engine gate as a function", "name", 404, "function_not_found",
            req(b"POST /function/engine-gate HTTP/1.1")),
    sidecar("a name nobody deployed", "name", 404, "function_not_found",
            req(b"GET /function/nope HTTP/1.1")),
    sidecar("an uppercase name", "name", 400, "invalid_function_name",
            req(b"GET /function/ECHO HTTP/1.1")),
    sidecar("a name of 64 characters", "name", 400, "invalid_function_name",
            req(b"GET /function/" + b"a" * 64 + b" HTTP/1.1")),
    sidecar("a name of 2,000 characters", "name", 400, "invalid_function_name",
            req(b"GET /function/" + b"a" * 2000 + b" HTTP/1.1")),
    sidecar("a name with an underscore", "name", 400, "invalid_function_name",
            req(b"GET /function/faastest_echo HTTP/1.1")),
    sidecar("a name in another namespace", "name", 404, "namespace_not_found",
            req(b"GET /function/echo.x HTTP/1.1")),
    sidecar("a UTF-8 name", "name", 400, "invalid_function_name",
            req(b"GET /function/%C3%A9cho HTTP/1.1")),
    sidecar("an encoded slash in the name", "name", 400, "invalid_function_name",
            req(b"GET /function/..%2fsystem%2ffunctions HTTP/1.1")),
    sidecar("an encoded dot-dot name", "name", 400, "invalid_function_name",
            req(b"GET /function/%2e%2e/system/functions HTTP/1.1")),
    sidecar("X-Function naming the sidecar", "name", 404, "function_not_found",
            post(b"/x", b"x", b"X-Function: sidecar")),
    sidecar("X-Function naming a stack service", "name", 400, "invalid_function_name",
            post(b"/x", b"x", b"X-Function: faastest_sidecar")),
    sidecar("X-Function with a path", "name", 400, "invalid_function_name",
            post(b"/x", b"x", b"X-Function: ../system/functions")),
    sidecar("X-Function uppercase", "name", 400, "invalid_function_name",
            post(b"/x", b"x", b"X-Function: ECHO")),
    sidecar("X-Function with a tab", "name", 400, "invalid_function_name",
            post(b"/x", b"x", b"X-Function: echo\tx")),
    sidecar("two X-Function headers that disagree", "name", 400, "bad_request",
            post(b"/x", b"x", b"X-Function: echo", b"X-Function: relay")),
    served("two X-Function headers that agree", "name",
           post(b"/x", b"x", b"X-Function: echo", b"X-Function: echo")),
    served("a query string with odd bytes", "path",
           req(b"GET /function/echo?a=%00%ff&b=%zz&&=&c HTTP/1.1")),
    served("a sub-path under the function", "path", req(b"GET /function/echo/a/b/../c HTTP/1.1")),
]

HEADERS = [
    nginx("headers over the buffers", "header", 400, "request_header_too_large",
          req(b"GET /function/echo HTTP/1.1", b"X-A: " + b"a" * 70000)),
    nginx("6,000 headers", "header", 400, "request_header_too_large",
          req(b"GET /function/echo HTTP/1.1", *[b"X-%d: v" % i for i in range(6000)])),
    nginx("a bare CR in a header value", "header", 400, "bad_request",
          req(b"GET /function/echo HTTP/1.1", b"X-A: a\rb")),
    nginx("a NUL in a header value", "header", 400, "bad_request",
          req(b"GET /function/echo HTTP/1.1", b"X-A: a\x00b")),
    nginx("a bare CR ending a header line", "header", 400, "bad_request",
          req(b"GET /function/echo HTTP/1.1", b"X-A: a\rX-B: b")),
    nginx("no Host on HTTP/1.1", "header", 400, "bad_request",
          req(b"GET /function/echo HTTP/1.1", host=False)),
    nginx("two Host headers", "header", 400, "bad_request",
          req(b"GET /function/echo HTTP/1.1", b"Host: other")),
    nginx("a Host with a slash", "header", 400, "bad_request",
          req(b"GET /function/echo HTTP/1.1", b"Host: a/b", host=False)),
    nginx("a Host with a NUL", "header", 400, "bad_request",
          req(b"GET /function/echo HTTP/1.1", b"Host: a\x00b", host=False)),
    nginx("a Host of dots", "header", 400, "bad_request",
          req(b"GET /function/echo HTTP/1.1", b"Host: ..", host=False)),
    # nginx answers Expect itself and does not pass it on.
    served("an Expect other than 100-continue", "header", post(ECHO, b"abc", b"Expect: teapot")),
    served("a header line without a colon (ignored)", "header",
           req(b"GET /function/echo HTTP/1.1", b"NoColonHere")),
    served("a header name with odd characters (ignored)", "header",
           req(b"GET /function/echo HTTP/1.1", b"X(A)@: b")),
    nginx("a space before the colon", "header", 400, "bad_request",
          req(b"GET /function/echo HTTP/1.1", b"X-A : b")),
    # The Sanic path could not write these bytes again (500).
    served("latin-1 bytes in a header value", "header",
           req(b"GET /function/echo HTTP/1.1", b"X-A: caf\xe9 \xff\x80")),
    served("UTF-8 beyond latin-1 in a header value", "header",
           req(b"GET /function/echo HTTP/1.1", "X-A: € ☃ 😀".encode())),
    served("an 8 KB X-Call-Id", "header", req(b"GET /function/echo HTTP/1.1",
                                               b"X-Call-Id: " + b"c" * 7000)),
    served("a forged X-Swarmfaas-Internal", "header",
           req(b"GET /function/echo HTTP/1.1", b"X-Swarmfaas-Internal: sidecar")),
    served("forged X-Forwarded-For and X-Real-IP", "header",
           req(b"GET /function/echo HTTP/1.1", b"X-Forwarded-For: 10.0.0.1, ::1",
               b"X-Real-IP: 127.0.0.1")),
    served("Upgrade: h2c", "header",
           req(b"GET /function/echo HTTP/1.1", b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABk")),
    served("Upgrade: websocket", "header",
           req(b"GET /function/echo HTTP/1.1", b"Upgrade: websocket", b"Sec-WebSocket-Key: x")),
    served("Connection naming other headers", "header",
           req(b"GET /function/echo HTTP/1.1", b"Connection: X-Call-Id, Authorization")),
    served("200 small headers", "header",
           req(b"GET /function/echo HTTP/1.1", *[b"X-%d: v" % i for i in range(200)])),
    # The watchdog echoed it into its answer and the sidecar refused that (502).
    served("a Content-Type that means nothing", "header",
           post(ECHO, b"abc", b"Content-Type: ;;;/\x7f")),
    served("an absolute URI to another host", "header",
           req(b"GET http://evil.example/function/echo HTTP/1.1")),
]

SMUGGLING = [
    nginx("Content-Length and Transfer-Encoding", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: 3",
              b"Transfer-Encoding: chunked", body=b"0\r\n\r\n")),
    nginx("two Content-Lengths that differ", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: 3", b"Content-Length: 4",
              body=b"abcd")),
    nginx("two Content-Lengths that agree", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: 3", b"Content-Length: 3",
              body=b"abc")),
    nginx("negative Content-Length", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: -1")),
    nginx("Content-Length with a plus sign", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: +3", body=b"abc")),
    nginx("Content-Length in hex", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: 0x3", body=b"abc")),
    nginx("Content-Length not a number", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: 1e3")),
    nginx("Content-Length a superscript digit", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: \xb2", body=b"ab")),
    nginx("Content-Length a list", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: 3, 3", body=b"abc")),
    nginx("Content-Length over 2^64", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: 99999999999999999999999")),
    nginx("a bad chunk size", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: chunked",
              body=b"zz\r\nabc\r\n0\r\n\r\n")),
    nginx("a chunk size over 2^64", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: chunked",
              body=b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n")),
    nginx("a negative chunk size", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: chunked",
              body=b"-3\r\nabc\r\n0\r\n\r\n")),
    nginx("Transfer-Encoding gzip", "smuggling", 400, "unsupported_transfer_coding",
          req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: gzip")),
    nginx("Transfer-Encoding gzip, chunked", "smuggling", 400, "unsupported_transfer_coding",
          req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: gzip, chunked")),
    nginx("Transfer-Encoding chunked, chunked", "smuggling", 400, "unsupported_transfer_coding",
          req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: chunked, chunked")),
    nginx("Transfer-Encoding identity", "smuggling", 400, "unsupported_transfer_coding",
          req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: identity")),
    nginx("Transfer-Encoding xchunked", "smuggling", 400, "unsupported_transfer_coding",
          req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: xchunked")),
    nginx("two Transfer-Encoding headers", "smuggling", 400, "bad_request",
          req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: chunked",
              b"Transfer-Encoding: identity", body=b"0\r\n\r\n")),
    nginx("Transfer-Encoding on HTTP/1.0", "smuggling", 400, "bad_request",
          b"POST /function/echo HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
          b"3\r\nabc\r\n0\r\n\r\n"),
    served("a request hidden in a body", "smuggling",
           post(ECHO, b"GET /system/functions HTTP/1.1\r\nHost: localhost\r\n\r\n")),
    served("a chunked body with extensions and trailers", "smuggling",
           req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: chunked",
               body=b"3;name=value\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n")),
    served("Transfer-Encoding in mixed case", "smuggling",
           req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: ChUnKeD",
               body=b"3\r\nabc\r\n0\r\n\r\n")),
    served("Content-Length 0 with bytes after it", "smuggling",
           req(b"POST /function/echo HTTP/1.1", b"Content-Length: 0", body=b"GET / HTTP/1.1\r\n")),
]

BODIES = [
    nginx("Content-Length over the body limit", "body", 413, "body_too_large",
          req(b"POST /function/echo HTTP/1.1", b"Content-Length: 20000000")),
    nginx("a chunk over the body limit", "body", 413, "body_too_large",
          req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: chunked",
              body=b"1400000\r\n" + b"a" * 4096)),
    served("a 1 MB body of NUL bytes", "body", post(ECHO, b"\0" * (1 << 20))),
    served("invalid UTF-8 to a function", "body", post(ECHO, b"\xff\xfe\xc3(\xed\xa0\x80")),
    served("a deeply nested JSON to a function", "body", post(ECHO, deep(100000),
                                                               b"Content-Type: application/json")),
    sidecar("a deeply nested JSON array to Alexa", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", deep(20000), ALEXA_JSON)),
    sidecar("a deeply nested JSON object to Alexa", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", deep(5000, b"{\"a\":"), ALEXA_JSON)),
    sidecar("a deeply nested JSON to POST /", "alexa", 400, "invalid_alexa_envelope",
            post(b"/", deep(5000), ALEXA_JSON)),
    sidecar("invalid UTF-8 to Alexa", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", b"{\"version\": \"\xff\xfe\"}", ALEXA_JSON)),
    sidecar("UTF-16 JSON to Alexa", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", '{"version": "1.0"}'.encode("utf-16"), ALEXA_JSON)),
    sidecar("a lone surrogate escape to Alexa", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", b'{"version": "\\ud800", "request": 1}', ALEXA_JSON)),
    sidecar("a number of 100,000 digits to Alexa", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", b'{"version": ' + b"9" * 100000 + b"}", ALEXA_JSON)),
    sidecar("NaN and Infinity to Alexa", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", b'{"version": NaN, "x": Infinity}', ALEXA_JSON)),
    sidecar("an Alexa body over ALEXA_MAX_BODY", "alexa", 413, "alexa_body_too_large",
            post(b"/alexa", b'{"x": "' + b"a" * 300000 + b'"}', ALEXA_JSON)),
]

ALEXA = [
    sidecar("not JSON", "alexa", 400, "invalid_alexa_envelope", post(b"/alexa", b"{not json",
                                                                     ALEXA_JSON)),
    sidecar("an empty body", "alexa", 400, "invalid_alexa_envelope", post(b"/alexa", b"",
                                                                          ALEXA_JSON)),
    sidecar("a JSON array", "alexa", 400, "invalid_alexa_envelope", post(b"/alexa", b"[]",
                                                                         ALEXA_JSON)),
    sidecar("a JSON string", "alexa", 400, "invalid_alexa_envelope", post(b"/alexa", b'"1.0"',
                                                                          ALEXA_JSON)),
    sidecar("version only", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", b'{"version": "1.0"}', ALEXA_JSON)),
    sidecar("no request type", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", envelope(type=None), ALEXA_JSON)),
    sidecar("an unknown request type", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", envelope(type="Frob" * 1000), ALEXA_JSON)),
    sidecar("an IntentRequest without an intent", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", envelope(type="IntentRequest"), ALEXA_JSON)),
    sidecar("two application ids that differ", "alexa", 400, "invalid_alexa_envelope",
            post(b"/alexa", envelope().replace(SKILL_ID.encode(), b"amzn1.ask.skill.other", 1),
                 ALEXA_JSON)),
    sidecar("an unknown application id", "alexa", 400, "unknown_application_id",
            post(b"/alexa", envelope("amzn1.ask.skill.nobody"), ALEXA_JSON)),
    sidecar("no signature headers", "alexa", 400, "alexa_signature_missing",
            post(b"/alexa", envelope(), ALEXA_JSON)),
    sidecar("a certificate URL on another host", "alexa", 400, "alexa_cert_url_invalid",
            post(b"/alexa", envelope(), ALEXA_JSON, BAD_CERT_URL, b"Signature-256: AAAA")),
    sidecar("a certificate URL over http", "alexa", 400, "alexa_cert_url_invalid",
            post(b"/alexa", envelope(), ALEXA_JSON,
                 b"SignatureCertChainUrl: http://s3.amazonaws.com/echo.api/c.pem",
                 b"Signature-256: AAAA")),
    sidecar("a certificate URL that climbs out", "alexa", 400, "alexa_cert_url_invalid",
            post(b"/alexa", envelope(), ALEXA_JSON,
                 b"SignatureCertChainUrl: https://s3.amazonaws.com/echo.api/../x/c.pem",
                 b"Signature-256: AAAA")),
    sidecar("an Alexa envelope to POST / unsigned", "alexa", 400, "alexa_signature_missing",
            post(b"/", envelope(), ALEXA_JSON)),
]

SYSTEM = [
    sidecar("the system API without credentials", "system", 401, "unauthorized",
            req(b"GET /system/functions HTTP/1.1")),
    sidecar("the system API with a wrong password", "system", 401, "unauthorized",
            req(b"GET /system/functions HTTP/1.1", BASIC_WRONG)),
    sidecar("the system API with a wrong user", "system", 401, "unauthorized",
            req(b"GET /system/functions HTTP/1.1", b"Authorization: Basic cm9vdDpyb290")),
    sidecar("Basic credentials that are not base64", "system", 401, "unauthorized",
            req(b"GET /system/functions HTTP/1.1", b"Authorization: Basic !!!$$$")),
    sidecar("Basic credentials without a colon", "system", 401, "unauthorized",
            req(b"GET /system/functions HTTP/1.1", b"Authorization: Basic YWRtaW4=")),
    sidecar("Basic credentials of invalid UTF-8", "system", 401, "unauthorized",
            req(b"GET /system/functions HTTP/1.1", b"Authorization: Basic //79Og==")),
    sidecar("a Bearer token", "system", 401, "unauthorized",
            req(b"GET /system/functions HTTP/1.1", b"Authorization: Bearer abc")),
    sidecar("an empty Authorization", "system", 401, "unauthorized",
            req(b"GET /system/functions HTTP/1.1", b"Authorization:")),
    sidecar("an 8 KB Authorization", "system", 401, "unauthorized",
            req(b"GET /system/functions HTTP/1.1", b"Authorization: Basic " + b"A" * 7000)),
    sidecar("deploy without credentials", "system", 401, "unauthorized",
            post(b"/system/functions", b'{"service": "x", "image": "y"}',
                 b"Content-Type: application/json")),
    sidecar("delete without credentials", "system", 401, "unauthorized",
            req(b"DELETE /system/functions HTTP/1.1", b"Content-Length: 23",
                body=b'{"functionName":"echo"}')),
    sidecar("scale without credentials", "system", 401, "unauthorized",
            post(b"/system/scale-function/echo", b'{"replicas": 0}')),
    sidecar("/system/info without credentials", "system", 401, "unauthorized",
            req(b"GET /system/info HTTP/1.1")),
    # nginx routes by the normalised path and passes the raw one: no route there.
    sidecar("a system path above the API", "system", 404, "not_found",
            req(b"GET /system/../system/functions HTTP/1.1")),
    sidecar("an unsigned webhook", "system", 401, "webhook_signature_invalid",
            post(b"/function/webhookstash", b'{"x": 1}', b"X-GitHub-Event: push")),
    sidecar("a webhook with a forged signature", "system", 401, "webhook_signature_invalid",
            post(b"/function/webhookstash", b'{"x": 1}',
                 b"X-Hub-Signature-256: sha256=" + b"0" * 64)),
    sidecar("a webhook with a malformed signature", "system", 401, "webhook_signature_invalid",
            post(b"/function/webhookstash", b'{"x": 1}', b"X-Hub-Signature-256: md5=zz")),
]

# Slow clients: nginx's client_header_timeout (10 s) and client_body_timeout (30 s).
SLOW = [
    Case("a head that never ends", "slow", CLOSED,
         slow=Slow((b"GET /function/echo HTTP/1.1\r\nHost: localhost\r\n",), 0.0, hold=15.0)),
    Case("a header trickled a byte a second", "slow", CLOSED,
         slow=Slow(tuple(bytes([b]) for b in b"GET /function/echo HTTP/1.1\r\nX-A: " + b"a" * 15),
                   1.0)),
    Case("a TLS connection that never sends", "slow", CLOSED, slow=Slow((), 0.0, hold=15.0)),
    # nginx ends a request whose body times out without an answer (it terminates
    # the request on 408), so the client sees the connection close.
    Case("a body slower than the body timeout", "slow", CLOSED,
         slow=Slow((req(b"POST /function/echo HTTP/1.1", b"Content-Length: 100"), b"ab"), 0.5,
                   hold=35.0), full_only=True),
    Case("a chunked body that stops", "slow", CLOSED,
         slow=Slow((req(b"POST /function/echo HTTP/1.1", b"Transfer-Encoding: chunked"),
                    b"5\r\nab"), 0.5, hold=35.0), full_only=True),
    Case("a request trickled within the timeouts", "slow", 200,
         slow=Slow(tuple(post(ECHO, b"slow but fine")[i:i + 8]
                         for i in range(0, len(post(ECHO, b"slow but fine")), 8)), 0.05)),
]

# -- HTTP/2 ------------------------------------------------------------------------


def h(method: bytes = b"GET", path: bytes = ECHO, *extra: tuple[bytes, bytes],
      drop: tuple[bytes, ...] = ()) -> list[tuple[bytes, bytes]]:
    base = [(b":method", method), (b":scheme", b"https"), (b":authority", b"localhost"),
            (b":path", path)]
    return [kv for kv in base if kv[0] not in drop] + list(extra)


def h2(name: str, category: str, expect: Expect, error: str | None, component: str | None,
       headers: list[tuple[bytes, bytes]], body: bytes | None = None) -> Case:
    return Case(name, category, expect, error, component, h2=headers, h2_body=body)


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    """A raw HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id."""
    head = len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big")
    return head + payload


def h2frame(name: str, raw: bytes) -> Case:
    """A framing error: the connection ends (GOAWAY, whichever code nginx picks)."""
    return Case(name, "h2-frame", GOAWAY, h2_raw=raw)


JSON_CT = (b"content-type", b"application/json")

HTTP2 = [
    h2("no :path", "h2-stream", 400, "bad_request", "nginx", h(drop=(b":path",))),
    h2("no :method", "h2-stream", 400, "bad_request", "nginx", h(drop=(b":method",))),
    h2("no :scheme", "h2-stream", 400, "bad_request", "nginx", h(drop=(b":scheme",))),
    h2("two :path", "h2-stream", 400, "bad_request", "nginx", h(b"GET", ECHO, (b":path", b"/x"))),
    h2("an unknown pseudo-header", "h2-stream", 400, "bad_request", "nginx",
       h(b"GET", ECHO, (b":foo", b"x"))),
    h2("a pseudo-header after a header", "h2-stream", 400, "bad_request", "nginx",
       h(b"GET", ECHO, (b"x-a", b"1"), (b":foo", b"x"))),
    h2("lowercase :method", "h2-stream", 400, "bad_request", "nginx", h(b"get")),
    h2(":path without a slash", "h2-stream", 400, "bad_request", "nginx",
       h(b"GET", b"function/echo")),
    h2(":path above the root", "h2-stream", 400, "bad_request", "nginx",
       h(b"GET", b"/../etc/passwd")),
    h2("CONNECT", "h2-stream", 405, "method_not_allowed", "nginx", h(b"CONNECT", b"/")),
    h2("TRACE", "h2-stream", 405, "method_not_allowed", "nginx", h(b"TRACE")),
    h2("body shorter than content-length", "h2-stream", 400, "bad_request", "nginx",
       h(b"POST", ECHO, (b"content-length", b"10")), b"abc"),
    h2("body longer than content-length", "h2-stream", 400, "bad_request", "nginx",
       h(b"POST", ECHO, (b"content-length", b"1")), b"abc"),
    h2("content-length over the body limit", "h2-stream", 413, "body_too_large", "nginx",
       h(b"POST", ECHO, (b"content-length", b"20000000")), b"a"),
    h2("content-length and no body", "h2-stream", 400, "bad_request", "nginx",
       h(b"POST", ECHO, (b"content-length", b"5000"))),
    h2("an error page's own URI", "h2-stream", 404, "not_found", "nginx",
       h(b"GET", b"/.swarmfaas/error/502")),
    h2("GET /alexa", "h2-stream", 405, "method_not_allowed", "nginx", h(b"GET", b"/alexa")),
    h2("an unknown function", "h2-stream", 404, "function_not_found", "sidecar",
       h(b"GET", b"/function/nope")),
    h2("an uppercase function name", "h2-stream", 400, "invalid_function_name", "sidecar",
       h(b"GET", b"/function/ECHO")),
    h2("two x-function headers that disagree", "h2-stream", 400, "bad_request", "sidecar",
       h(b"POST", b"/x", (b"x-function", b"echo"), (b"x-function", b"relay")), b"x"),
    h2("the system API without credentials", "h2-stream", 401, "unauthorized", "sidecar",
       h(b"GET", b"/system/functions")),
    h2("the system API with a wrong password", "h2-stream", 401, "unauthorized", "sidecar",
       h(b"GET", b"/system/functions", (b"authorization", BASIC_WRONG.split(b": ")[1]))),
    h2("a deeply nested JSON to Alexa", "h2-stream", 400, "invalid_alexa_envelope", "sidecar",
       h(b"POST", b"/alexa", JSON_CT), deep(20000)),
    h2("an unsigned Alexa envelope", "h2-stream", 400, "alexa_signature_missing", "sidecar",
       h(b"POST", b"/alexa", JSON_CT), envelope()),
    h2("an unsigned webhook", "h2-stream", 401, "webhook_signature_invalid", "sidecar",
       h(b"POST", b"/function/webhookstash"), b"{}"),
    h2("another :authority", "h2-stream", 200, None, None,
       [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"evil.example"),
        (b":path", ECHO)]),
    h2("hop-by-hop transfer-encoding", "h2-stream", 200, None, None,
       h(b"POST", ECHO, (b"transfer-encoding", b"chunked")), b"abc"),
    h2("hop-by-hop connection", "h2-stream", 200, None, None,
       h(b"POST", ECHO, (b"connection", b"close")), b"abc"),
    h2("UTF-8 and stray bytes in a header value", "h2-stream", 200, None, None,
       h(b"GET", ECHO, (b"x-a", "€ ☃".encode() + b"\xff"))),
    h2("a huge cookie split in crumbs", "h2-stream", 200, None, None,
       h(b"GET", ECHO, *[(b"cookie", b"c%d=%s" % (i, b"v" * 50)) for i in range(50)])),
    # Malformed in HTTP/2's own terms (RFC 9113 8.2.1, 8.3): refused at the protocol level.
    h2("NUL in :path", "h2-stream", RESET, None, None, h(b"GET", b"/function/a\x00b")),
    h2("an uppercase header name", "h2-stream", RESET, None, None,
       h(b"GET", ECHO, (b"X-Function", b"echo"))),
    h2("a NUL in a header value", "h2-stream", RESET, None, None,
       h(b"GET", ECHO, (b"x-a", b"a\x00b"))),
    h2("a CR LF in a header value", "h2-stream", RESET, None, None,
       h(b"GET", ECHO, (b"x-a", b"a\r\nx-b: b"))),
    h2("an over-long :path", "h2-stream", GOAWAY, None, None, h(b"GET", b"/" + b"a" * 70000)),
    h2("a huge header", "h2-stream", GOAWAY, None, None, h(b"GET", ECHO, (b"x-a", b"a" * 70000))),
    h2frame("DATA on stream 0", frame(0x0, 0x1, 0, b"abc")),
    h2frame("HEADERS on an even stream", frame(0x1, 0x5, 2, b"\x82")),
    h2frame("HEADERS with a broken HPACK block", frame(0x1, 0x5, 3, b"\xff\xff\xff\xff")),
    h2frame("SETTINGS with a bad length", frame(0x4, 0x0, 0, b"\x00\x01\x00")),
    h2frame("SETTINGS on a stream", frame(0x4, 0x0, 1, b"")),
    h2frame("SETTINGS with a window over 2^31", frame(0x4, 0x0, 0, b"\x00\x04\xff\xff\xff\xff")),
    h2frame("PING with a bad length", frame(0x6, 0x0, 0, b"\x00" * 7)),
    h2frame("PING on a stream", frame(0x6, 0x0, 1, b"\x00" * 8)),
    h2frame("WINDOW_UPDATE of 0 on the connection", frame(0x8, 0x0, 0, b"\x00\x00\x00\x00")),
    h2frame("WINDOW_UPDATE overflowing the window",
            frame(0x8, 0x0, 0, b"\x7f\xff\xff\xff") + frame(0x8, 0x0, 0, b"\x7f\xff\xff\xff")),
    h2frame("DATA on an idle stream, over the frame size", frame(0x0, 0x0, 1, b"a" * 20000)),
    h2frame("CONTINUATION without HEADERS", frame(0x9, 0x4, 1, b"\x82")),
    h2frame("PRIORITY depending on itself", frame(0x2, 0x0, 5, b"\x00\x00\x00\x05\x10")),
    h2frame("RST_STREAM on stream 0", frame(0x3, 0x0, 0, b"\x00\x00\x00\x08")),
    h2frame("GOAWAY on a stream", frame(0x7, 0x0, 1, b"\x00" * 8)),
    h2frame("PUSH_PROMISE from a client", frame(0x5, 0x4, 1, b"\x00\x00\x00\x02\x82")),
]

CASES: list[Case] = [*REQUEST_LINES, *METHODS, *PATHS, *HEADERS, *SMUGGLING, *BODIES, *ALEXA,
                     *SYSTEM, *SLOW, *HTTP2]


def by_category(cases: list[Case] = CASES) -> dict[str, int]:
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.category] = counts.get(case.category, 0) + 1
    return counts
