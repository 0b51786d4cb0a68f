"""http mode's client side: relay each request to a pooled upstream connection.

No task, future or StreamReader per request: the client connection's
`data_received` scans the head (proxywire), hands the bytes to an `Exchange`,
which writes them to an idle upstream connection; that connection's
`data_received` frames the response and calls the exchange back, which writes
the upstream's head (hop-by-hop fields cut out, the watchdog's own inserted)
and body to the client. exec_timeout needs no timer per request (Deadlines).
Requests the fast scan does not fit (chunked bodies, `Expect`, system paths,
odd `Connection` fields, errors) go through the general parser of server.py
and are then relayed the same way. Admission and error responses are
server.HttpConnection's, the same as in the other modes.
"""

from __future__ import annotations

import time

from . import errors
from .deadlines import Deadlines
from .headers import forwardable_head, proxied_response_headers, upstream_request_headers
from .httpwire import (
    HttpError,
    Request,
    RequestHead,
    closed_head,
    relayed_head,
    request_head,
    response_head,
)
from .proxywire import FastRequest, FastResponse, cut, scan_request
from .server import SMALL_BODY, Asked, HttpConnection, Server
from .upstream import TOO_LARGE, UpstreamConn

_HEAD_END = b"\r\n\r\n"


class ProxyConnection(HttpConnection):
    """One client connection in http mode; one request relayed at a time."""

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self.deadlines: Deadlines = server.runner.deadlines  # type: ignore[attr-defined]
        self.request_limit = server.config.request_limit
        self.content_type = server.config.content_type.encode("latin-1")

    def data_received(self, data: bytes) -> None:
        now = self.last_activity = time.monotonic()
        if self.request_began == 0.0 and not self.buf and self.head is None:
            self.request_began = now
        if self.task is None and not self.buf and self.head is None and not self.closing:
            # The common case: one whole request in one read, relayed without copying.
            end = data.find(_HEAD_END)
            if end > 0:
                try:
                    request = scan_request(data, end, self.request_limit)
                except HttpError as exc:
                    self._send_error(errors.status_error(exc.status, exc.reason), None,
                                     close=True)
                    return
                if request is not None and len(data) == end + 4 + request.content_length:
                    self._start(request, cut(data, 0, len(data), request.cuts)
                                if request.cuts else data)
                    return
        self._buffer(data)

    def _parse(self) -> None:
        try:
            while self.task is None and not self.closing:
                buf = self.buf
                if self.head is None:
                    end = buf.find(_HEAD_END)
                    if end > 0:
                        request = scan_request(buf, end, self.request_limit)
                        if request is not None:
                            stop = end + 4 + request.content_length
                            if len(buf) < stop:
                                if self.server.state == "draining":  # answer at the head
                                    self.refuse_draining(request.call_id.decode("latin-1"),
                                                         request.method.decode("latin-1"))
                                return  # the body is still coming
                            data = cut(buf, 0, stop, request.cuts)
                            del buf[:stop]
                            self._start(request, data)
                            continue
                request = self._next_request()  # the general parser (server.py)
                if request is None:
                    return
                self._dispatch(request)
        except HttpError as exc:
            self._send_error(errors.status_error(exc.status, exc.reason), None, close=True)

    def _start(self, request: FastRequest, data: bytes) -> None:
        """A request the fast scan fit: admitted like any other, then relayed as is."""
        call_id = request.call_id.decode("latin-1")
        if self._admit(call_id, request.method.decode("latin-1"), request.keep_alive):
            self.task = exchange = Exchange(self, data, request.method, request.keep_alive,
                                            request.call_id, call_id)
            exchange.start()

    def _begin(self, request: Request, call_id: str | None) -> None:
        """A request the general parser read (admitted by _dispatch): relay it."""
        head = request.head
        call_id = call_id or ""
        self.task = exchange = Exchange(self, self._upstream_request(request),
                                        head.method.encode("latin-1"), head.keep_alive,
                                        call_id.encode("latin-1"), call_id)
        exchange.start()

    def _upstream_request(self, request: Request) -> bytes:
        head = request.head
        raw = forwardable_head(head)
        if raw is not None:  # framed by its own Content-Length (or none)
            return closed_head(raw, request.body)
        headers = upstream_request_headers(head)
        if not any(name == "host" for name, _ in headers):
            headers.append(("Host", self.server.runner.host_header))  # type: ignore[attr-defined]
        headers.append(("Content-Length", str(len(request.body))))
        return request_head(head.method, head.target, headers) + request.body


