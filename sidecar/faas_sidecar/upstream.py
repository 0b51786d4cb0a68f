"""A lean HTTP/1.1 client for the hop to replicas: asyncio protocol + httptools.

Why not httpx or aiohttp: bench/sidecar_client.py measured them against this
client on the same upstream (see docs/sidecar.md); the proxy hop has a budget
of 0.5 ms and this client is the only part of it we control. It does only what
the hop needs: keep-alive pools per replica, streamed bodies both ways, flow
control, and a clear answer to "did this request reach the replica?" so the
proxy knows when a retry is safe. httptools (llhttp) is already installed with
Sanic and does the parsing.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable, Iterable

import httptools

HIGH_WATER = 256 * 1024  # pause reading the replica when this much body is unread
SWEEP_INTERVAL = 0.05  # seconds between checks of the exchanges' deadlines


class UpstreamError(Exception):
    """The exchange with a replica failed. ``sent`` says whether any byte of
    the request may have reached it; ``reused`` whether the connection came
    from the pool (a stale keep-alive connection fails this way)."""

    def __init__(self, message: str, *, sent: bool, reused: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        self.reused = reused


class ConnectError(UpstreamError):
    def __init__(self, message: str) -> None:
        super().__init__(message, sent=False)


class ExchangeTimeout(TimeoutError):
    """The exchange's deadline passed (``Pool.watch``); the connection is closed."""


