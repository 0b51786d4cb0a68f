"""The lean function path: ``/function/<name>[/<rest>]`` served without Sanic's
request cycle, and in the common case without a task. ``/async-function/<name>``
too, always in a task (``Proxy.call`` stores it and awaits the broker's ack):
through Sanic the 202 path cost about 60 us more CPU per call (docs/webhooks.md).

Why: on the hop benchmark (docs/sidecar.md) Sanic's per-request machinery
(Request object, router, handler dispatch, response object, header
formatting) cost about as much CPU as the whole proxy exchange; a trivial
Sanic handler alone measured ~60 us of CPU per request on this machine. The
sidecar's job on ``/function/*`` is narrow, so this protocol serves the plain
cases itself and hands everything else to Sanic, unchanged.

``FunctionProtocol`` is Sanic's ``HttpProtocol`` with one more step in front
of Sanic's connection loop. While each request head in the buffer is a plain
HTTP/1.1 ``/function/<name>...`` request (no Transfer-Encoding, no Expect, no
Upgrade, a Content-Length body of at most ``FAST_BODY_LIMIT`` bytes):

- if the function has a ready replica with an idle pooled connection,
  ``data_received`` sends it there at once (``Proxy.call_now``) and the
  answer is written from that connection's callback: no task, no future, no
  switch of coroutines on the request's way;
- otherwise (a new connection to open, a request to hold, a retry, an answer
  to stream) a task serves it with ``Proxy.call``: the same balancing,
  retries, timeouts, header policy and metrics.

At the first request that is anything else (another path, a big or chunked
upload, HTTP/1.0, anything unusual in the head) the connection is handed to
Sanic's own loop with that request still unread in the buffer, for good:
Sanic then parses, validates and routes it as before, so ``/system/*``,
Alexa, ``/metrics``, ``X-Function`` and every error of the parser behave
exactly as without this path.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from sanic.server.protocols.http_protocol import HttpProtocol

from .errors import PlatformError, error_body, error_headers, internal_error
from .headers import call_id_for
from .labels import NAME_PRECHECK
from .proxy import Reply
from .routing import NAMESPACES
from .wire import CHUNKED, LAST_CHUNK, chunk, content_length, no_body, response_head

log = logging.getLogger("faas_sidecar.fastpath")

FAST_BODY_LIMIT = 64 * 1024  # larger bodies go to Sanic, which streams them
MAX_HEAD = 16 * 1024  # a head without its end by then is Sanic's to judge
# Request fields that send a request to Sanic: framing and protocol switches
# this path does not implement.
HAND_OVER_FIELDS = frozenset({"transfer-encoding", "expect", "upgrade"})
_LOOKED_AT = HAND_OVER_FIELDS | {"content-length", "connection", "x-call-id"}
# Anything but visible ASCII in the target is Sanic's to parse or reject; so
# is a field line that is not ``token ":" visible-or-tab*`` (obs-fold, stray
# CR or LF, control characters): one regex over all field lines at once.
# The request line: a method, then a target of visible ASCII but "#", under
# /function/<name> or /async-function/<name> with a name that can be a function's
# (labels.NAME_PRECHECK),
# optionally followed by ".<namespace>" (OpenFaaS's addressing), then HTTP/1.1.
_REQUEST_LINE = re.compile(
    rb"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /(function|async-function)/("
    + NAME_PRECHECK.encode() + rb")"
    rb"(?:\.(" + NAME_PRECHECK.encode() + rb"))?"
    rb"(?:/([\x21\x22\x24-\x3e\x40-\x7e]*))?(?:\?([\x21\x22\x24-\x7e]*))? HTTP/1\.1")
_NAMESPACES = frozenset(ns.encode() for ns in NAMESPACES)
_FIELD_LINES = re.compile(
    rb"(?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*)*\Z")


class Plain:
    """A parsed request head the fast path takes (see ``parse_head``)."""

    __slots__ = ("asynchronous", "body_length", "call_id", "close", "headers", "method",
                 "name", "path", "query", "x_call_id")

    def __init__(self, method: str, name: str, path: str, query: str,
                 headers: list[tuple[str, str]], body_length: int, close: bool,
                 x_call_id: str | None, asynchronous: bool = False) -> None:
        self.asynchronous = asynchronous  # /async-function/: stored, answered 202
        self.method = method
        self.name = name
        self.path = path
        self.query = query
        self.headers = headers
        self.body_length = body_length
        self.close = close
        self.x_call_id = x_call_id
        self.call_id = ""  # the one in use, set when the request is served


def parse_head(head: bytes) -> Plain | None:
    """The request if the fast path takes it, else None (Sanic takes it).

    ``head`` is everything before the blank line. Pure; tested by table.
    """
    first_end = head.find(b"\r\n")
    if first_end < 0:
        first_end = len(head)
    elif not _FIELD_LINES.match(head, first_end):
        return None
    first = _REQUEST_LINE.fullmatch(head, 0, first_end)
    if first is None:
        return None
    method, kind, name, namespace, rest, query = first.groups()
    if namespace is not None and namespace not in _NAMESPACES:
        return None  # Sanic's routing answers the 404 namespace_not_found
    headers: list[tuple[str, str]] = []
    body_length = -1
    close = False
    x_call_id = None
    if first_end < len(head):
        for line in head[first_end + 2:].decode("latin-1").split("\r\n"):
            field, _, value = line.partition(":")
            value = value.strip(" \t")
            lower = field.lower()
            if lower in _LOOKED_AT:
                if lower in HAND_OVER_FIELDS:
                    return None
                if lower == "content-length":
                    # isascii: "²" passes isdigit() and int() refuses it
                    if (not (value.isascii() and value.isdigit())
                            or (body_length >= 0 and int(value) != body_length)):
                        return None
                    body_length = int(value)
                    if body_length > FAST_BODY_LIMIT:
                        return None
                elif lower == "connection":
                    if "close" in (t.strip().lower() for t in value.split(",")):
                        close = True
                else:
                    x_call_id = value
            headers.append((field, value))
    return Plain(method.decode(), name.decode(), "/" + rest.decode() if rest is not None else "/",
                 query.decode() if query is not None else "", headers, max(body_length, 0),
                 close, x_call_id, kind == b"async-function")


# What a connection is doing (FunctionProtocol._fp_state).
IDLE = 0  # waiting for the client's next request
PENDING = 1  # a request is out to a replica; its answer comes by callback
LANE = 2  # a task serves the request: held, connecting, retried, or streamed
SANIC = 3  # handed to Sanic's own loop, for good


class FunctionProtocol(HttpProtocol):
    """Sanic's HTTP/1.1 protocol, with the lean function path in front.

    The common case runs without a task: ``data_received`` parses the head,
    ``Proxy.call_now`` sends the request on an idle pooled connection, and
    the replica's answer comes back through that connection's callback
    (``_delivered``), which writes it and parses the next request. A request
    that must wait for anything else goes to a task (the "lane") running the
    same policy with ``Proxy.call``.
    """

    __slots__ = ("_fp_closing", "_fp_idle_timer", "_fp_keep_alive", "_fp_lane",
                 "_fp_limit", "_fp_paused", "_fp_peer", "_fp_pending", "_fp_plain",
                 "_fp_state", "_fp_take_over", "_fp_waiting")

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self._time = time.monotonic()
        self._fp_state = IDLE
        self._fp_waiting = True
        self._fp_paused = False
        self._fp_closing = False
        self._fp_pending = None
        self._fp_plain = None
        self._fp_lane: asyncio.Task[None] | None = None
        self._fp_take_over = self.loop.create_future()
        self._fp_limit = self.app.config.REQUEST_BUFFER_SIZE
        # One timer per connection (not per request) closes it when a wait
        # for the client's bytes lasts longer than Sanic's KEEP_ALIVE_TIMEOUT.
        self._fp_keep_alive = self.app.config.KEEP_ALIVE_TIMEOUT
        self._fp_idle_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self._fp_keep_alive, self._check_idle)
        super().connection_made(transport)  # starts connection_task, sets conn_info
        conn_info = self.conn_info
        # (client address, scheme): the same for every request on the connection
        self._fp_peer = ((conn_info.client_ip if conn_info is not None else "") or "",
                         "https" if conn_info is not None and conn_info.ssl else "http")

    def data_received(self, data: bytes) -> None:
        try:
            self._time = time.monotonic()
            if not data:
                return self.close()
            self.recv_buffer += data
            if len(self.recv_buffer) >= self._fp_limit and self.transport:
                self._fp_paused = True
                self.transport.pause_reading()
            state = self._fp_state
            if state == IDLE:
                self._pump()
            elif state == SANIC:
                self._data_received.set()
        except Exception:
            log.exception("function path failed on a connection")
            self.close()

    async def connection_task(self):  # type: ignore[override]
        # Idle until Sanic must take the connection over (or it closes).
        try:
            await self._fp_take_over
        except asyncio.CancelledError:
            return
        await super().connection_task()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_idle_timer()
        pending, self._fp_pending = self._fp_pending, None
        if pending is not None:
            pending.cancel()
        if self._fp_lane is not None:
            self._fp_lane.cancel()
        super().connection_lost(exc)

    def close_if_idle(self) -> bool:
        # Sanic's graceful shutdown: close now only between requests; a
        # request being served is answered first (then the connection closes).
        if self._fp_state == SANIC:
            return super().close_if_idle()
        if self._fp_state == IDLE and not self.recv_buffer:
            self.close()
            return True
        self._fp_closing = True
        return False

    # the function path
    def _pump(self) -> None:
        """Start the next request in the buffer, if it is whole."""
        buffer = self.recv_buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD:
                self._hand_over()
            else:
                self._wait_for_client()
            return
        plain = parse_head(bytes(buffer[:end]))
        if plain is None:
            self._hand_over()
            return
        total = end + 4 + plain.body_length
        if len(buffer) < total:
            self._wait_for_client()
            return
        body = bytes(buffer[end + 4:total])
        del buffer[:total]
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._fp_waiting = False
        self._fp_plain = plain
        call_id = plain.call_id = call_id_for(plain.x_call_id)
        client_ip, scheme = self._fp_peer
        proxy = self.app.ctx.proxy
        if plain.asynchronous:  # stored by Proxy.call in a task: the broker's ack is awaited
            self._fp_state = LANE
            self._fp_lane = self.loop.create_task(self._lane(self._answer(proxy, plain, body)))
            return
        pending = proxy.call_now(plain.name, plain.method, plain.path, plain.query,
                                 plain.headers, body, client_ip=client_ip, scheme=scheme,
                                 call_id=call_id, deliver=self._delivered)
        if pending is not None:
            self._fp_state = PENDING
            self._fp_pending = pending
            return
        self._fp_state = LANE
        self._fp_lane = self.loop.create_task(
            self._lane(self._answer(proxy, plain, body)))

    def _wait_for_client(self) -> None:
        self._fp_state = IDLE
        self._fp_waiting = True
        if self._fp_paused and self.transport is not None:
            self._fp_paused = False
            self.transport.resume_reading()

    def _hand_over(self) -> None:
        """Sanic's loop takes the connection, the unread request first."""
        self._fp_state = SANIC
        self._stop_idle_timer()
        if self._fp_paused and self.transport is not None:
            self._fp_paused = False
            self.transport.resume_reading()  # Sanic pauses again if it must
        if not self._fp_take_over.done():
            self._fp_take_over.set_result(None)

    def _delivered(self, result) -> None:  # type: ignore[no-untyped-def]
        """The replica's answer (or the platform's error) to a pending call."""
        self._fp_pending = None
        plain = self._fp_plain
        transport = self.transport
        if transport is None or transport.is_closing():
            # The client is leaving (connection_lost has not run yet).
            if isinstance(result, Reply) and result.body is None:
                result.done(False)
            return
        try:
            if isinstance(result, Reply):
                if result.body is None:
                    self._fp_state = LANE
                    self._fp_lane = self.loop.create_task(
                        self._lane(self._stream(result, plain.method, plain.close)))
                    return
                self._write_reply(result, plain.method, plain.close)
            else:
                self._write_failure(result, plain)
        except Exception:
            log.exception("writing an answer failed")
            self.close()
            return
        self._next(True)

    async def _lane(self, serve) -> None:  # type: ignore[no-untyped-def]
        try:
            ok = await serve
        except asyncio.CancelledError:
            return
        except Exception:
            log.exception("function path failed on a connection")
            ok = False
        self._fp_lane = None
        self._next(ok)

    def _next(self, ok: bool) -> None:
        """After an answer: the next request, or close."""
        if not ok or self._fp_plain.close or self._fp_closing:
            self.close()
            return
        self._time = time.monotonic()
        self._fp_state = IDLE
        self._pump()

    def _stop_idle_timer(self) -> None:
        if self._fp_idle_timer is not None:
            self._fp_idle_timer.cancel()
            self._fp_idle_timer = None

    def _check_idle(self) -> None:
        # self._time is stamped by data_received and after each answer.
        idle = time.monotonic() - self._time
        waiting = self._fp_waiting and self._fp_state == IDLE
        if waiting and idle >= self._fp_keep_alive:
            self._fp_idle_timer = None
            self.close()
            return
        delay = self._fp_keep_alive - idle if waiting else self._fp_keep_alive
        self._fp_idle_timer = self.loop.call_later(max(delay, 0.1), self._check_idle)

    async def _answer(self, proxy, plain: Plain, body: bytes) -> bool:
        """Forward one request with ``Proxy.call`` and write the answer; False
        to close the connection."""
        client_ip, scheme = self._fp_peer
        try:
            reply = await proxy.call(
                plain.name, plain.method, plain.path, plain.query, plain.headers,
                client_ip=client_ip, scheme=scheme, call_id=plain.call_id, body=body,
                asynchronous=plain.asynchronous)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.transport is None or self.transport.is_closing():
                return False  # the client left while its call was served
            self._write_failure(exc, plain)
            return True
        if self.transport is None or self.transport.is_closing():
            if reply.body is None:
                reply.done(False)
            return False  # the client left while its call was served
        if reply.body is not None:
            self._write_reply(reply, plain.method, plain.close)
            return True
        return await self._stream(reply, plain.method, plain.close)

    def _write_reply(self, reply: Reply, method: str, close: bool) -> None:
        """An answer held in full: one write."""
        self._time = time.monotonic()
        status = reply.status
        if close or self._fp_closing:
            reply.headers.append(("connection", "close"))
        if no_body(status, method):
            self.transport.write(response_head(status, reply.headers, None))
        else:
            self.transport.write(response_head(
                status, reply.headers, content_length(len(reply.body))) + reply.body)

    async def _stream(self, reply: Reply, method: str, close: bool) -> bool:
        """An answer whose body is still coming: relayed chunk by chunk."""
        self._time = time.monotonic()
        transport = self.transport
        if close or self._fp_closing:
            reply.headers.append(("connection", "close"))
        ok = False
        try:
            if no_body(reply.status, method):
                transport.write(response_head(reply.status, reply.headers, None))
                ok = True
                return True
            length = any(n.lower() == "content-length" for n, _ in reply.headers)
            transport.write(response_head(
                reply.status, reply.headers, None if length else CHUNKED))
            async for data in reply.chunks:
                if transport.is_closing():
                    return False
                transport.write(data if length else chunk(data))
                if not self._can_write.is_set():
                    await self._can_write.wait()
            if not length:
                transport.write(LAST_CHUNK)
            ok = True
            return True
        except PlatformError:
            return False  # a timeout mid-body: the head is out, only closing tells the client
        except Exception as exc:  # the replica failed mid-body
            log.info("relay of a streamed answer stopped: %s", exc)
            return False
        finally:
            reply.done(ok)

    def _write_failure(self, exc: BaseException, plain: Plain) -> None:
        """A PlatformError as itself; anything else as a 500 that shows no internals."""
        if isinstance(exc, PlatformError):
            self._write_error(exc.status, exc.code, exc.reason, plain.call_id, exc.headers,
                              plain.close)
            return
        log.error("unexpected error on %s %s", plain.method, plain.path, exc_info=exc)
        self._write_failure(internal_error(), plain)

    def _write_error(self, status: int, code: str, reason: str, call_id: str,
                     extra: dict[str, str], close: bool = False) -> None:
        body = error_body(status, code, reason, call_id)
        headers = list(error_headers({**extra, "X-Call-Id": call_id}).items())
        if close:
            headers.append(("connection", "close"))
        self.transport.write(response_head(
            status, headers, content_length(len(body))) + body)
