"""http mode: pooled keep-alive connections to the upstream, one request at a time each.

A connection reads one response, framed by its head, and hands it whole to
the exchange that sent the request (proxy.Exchange): `upstream_response` with
the head (a proxywire.FastResponse when the fast scan fit, else an
httpwire.ResponseHead) and the body, or `upstream_failed`. The body is
buffered up to `response_limit` so that a failure (upstream gone mid-body,
over the limit) can still be answered with a marked platform error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from .httpwire import ChunkedDecoder, HttpError, ResponseHead, parse_response_head
from .proxywire import FastResponse, scan_response

MAX_IDLE = 64  # pooled upstream connections kept
MAX_RESPONSE_HEAD = 65536

TOO_LARGE = "too large"  # upstream_failed reason: over response_limit


class Listener(Protocol):
    def upstream_response(self, conn: UpstreamConn, head: FastResponse | ResponseHead,
                          body: bytes) -> None: ...

    def upstream_failed(self, conn: UpstreamConn, reason: str, unsent: bool) -> None: ...


class UpstreamConn(asyncio.Protocol):
    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.listener: Listener | None = None
        self.method = b"GET"
        self.buf = bytearray()
        self.head: FastResponse | ResponseHead | None = None
        self.body_at = 0  # where the body starts in buf (fast framing)
        self.chunks: ChunkedDecoder | None = None
        self.received = 0
        self.closed = False

    # asyncio callbacks -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        listener = self.listener
        if listener is None:
            return
        head = self.head
        if isinstance(head, ResponseHead) and head.content_length is None and not head.chunked:
            self._deliver(head, bytes(self.buf), reusable=False)  # body delimited by close
            return
        self.listener = None
        listener.upstream_failed(self, "upstream closed the connection", self.received == 0)

    def data_received(self, data: bytes) -> None:
        listener = self.listener
        if listener is None:
            self.transport.close()  # unsolicited bytes: this connection is not usable
            return
        self.received += len(data)
        try:
            if self.buf or self.head is not None or not self._frame_whole(data):
                self.buf += data
                self._frame()
        except HttpError as exc:
            self.listener = None
            self.transport.close()
            listener.upstream_failed(self, TOO_LARGE if exc.status == 413 else exc.reason, False)

    # requests ----------------------------------------------------------
    def send(self, listener: Listener, data: bytes, method: bytes) -> None:
        self.listener = listener
        self.method = method
        self.received = 0
        self.head = None
        self.chunks = None
        self.transport.write(data)

    def abandon(self) -> None:
        """The exchange gave up (timeout, client gone): the connection is spoiled."""
        self.listener = None
        if self.transport is not None:
            self.transport.abort()

    # framing -------------------------------------------------------------
    def _frame_whole(self, data: bytes) -> bool:
        """The common case: head and whole body in one read. True if delivered."""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = scan_response(data, end, self.method)
        if head is None:
            return False
        at = end + 4
        if len(data) != at + head.content_length:
            return False
        if head.content_length > self.pool.limit:
            raise HttpError(413, TOO_LARGE)
        self._deliver(head, data[at:], head.keep_alive)
        return True

    def _frame(self) -> None:
        buf = self.buf
        head = self.head
        if head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_RESPONSE_HEAD:
                    raise HttpError(502, "upstream response head too large")
                return
            head = scan_response(buf, end, self.method)
            if head is None:
                head = parse_response_head(bytes(buf[:end]), self.method.decode("latin-1"))
                del buf[: end + 4]
                if 100 <= head.status < 200:  # interim response: skip it
                    self._frame()
                    return
                if head.chunked:
                    self.chunks = ChunkedDecoder(self.pool.limit)
            else:
                self.body_at = end + 4
            if (head.content_length or 0) > self.pool.limit:
                raise HttpError(413, TOO_LARGE)
            self.head = head
        if isinstance(head, FastResponse):
            stop = self.body_at + head.content_length
            if len(buf) >= stop:
                self._deliver(head, bytes(buf[self.body_at:stop]),
                              head.keep_alive and len(buf) == stop)
            return
        if head.chunked:
            assert self.chunks is not None
            try:
                self.chunks.feed(buf)
            except HttpError as exc:
                if exc.status == 413:
                    raise
                raise HttpError(502, f"upstream sent a bad chunked body: {exc.reason}") from None
            if self.chunks.done:
                self._deliver(head, bytes(self.chunks.body), head.keep_alive and not buf)
        elif head.content_length is not None:
            if len(buf) >= head.content_length:
                self._deliver(head, bytes(buf[: head.content_length]),
                              head.keep_alive and len(buf) == head.content_length)
        elif len(buf) > self.pool.limit:
            raise HttpError(413, TOO_LARGE)

    def _deliver(self, head: FastResponse | ResponseHead, body: bytes, reusable: bool) -> None:
        listener = self.listener
        self.listener = None
        self.head = None
        self.chunks = None
        self.buf = bytearray()
        if reusable and not self.closed:
            self.pool.put(self)
        elif not self.closed:
            self.transport.close()
        listener.upstream_response(self, head, body)


class UpstreamPool:
    """Idle keep-alive connections to one upstream, newest first."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host = host
        self.port = port
        self.limit = limit  # response_limit
        self.idle: list[UpstreamConn] = []

    def take(self) -> UpstreamConn | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def connect(self, done: Callable[[UpstreamConn | None, str], None]) -> None:
        """Open a new connection; `done(conn, "")` or `done(None, why)` later."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.create_connection(lambda: UpstreamConn(self),
                                                       self.host, self.port))

        def connected(task: asyncio.Task) -> None:
            if task.cancelled():
                done(None, "cancelled")
            elif task.exception() is not None:
                done(None, f"cannot connect to the upstream: {task.exception()}")
            else:
                done(task.result()[1], "")

        task.add_done_callback(connected)

    def put(self, conn: UpstreamConn) -> None:
        if len(self.idle) < MAX_IDLE:
            self.idle.append(conn)
        else:
            conn.transport.close()

    def forget(self, conn: UpstreamConn) -> None:
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)

    def close_all(self) -> None:
        for conn in self.idle:
            conn.transport.close()
        self.idle.clear()
