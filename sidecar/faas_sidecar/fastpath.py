"""The lean function path: ``/function/<name>[/<rest>]`` served without Sanic's
request cycle.

Why: on the hop benchmark (docs/sidecar.md) Sanic's per-request machinery
(Request object, router, handler dispatch, response object, header
formatting) cost about as much CPU as the whole proxy exchange; a trivial
Sanic handler alone measured ~60 us of CPU per request on this machine. The
sidecar's job on ``/function/*`` is narrow, so this protocol serves the plain
cases itself and hands everything else to Sanic, unchanged.

``FunctionProtocol`` is Sanic's ``HttpProtocol`` with one more step in front
of Sanic's connection loop: while each request head in the buffer is a plain
HTTP/1.1 ``/function/<name>...`` request (no Transfer-Encoding, no Expect, no
Upgrade, a Content-Length body of at most ``FAST_BODY_LIMIT`` bytes), it is
forwarded with ``Proxy.call`` (the same balancing, retries, timeouts, header
policy and metrics as ``Proxy.forward``) and the answer is written with one
``write`` for small bodies, streamed with flow control otherwise. At the first
request that is anything else (another path, a big or chunked upload, HTTP/1.0,
anything unusual in the head) the connection is handed to Sanic's own loop
with that request still unread in the buffer, for good: Sanic then parses,
validates and routes it as before, so ``/system/*``, Alexa, ``/metrics``,
``X-Function`` and every error of the parser behave exactly as without this
path.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from sanic.server.protocols.http_protocol import HttpProtocol

from .errors import PlatformError, error_body, error_headers
from .headers import call_id_for
from .routing import FUNCTION_PREFIX

log = logging.getLogger("faas_sidecar.fastpath")

FAST_BODY_LIMIT = 64 * 1024  # larger bodies go to Sanic, which streams them
MAX_HEAD = 16 * 1024  # a head without its end by then is Sanic's to judge
METHODS = frozenset({b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"HEAD", b"OPTIONS"})
# Request fields that send a request to Sanic: framing and protocol switches
# this path does not implement.
HAND_OVER_FIELDS = frozenset({"transfer-encoding", "expect", "upgrade"})
# Anything but visible ASCII in the target is Sanic's to parse or reject; so
# is a field line that is not ``token ":" visible-or-tab*`` (obs-fold, stray
# CR or LF, control characters): one regex over all field lines at once.
_ODD_TARGET = re.compile(rb"[^\x21-\x7e]")
_FIELD_LINES = re.compile(
    rb"(?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*)*\Z")
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


class Plain:
    """A parsed request head the fast path takes (see ``parse_head``)."""

    __slots__ = ("body_length", "close", "headers", "method", "name", "path", "query",
                 "x_call_id")

    def __init__(self, method: str, name: str, path: str, query: str,
                 headers: list[tuple[str, str]], body_length: int, close: bool,
                 x_call_id: str | None) -> None:
        self.method = method
        self.name = name
        self.path = path
        self.query = query
        self.headers = headers
        self.body_length = body_length
        self.close = close
        self.x_call_id = x_call_id


def parse_head(head: bytes) -> Plain | None:
    """The request if the fast path takes it, else None (Sanic takes it).

    ``head`` is everything before the blank line. Pure; tested by table.
    """
    first_end = head.find(b"\r\n")
    first = head if first_end < 0 else head[:first_end]
    if first_end >= 0 and not _FIELD_LINES.match(head, first_end):
        return None
    parts = first.split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1" or parts[0] not in METHODS:
        return None
    target = parts[1]
    if not target.startswith(b"/function/") or _ODD_TARGET.search(target) or b"#" in target:
        return None
    raw_path, _, raw_query = target.partition(b"?")
    path = raw_path.decode("ascii")
    name, slash, rest = path[len(FUNCTION_PREFIX):].partition("/")
    if not name:
        return None  # no name: Sanic's routing decides (the same as before)
    headers: list[tuple[str, str]] = []
    body_length = -1
    close = False
    x_call_id = None
    for line in head[first_end + 2:].split(b"\r\n") if first_end >= 0 else ():
        raw_name, _, raw_value = line.partition(b":")
        field = raw_name.decode("latin-1")
        value = raw_value.strip(b" \t").decode("latin-1")
        lower = field.lower()
        if lower in HAND_OVER_FIELDS:
            return None
        if lower == "content-length":
            if not value.isdigit() or (body_length >= 0 and int(value) != body_length):
                return None
            body_length = int(value)
            if body_length > FAST_BODY_LIMIT:
                return None
        elif lower == "connection":
            if "close" in (t.strip().lower() for t in value.split(",")):
                close = True
        elif lower == "x-call-id":
            x_call_id = value
        headers.append((field, value))
    return Plain(parts[0].decode("ascii"), name, "/" + rest if slash else "/",
                 raw_query.decode("ascii"), headers, max(body_length, 0), close, x_call_id)


def encode_response_head(status: int, headers: list[tuple[str, str]],
                         framing: str | None) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if framing:
        lines.append(framing)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _no_body(status: int, method: str) -> bool:
    return method == "HEAD" or status < 200 or status in (204, 304)


class FunctionProtocol(HttpProtocol):
    """Sanic's HTTP/1.1 protocol, with the lean function path in front."""

    __slots__ = ("_buffer_size", "_idle_timer", "_keep_alive_timeout", "_waiting")  # as Sanic's

    def data_received(self, data: bytes) -> None:
        # Sanic's, minus a config lookup per read (REQUEST_BUFFER_SIZE is fixed).
        try:
            self._time = time.monotonic()
            if not data:
                return self.close()
            self.recv_buffer += data
            try:
                limit = self._buffer_size
            except AttributeError:
                limit = self._buffer_size = self.app.config.REQUEST_BUFFER_SIZE
            if len(self.recv_buffer) >= limit and self.transport:
                self.transport.pause_reading()
            self._data_received.set()
        except Exception:
            log.exception("protocol.data_received")

    async def connection_task(self):  # type: ignore[override]
        handed = False
        self._waiting = False
        self._idle_timer: asyncio.TimerHandle | None = None
        try:
            handed = await self._serve_plain()
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("function path failed on a connection")
        finally:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
        if handed:
            await super().connection_task()
            return
        try:
            self.close()
        except BaseException:
            log.exception("closing a connection failed")

    async def _serve_plain(self) -> bool:
        """Serve plain function requests; True to hand the connection to Sanic."""
        app = self.app
        proxy = app.ctx.proxy
        keep_alive_timeout = app.config.KEEP_ALIVE_TIMEOUT
        conn_info = self.conn_info
        scheme = "https" if conn_info is not None and conn_info.ssl else "http"
        client_ip = (conn_info.client_ip if conn_info is not None else "") or ""
        buffer = self.recv_buffer
        transport = self.transport
        # One timer per connection (not per request) closes it when a wait
        # for the client's bytes lasts longer than Sanic's KEEP_ALIVE_TIMEOUT.
        self._keep_alive_timeout = keep_alive_timeout
        self._idle_timer = self.loop.call_later(keep_alive_timeout, self._check_idle)
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    return True
                if not await self._more():
                    return False
                continue
            plain = parse_head(bytes(buffer[:end]))
            if plain is None:
                return True
            total = end + 4 + plain.body_length
            while len(buffer) < total:
                if not await self._more():
                    return False
            body = bytes(buffer[end + 4:total])
            del buffer[:total]
            if transport is None or transport.is_closing():
                return False
            call_id = call_id_for(plain.x_call_id)
            if not await self._answer(proxy, plain, body, call_id, client_ip, scheme):
                return False
            if plain.close:
                return False

    async def _more(self) -> bool:
        """Wait for more bytes; False when the client is gone."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        transport.resume_reading()
        self._data_received.clear()
        self._waiting = True
        try:
            await self._data_received.wait()
        finally:
            self._waiting = False
        return not transport.is_closing()

    def _check_idle(self) -> None:
        # self._time is stamped by data_received and after each answer.
        idle = time.monotonic() - self._time
        if self._waiting and idle >= self._keep_alive_timeout:
            self.close()  # connection_lost cancels the task
            return
        delay = self._keep_alive_timeout - idle if self._waiting else self._keep_alive_timeout
        self._idle_timer = self.loop.call_later(max(delay, 0.1), self._check_idle)

    async def _answer(self, proxy, plain: Plain, body: bytes, call_id: str,
                      client_ip: str, scheme: str) -> bool:
        """Forward one request and write the answer; False to close the connection."""
        transport = self.transport
        try:
            reply = await proxy.call(
                plain.name, plain.method, plain.path, plain.query, plain.headers,
                client_ip=client_ip, scheme=scheme, call_id=call_id, body=body)
        except PlatformError as exc:
            self._write_error(exc.status, exc.code, exc.reason, call_id, exc.headers,
                              plain.close)
            return True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error on %s %s", plain.method, plain.path)
            self._write_error(500, "internal_error", "the sidecar failed", call_id, {},
                              plain.close)
            return True
        self._time = time.monotonic()
        status = reply.status
        if plain.close:
            reply.headers.append(("connection", "close"))
        if reply.body is not None:
            if _no_body(status, plain.method):
                transport.write(encode_response_head(status, reply.headers, None))
            else:
                transport.write(encode_response_head(
                    status, reply.headers, f"content-length: {len(reply.body)}") + reply.body)
            return True
        return await self._stream(reply, plain.method)

    async def _stream(self, reply, method: str) -> bool:
        transport = self.transport
        ok = False
        try:
            if _no_body(reply.status, method):
                transport.write(encode_response_head(reply.status, reply.headers, None))
                ok = True
                return True
            length = any(n.lower() == "content-length" for n, _ in reply.headers)
            transport.write(encode_response_head(
                reply.status, reply.headers, None if length else "transfer-encoding: chunked"))
            async for chunk in reply.chunks:
                if transport.is_closing():
                    return False
                transport.write(chunk if length else b"%x\r\n%b\r\n" % (len(chunk), chunk))
                if not self._can_write.is_set():
                    await self._can_write.wait()
            if not length:
                transport.write(b"0\r\n\r\n")
            ok = True
            return True
        except PlatformError:
            return False  # a timeout mid-body: the head is out, only closing tells the client
        except Exception as exc:  # the replica failed mid-body
            log.info("relay of a streamed answer stopped: %s", exc)
            return False
        finally:
            reply.done(ok)

    def _write_error(self, status: int, code: str, reason: str, call_id: str,
                     extra: dict[str, str], close: bool = False) -> None:
        body = error_body(status, code, reason, call_id)
        headers = list(error_headers({**extra, "X-Call-Id": call_id}).items())
        if close:
            headers.append(("connection", "close"))
        self.transport.write(encode_response_head(
            status, headers, f"content-length: {len(body)}") + body)
