"""The sidecar's HTTP/1.1 wire: sans-IO writers for what it puts on a socket.

Every request and response head the sidecar writes by hand (the function
path's answers in ``fastpath.py``, the hop's requests in ``upstream.py``, the
engine gate's refusals and Engine requests in ``gate/server.py``), the reason
phrases, the hop-by-hop field set and chunk framing live here once. Pure
functions over plain data: bytes out, no IO (the shape of h11's writers).
Sanic writes its own responses; this is for the paths that bypass it.
"""

from __future__ import annotations

from collections.abc import Iterable

# RFC 9110 7.6.1 connection-specific fields: never forwarded by a proxy.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
})

REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    206: "Partial Content", 301: "Moved Permanently", 302: "Found", 303: "See Other",
    304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
    415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests",
    499: "Client Closed Request", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}

# Framing lines for ``response_head``'s ``framing``.
CHUNKED = "transfer-encoding: chunked"
LAST_CHUNK = b"0\r\n\r\n"


def reason(status: int) -> str:
    """The reason phrase of ``status`` (any status gets one)."""
    return REASONS.get(status, "Unknown")


def content_length(length: int) -> str:
    """The framing line of a body of ``length`` bytes."""
    return f"content-length: {length}"


def response_head(status: int, headers: Iterable[tuple[str, str]],
                  framing: str | None = None) -> bytes:
    """A response head; ``framing`` (a ``content_length`` or ``CHUNKED``
    line) goes last, after ``headers``."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if framing:
        lines.append(framing)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def request_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """A request head; ``headers`` carry their own framing fields."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (``data`` not empty: an empty one ends it)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def no_body(status: int, method: str) -> bool:
    """True when a response carries no body whatever its fields say (RFC 9110 6.4.1)."""
    return method == "HEAD" or status < 200 or status in (204, 304)
