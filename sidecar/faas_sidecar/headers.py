"""Header policy of the proxy hop: pure functions over lists of (name, value)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

# RFC 9110 7.6.1 connection-specific fields, plus fields this hop owns itself:
# Expect (Sanic already answered 100-continue) and Content-Length (re-set here).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
})
REQUEST_OWNED = HOP_BY_HOP | {"expect", "content-length", "x-call-id", "x-start-time"}
RESPONSE_OWNED = HOP_BY_HOP | {"content-length", "x-call-id"}

CALL_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Field names listed in Connection: they are hop-by-hop too."""
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def call_id_for(given: str | None) -> str:
    """The caller's X-Call-Id when it is sane, else a new one."""
    if given and CALL_ID_RE.match(given):
        return given
    return str(uuid.uuid4())


def request_headers(
    headers: Iterable[tuple[str, str]],
    *,
    call_id: str,
    start_time_ns: int,
    client_ip: str,
    scheme: str,
    body_length: int | None,
) -> list[tuple[str, str]]:
    """Headers to send upstream. ``body_length`` None means chunked."""
    headers = list(headers)
    drop = REQUEST_OWNED | connection_tokens(headers)
    out: list[tuple[str, str]] = []
    forwarded_for: str | None = None
    have_proto = have_host = False
    host = None
    for name, value in headers:
        lower = name.lower()
        if lower in drop:
            continue
        if lower == "x-forwarded-for":
            forwarded_for = value if forwarded_for is None else f"{forwarded_for}, {value}"
            continue
        if lower == "x-forwarded-proto":
            have_proto = True
        elif lower == "x-forwarded-host":
            have_host = True
        elif lower == "host":
            host = value
        out.append((name, value))
    # nginx in front already set X-Forwarded-*; append the peer, keep the rest.
    if client_ip:
        forwarded_for = client_ip if forwarded_for is None else f"{forwarded_for}, {client_ip}"
    if forwarded_for:
        out.append(("X-Forwarded-For", forwarded_for))
    if not have_proto:
        out.append(("X-Forwarded-Proto", scheme))
    if not have_host and host:
        out.append(("X-Forwarded-Host", host))
    out.append(("X-Call-Id", call_id))
    out.append(("X-Start-Time", str(start_time_ns)))
    if body_length is None:
        out.append(("Transfer-Encoding", "chunked"))
    else:
        out.append(("Content-Length", str(body_length)))
    return out


def response_headers(
    headers: Iterable[tuple[str, str]], *, call_id: str
) -> list[tuple[str, str]]:
    """Headers to send back to the client; Sanic sets framing itself."""
    headers = list(headers)
    drop = RESPONSE_OWNED | connection_tokens(headers)
    out = [(n, v) for n, v in headers if n.lower() not in drop]
    out.append(("X-Call-Id", call_id))
    return out
