"""Header policy: what the watchdog adds to, keeps from and drops from messages."""

from __future__ import annotations

import re

from .cgroupcpu import HEADER as CPU_HEADER
from .cgroupcpu import cpu_header
from .httpwire import RequestHead

# RFC 9110 7.6.1: hop-by-hop fields never cross a proxy.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
})


_VISIBLE = re.compile(r"[\t\x20-\x7e]+")  # visible ASCII, space and tab


def response_content_type(configured: str, head: RequestHead) -> str | None:
    """`content_type` if set, else the request's Content-Type, else none.

    A request's type with control characters is not echoed: a response field
    must not carry them, and the sidecar rightly refuses such an answer (502)."""
    if configured:
        return configured
    requested = head.header("content-type")
    return requested if _VISIBLE.fullmatch(requested) else None


def function_response_headers(
    configured_type: str, head: RequestHead, duration: float
) -> list[tuple[str, str]]:
    """Headers of a fork/stream response, without framing (Content-Length/chunked)."""
    headers = [("X-Duration-Seconds", f"{duration:.6f}")]
    if cpu := cpu_header():
        headers.append((CPU_HEADER, cpu))
    ctype = response_content_type(configured_type, head)
    if ctype:
        headers.append(("Content-Type", ctype))
    call_id = head.header("x-call-id")
    if call_id:
        headers.append(("X-Call-Id", call_id))
    return headers


def forwardable_head(head: RequestHead) -> bytes | None:
    """The request head as received, when it can go to the upstream unchanged.

    That is when it has no hop-by-hop field (so nothing to drop), a Host, and a
    body framed by Content-Length (a chunked body was decoded: it needs a new
    head). Saves parsing-out and re-serialising every header per request.
    """
    if head.chunked or not head.raw:
        return None
    has_host = False
    for name, _ in head.headers:
        if name in HOP_BY_HOP:
            return None
        if name == "host":
            has_host = True
    return head.raw if has_host else None


def upstream_request_headers(head: RequestHead) -> list[tuple[str, str]]:
    """Request headers to forward to the upstream: end-to-end only, plus forwarding info."""
    drop = HOP_BY_HOP | {"content-length"}
    connection = head.header("connection")
    if connection:
        drop = drop | {t.strip().lower() for t in connection.split(",")}
    return [(n, v) for n, v in head.headers if n not in drop]


def proxied_response_headers(
    upstream: list[tuple[str, str]], configured_type: str, head: RequestHead, duration: float
) -> list[tuple[str, str]]:
    """The upstream's end-to-end headers plus the watchdog's own (a function's
    X-Swarmfaas-Draining is cut: only the watchdog marks a draining answer)."""
    drop = HOP_BY_HOP | {"content-length", "x-duration-seconds", "x-swarmfaas-cpu",
                         "x-swarmfaas-draining"}
    for name, value in upstream:
        if name.lower() == "connection":
            drop = drop | {t.strip().lower() for t in value.split(",")}
    headers = [(n, v) for n, v in upstream if n.lower() not in drop]
    if configured_type and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", configured_type))
    call_id = head.header("x-call-id")
    if call_id and not any(n.lower() == "x-call-id" for n, _ in headers):
        headers.append(("X-Call-Id", call_id))
    headers.append(("X-Duration-Seconds", f"{duration:.6f}"))
    if cpu := cpu_header():
        headers.append((CPU_HEADER, cpu))
    return headers