class Connection(asyncio.Protocol):
    """One keep-alive connection to a replica; one exchange at a time."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self._loop = asyncio.get_running_loop()
        self._can_write = True
        self._write_waiter: asyncio.Future[None] | None = None
        # One parser for the connection's life: llhttp parses message after
        # message on a keep-alive connection (a new parser costs ~15 us).
        self.parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = False
        self.headers_done = False
        self.complete = False
        self.received = 0
        self.error: Exception | None = None
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self.head_only = False
        # Called after each read, on failure and at the deadline, for an
        # exchange driven by callbacks instead of a task (proxy.PendingCall).
        self.listener: Callable[[], None] | None = None
        self._until_close = False
        self._framed = False  # the head had Content-Length or Transfer-Encoding

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("the replica tried to upgrade the connection", sent=True))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"the replica answered garbage: {exc}", sent=True))
        if self.listener is not None:
            self.listener()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers_done and self._until_close and self.error is None:
            self.complete = True  # a body delimited by the close ends here
        if not self.complete:
            self._fail(UpstreamError("the replica closed the connection", sent=True,
                                     reused=self.reused))
        elif self.listener is not None:
            self.listener()
        self._wake_writer()

    def pause_writing(self) -> None:
        self._can_write = False

    def resume_writing(self) -> None:
        self._can_write = True
        self._wake_writer()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        field = name.decode("latin-1")
        self.headers.append((field, value.decode("latin-1")))
        if len(field) in (14, 17) and field.lower() in ("content-length", "transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if 100 <= self.status < 200 and self.status != 101:
            self.headers = []  # an interim response; the real one follows
            self._framed = False
            return
        self.keep_alive = self.parser.should_keep_alive()
        self.headers_done = True
        self._until_close = not self._framed and self.status not in (204, 304)
        if self.head_only:
            # llhttp cannot know a HEAD answer has no body; end it here and
            # do not reuse the connection (the parser expects a body).
            self.keep_alive = False
            self.complete = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status and self.status < 200:
            return
        self.complete = True
        self._wake()

    def expire(self) -> None:
        """The deadline passed: fail whatever waits on this connection."""
        self._fail(ExchangeTimeout("the replica did not answer in time"))

    # internals
    def _fail(self, exc: Exception) -> None:
        if self.error is None:
            self.error = exc
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()
        self._wake()
        if self.listener is not None:
            self.listener()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def _drain(self) -> None:
        while not self._can_write and not self.closed:
            self._write_waiter = self._loop.create_future()
            await self._write_waiter

    # the exchange
    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def send_bytes(self, head: bytes, body: bytes) -> None:
        """A request held in full: one write, no waiting."""
        self.transport.write(head + body if body else head)  # type: ignore[union-attr]

    async def send_request(
        self, head: bytes, body: bytes | AsyncIterator[bytes] | None, chunked: bool,
    ) -> None:
        assert self.transport is not None
        if isinstance(body, bytes) or body is None:
            self.transport.write(head + body if body else head)
            return
        self.transport.write(head)
        async for chunk in body:
            if self.closed:
                break
            if not chunk:
                continue
            if chunked:
                self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                self.transport.write(chunk)
            await self._drain()
        if chunked and not self.closed:
            self.transport.write(b"0\r\n\r\n")

    async def read_head(self) -> None:
        while not self.headers_done:
            if self.error is not None:
                raise self.error
            await self._wait()
        if self.error is not None and not self.headers_done:
            raise self.error

    async def iter_body(self) -> AsyncIterator[bytes]:
        while True:
            if self._chunks:
                chunk = b"".join(self._chunks)
                self._chunks.clear()
                self._buffered = 0
                if self._paused and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                yield chunk
                continue
            if self.complete:
                return
            if self.error is not None:
                raise self.error
            await self._wait()

    def take_complete_body(self) -> bytes | None:
        """The whole body if it already arrived with the head (small answers)."""
        if not self.complete:
            return None
        body = b"".join(self._chunks)
        self._chunks.clear()
        return body


class Pool:
    """Idle keep-alive connections per replica address."""

    def __init__(self, connect_timeout: float, max_idle: int = 64) -> None:
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], collections.deque[Connection]] = {}
        # Deadlines of exchanges in progress, checked by one periodic sweep
        # instead of a timer per request (asyncio.timeout measured ~9 us per
        # request on this machine, a tenth of the whole hop's CPU).
        self._deadlines: dict[Connection, float] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def take_idle(self, key: tuple[str, int]) -> Connection | None:
        """A pooled connection to ``key`` that is still open, if any (no await)."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable():
                conn.reused = True
                return conn
        return None

    async def acquire(self, key: tuple[str, int], deadline: float | None = None) -> Connection:
        """A pooled connection, or a new one. ``deadline`` (monotonic) bounds the
        connect too: past it, TimeoutError (the exchange's), not ConnectError."""
        conn = self.take_idle(key)
        if conn is not None:
            return conn
        loop = asyncio.get_running_loop()
        wait = self.connect_timeout
        exchange_first = deadline is not None and deadline - time.monotonic() < wait
        if exchange_first:
            wait = max(deadline - time.monotonic(), 0.0)  # type: ignore[operator]
        try:
            async with asyncio.timeout(wait):
                _, conn = await loop.create_connection(lambda: Connection(key), key[0], key[1])
        except TimeoutError:
            if exchange_first:
                raise ExchangeTimeout(f"connecting to {key[0]}:{key[1]}") from None
            raise ConnectError(f"connecting to {key[0]}:{key[1]} timed out") from None
        except OSError as exc:
            raise ConnectError(f"cannot connect to {key[0]}:{key[1]}: {exc.strerror or exc}") \
                from None
        return conn

    def watch(self, conn: Connection, deadline: float) -> None:
        """Expire ``conn`` (``Connection.expire``) if still watched at ``deadline``."""
        self._deadlines[conn] = deadline
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep)

    def unwatch(self, conn: Connection) -> None:
        self._deadlines.pop(conn, None)

    def _sweep(self) -> None:
        self._sweeper = None
        now = time.monotonic()
        expired = [conn for conn, deadline in self._deadlines.items() if deadline <= now]
        for conn in expired:
            del self._deadlines[conn]
            conn.expire()
        if self._deadlines:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep)

    def release(self, conn: Connection) -> None:
        """Back to the pool if the exchange finished cleanly, else closed."""
        if conn.complete and conn.keep_alive and conn.error is None and conn.usable():
            idle = self._idle.setdefault(conn.key, collections.deque())
            if len(idle) < self.max_idle:
                conn._reset()
                idle.append(conn)
                return
        discard(conn)

    def retain(self, keys: Iterable[tuple[str, int]]) -> None:
        """Close idle connections to replicas that left the table."""
        keep = set(keys)
        for key in [k for k in self._idle if k not in keep]:
            for conn in self._idle.pop(key):
                discard(conn)

    def close(self) -> None:
        self.retain(())
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None


def discard(conn: Connection) -> None:
    if conn.transport is not None and not conn.transport.is_closing():
        conn.transport.close()


def encode_head(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
