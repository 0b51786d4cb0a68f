"""Header policy of the proxy hop: pure functions over lists of (name, value)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

from .wire import HOP_BY_HOP

# Besides the hop-by-hop fields (wire.HOP_BY_HOP), fields this hop owns itself:
# Expect (Sanic already answered 100-continue) and Content-Length (re-set here).
# X-Swarmfaas-Delivery carries the queue worker's token: never to a function.
REQUEST_OWNED = HOP_BY_HOP | {"expect", "content-length", "x-call-id", "x-start-time",
                              "x-swarmfaas-delivery"}
# x-swarmfaas-cpu: the watchdog's report to the platform (cpumeter.py), not the client's
CPU_HEADER = "x-swarmfaas-cpu"
RESPONSE_OWNED = HOP_BY_HOP | {"content-length", "x-call-id", CPU_HEADER}
# Fields the request policy looks at besides dropping them (one lookup per field).
_FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "host"})

CALL_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Version 4 and the RFC 4122 variant, set in a random 128-bit number.
_UUID_KEEP = ((1 << 128) - 1) ^ (0xF000 << 64) ^ (0xC000 << 48)
_UUID_V4 = (0x4000 << 64) | (0x8000 << 48)
_getrandbits = random.getrandbits


def connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Field names listed in Connection: they are hop-by-hop too."""
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def call_id_for(given: str | None) -> str:
    """The caller's X-Call-Id when it is sane, else a new one."""
    if given and CALL_ID_RE.fullmatch(given):
        return given
    return new_call_id()


def new_call_id() -> str:
    """A random (version 4) UUID in its usual 36-character form, from the
    ``random`` module: a call ID must be unique, not secret, and this costs
    less than half of an ``os.urandom`` read (a system call on every request)."""
    h = "%032x" % ((_getrandbits(128) & _UUID_KEEP) | _UUID_V4)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    # One pass over the fields (this runs on every request); fields named in
    # Connection are dropped afterwards, only when Connection names any.
    out: list[tuple[str, str]] = []
    kept_lower: list[str] = []
    connection: list[str] = []
    forwarded_for: str | None = None
    have_proto = have_host = False
    host = None
    for name, value in headers:
        lower = name.lower()
        if lower in REQUEST_OWNED:
            if lower == "connection":
                connection.append(value)
            continue
        if lower in _FORWARDED:
            if lower == "x-forwarded-for":
                forwarded_for = value if forwarded_for is None else f"{forwarded_for}, {value}"
                continue
            if lower == "x-forwarded-proto":
                have_proto = True
            elif lower == "x-forwarded-host":
                have_host = True
            else:
                host = value
        out.append((name, value))
        kept_lower.append(lower)
    if connection:
        named = connection_tokens(("connection", v) for v in connection) - REQUEST_OWNED
        if named:
            out = [f for f, low in zip(out, kept_lower, strict=True) if low not in named]
            if "x-forwarded-for" in named:
                forwarded_for = None
            have_proto = have_proto and "x-forwarded-proto" not in named
            have_host = have_host and "x-forwarded-host" not in named
            if "host" in named:
                host = None
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
    """Headers to send back to the client; the server sets framing itself."""
    return response_headers_and_cpu(headers, call_id=call_id)[0]


def response_headers_and_cpu(
    headers: Iterable[tuple[str, str]], *, call_id: str
) -> tuple[list[tuple[str, str]], str | None]:
    """``response_headers``, and the watchdog's X-Swarmfaas-Cpu (taken out) in the
    same pass."""
    out: list[tuple[str, str]] = []
    connection: list[str] = []
    cpu = None
    for name, value in headers:
        lower = name.lower()
        if lower in RESPONSE_OWNED:
            if lower == "connection":
                connection.append(value)
            elif lower == CPU_HEADER:
                cpu = value
            continue
        out.append((name, value))
    if connection:
        named = connection_tokens(("connection", v) for v in connection)
        if named:
            out = [(n, v) for n, v in out if n.lower() not in named]
    out.append(("X-Call-Id", call_id))
    return out, cpu
