"""http mode on the wire, without IO: scan heads just enough to relay them.

The proxy forwards the client's request head and the upstream's response head
as bytes, cutting out hop-by-hop fields and inserting its own; it never builds
header lists on this path. Two compiled patterns do the work in C: one checks
a whole request head against the grammar `httpwire.parse_head` accepts, one
finds the few fields that matter. Anything unusual (chunked bodies, `Expect`,
`Connection` naming other fields, a missing `Host`, 1xx/204/304 or
close-delimited responses) returns None and takes the general path
(httpwire + headers.py), so this module only has to be right for the common
case and never has to be complete.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .httpwire import HttpError

_TCHAR = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]"
# Request line and header lines as httpwire.parse_head accepts them (token method,
# target without controls or spaces, HTTP/1.0 or 1.1, token names right before
# the colon, values without NUL/CR/LF). The head is given without its last CRLF.
_REQUEST_HEAD = re.compile(
    rb"(%s+) ([^\x00-\x20\x7f]+) HTTP/1\.([01])(?:\r\n%s+:[^\x00\r\n]*)*" % (_TCHAR, _TCHAR))
_HOP = (rb"connection|keep-alive|proxy-connection|proxy-authenticate|proxy-authorization"
        rb"|te|trailer|transfer-encoding|upgrade")
# Fields that need a decision beyond "keep": hop-by-hop ones (cut out, and
# Connection read), Expect (general path), and in responses our own headers.
_REQUEST_SPECIAL = re.compile(rb"\r\n(expect|%s):([^\r]*)" % _HOP)
_RESPONSE_SPECIAL = re.compile(
    rb"\r\n(x-duration-seconds|x-swarmfaas-cpu|x-swarmfaas-draining|%s):([^\r]*)" % _HOP)
_CONNECTION_TOKENS = frozenset({b"close", b"keep-alive", b""})
_WS = b" \t"


def _length(lowered: bytes, end: int) -> int | None:
    """The one Content-Length value (-1 when absent); None if repeated or malformed."""
    at = lowered.find(b"\r\ncontent-length:")
    if at < 0:
        return -1
    stop = lowered.find(b"\r", at + 17)
    if stop < 0:
        stop = end
    value = lowered[at + 17:stop].strip(_WS)
    if not value.isdigit() or lowered.find(b"\r\ncontent-length:", stop) >= 0:
        return None
    return int(value)


def _connection(value: bytes) -> tuple[bool, bool] | None:
    """(close, keep-alive) tokens of a Connection value; None if it names other fields."""
    tokens = {t.strip(_WS) for t in value.split(b",")}
    if not tokens <= _CONNECTION_TOKENS:
        return None
    return b"close" in tokens, b"keep-alive" in tokens


class FastRequest(NamedTuple):
    """A request head fit to forward, and what the proxy needs to know of it."""

    method: bytes
    keep_alive: bool
    content_length: int
    call_id: bytes  # b"" when absent
    cuts: tuple[tuple[int, int], ...]  # spans of hop-by-hop lines to leave out


def scan_request(buf: bytes | bytearray, end: int, request_limit: int) -> FastRequest | None:
    """Scan the head in buf[:end] (end: where its final CRLFCRLF starts).

    None: not for the fast path (the general parser decides, including errors).
    Raises HttpError(413) when Content-Length is over `request_limit`.
    """
    line = _REQUEST_HEAD.fullmatch(buf, 0, end)
    if line is None or buf.startswith(b"/_/", line.start(2)):
        return None
    lowered = bytes(buf[:end]).lower()
    if b"\r\nhost:" not in lowered:
        return None
    length = _length(lowered, end)
    if length is None:
        return None
    call_id = b""
    at = lowered.find(b"\r\nx-call-id:")
    if at >= 0:
        stop = lowered.find(b"\r", at + 12)
        call_id = bytes(buf[at + 12:stop if stop >= 0 else end]).strip(_WS)
    close = keep = False
    cuts: tuple[tuple[int, int], ...] = ()
    if _REQUEST_SPECIAL.search(lowered) is not None:
        spans = []
        for m in _REQUEST_SPECIAL.finditer(lowered):
            name = m.group(1)
            if name in (b"transfer-encoding", b"expect"):
                return None
            if name == b"connection":
                tokens = _connection(m.group(2))
                if tokens is None:
                    return None  # names fields to drop: general path
                close, keep = close or tokens[0], keep or tokens[1]
            spans.append(m.span())  # hop-by-hop fields never cross a proxy
        cuts = tuple(spans)
    if length > request_limit:
        raise HttpError(413, f"request body of {length} bytes is over the limit of "
                             f"{request_limit} bytes")
    keep_alive = not close if line.group(3) == b"1" else keep and not close
    return FastRequest(line.group(1), keep_alive, max(length, 0), call_id, cuts)


def cut(buf: bytes | bytearray, start: int, stop: int,
        cuts: tuple[tuple[int, int], ...]) -> bytes:
    """buf[start:stop] without the spans in `cuts` (sorted, inside the range)."""
    if not cuts:
        return bytes(buf[start:stop])
    parts = []
    at = start
    for a, b in cuts:
        parts.append(buf[at:a])
        at = b
    parts.append(buf[at:stop])
    return b"".join(parts)


class FastResponse(NamedTuple):
    """An upstream response head, trimmed to relay, and its framing."""

    status: int
    content_length: int  # body bytes to read (0 for HEAD)
    keep_alive: bool  # may the upstream connection be reused
    head: bytes  # status line and end-to-end fields, no final CRLF, status line as HTTP/1.1
    has_call_id: bool
    has_content_type: bool


def scan_response(head: bytes | bytearray, end: int, method: bytes) -> FastResponse | None:
    """Scan an upstream response head in head[:end]; None: use the general path."""
    if not head.startswith(b"HTTP/1.1 ") or head[12:13] not in (b" ", b"\r"):
        return None
    code = head[9:12]
    if not code.isdigit() or code < b"200" or code in (b"204", b"304"):
        return None
    lowered = bytes(head[:end]).lower()
    length = _length(lowered, end)
    if length is None or length < 0 or b"\r\ntransfer-encoding:" in lowered:
        return None  # close-delimited, chunked or malformed: general path
    keep_alive = True
    if _RESPONSE_SPECIAL.search(lowered) is None:
        kept = bytes(head[:end])
    else:
        spans = []
        for m in _RESPONSE_SPECIAL.finditer(lowered):
            if m.group(1) == b"connection":
                tokens = _connection(m.group(2))
                if tokens is None:
                    return None
                keep_alive = keep_alive and not tokens[0]
            # hop-by-hop, or our X-Duration-Seconds / X-Swarmfaas-Cpu, which we replace,
            # or X-Swarmfaas-Draining, which only the watchdog may send (errors.py)
            spans.append(m.span())
        kept = cut(head, 0, end, tuple(spans))
    return FastResponse(int(code), 0 if method == b"HEAD" else length, keep_alive, kept,
                        b"\r\nx-call-id:" in lowered, b"\r\ncontent-type:" in lowered)