class Exchange:
    """One request relayed to the upstream; what HttpConnection.task holds in http mode.

    Like a task it has done() and cancel(): the client connection cancels it
    when the client goes away or the watchdog shuts down.
    """

    __slots__ = ("call_id", "call_id_text", "client", "data", "deadline", "keep_alive", "method",
                 "over", "retried", "reused", "started", "upstream")

    def __init__(self, client: ProxyConnection, data: bytes, method: bytes, keep_alive: bool,
                 call_id: bytes, call_id_text: str) -> None:
        self.client = client
        self.data = data
        self.method = method
        self.keep_alive = keep_alive
        self.call_id = call_id
        self.call_id_text = call_id_text
        self.started = time.perf_counter()
        self.over = False
        self.retried = False
        self.reused = False
        self.upstream: UpstreamConn | None = None
        self.deadline = 0.0

    def start(self) -> None:
        deadlines = self.client.deadlines
        if deadlines.timeout:
            self.deadline = time.monotonic() + deadlines.timeout  # the loop's clock
            deadlines.add(self)
        self._send(self.client.server.runner.pool.take())

    # task-like interface ------------------------------------------------
    def done(self) -> bool:
        return self.over

    def cancel(self, msg: str | None = None) -> bool:
        if self.over:
            return False
        if self.upstream is not None:
            self.upstream.abandon()
        self._finish(499)  # client gone or shutdown: nobody to answer
        return True

    # upstream side --------------------------------------------------------
    def _send(self, conn: UpstreamConn | None) -> None:
        if conn is None:
            self.reused = False
            self.client.server.runner.pool.connect(self._connected)
            return
        self.reused = True
        self.upstream = conn
        conn.send(self, self.data, self.method)

    def _connected(self, conn: UpstreamConn | None, why: str) -> None:
        if self.over:
            if conn is not None:
                self.client.server.runner.pool.put(conn)  # fresh and unused: keep it
            return
        if conn is None:
            self._fail(errors.upstream_unavailable(why))
            return
        self.reused = False
        self.upstream = conn
        conn.send(self, self.data, self.method)

    def upstream_failed(self, conn: UpstreamConn, reason: str, unsent: bool) -> None:
        self.upstream = None
        if self.over:
            return
        if unsent and self.reused and not self.retried:
            # A pooled connection the upstream had closed: the request never reached
            # it, so one retry on a fresh connection is safe.
            self.retried = True
            self.client.server.runner.pool.connect(self._connected)
            return
        if reason == TOO_LARGE:
            self._fail(errors.response_too_large(self.client.server.config.response_limit))
        else:
            self._fail(errors.upstream_unavailable(reason))

    def upstream_response(self, conn: UpstreamConn, head: FastResponse | object,
                          body: bytes) -> None:
        self.upstream = None
        if self.over:
            return
        client = self.client
        transport = client.transport
        if client.closing or transport is None:
            self._finish(499)
            return
        duration = time.perf_counter() - self.started
        close = not self.keep_alive or client.server.state == "draining"
        if isinstance(head, FastResponse):
            status = head.status
            raw = relayed_head(head.head, duration,
                               b"" if head.has_call_id else self.call_id,
                               b"" if head.has_content_type else client.content_type, close)
        else:
            status = head.status  # type: ignore[attr-defined]
            asked = RequestHead(self.method.decode("latin-1"), "", "", "", "HTTP/1.1",
                                [("x-call-id", self.call_id_text)] if self.call_id else [],
                                self.keep_alive, 0, False)
            headers = proxied_response_headers(head.headers,  # type: ignore[attr-defined]
                                               client.server.config.content_type, asked,
                                               duration)
            headers.append(("Content-Length", str(len(body))))
            if close:
                headers.append(("Connection", "close"))
            raw = response_head(status, headers)
            if self.method == b"HEAD":
                body = b""
        if len(body) <= SMALL_BODY:
            transport.write(raw + body)
        else:
            transport.write(raw)
            transport.write(body)
        client._after_response(close)
        self._finish(status)

    # ending ---------------------------------------------------------------
    def timed_out(self) -> None:
        if self.over:
            return
        if self.upstream is not None:
            self.upstream.abandon()  # spoiled: its response would be for nobody
            self.upstream = None
        self._fail(errors.timed_out(self.client.server.config.exec_timeout))

    def _fail(self, exc: errors.PlatformError) -> None:
        client = self.client
        client._send_error(exc, self.call_id_text or None,
                           head=Asked(self.method.decode("latin-1"), self.keep_alive))
        self._finish(exc.status)

    def _finish(self, status: int) -> None:
        self.over = True
        self.data = b""
        self.client.finished(status, self.started)
