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
import enum
import time
from collections.abc import AsyncIterator, Callable, Iterable

import httptools

from .wire import LAST_CHUNK, chunk

HIGH_WATER = 256 * 1024  # pause reading the replica when this much body is unread
SWEEP_INTERVAL = 0.05  # seconds between checks of the exchanges' deadlines


class UpstreamError(Exception):
    """The exchange with a replica failed. ``sent`` says whether any byte of
    the request may have reached it; ``stale`` that it failed on a pooled
    connection the replica had closed (``Connection.stale``): it never read
    the request."""

    def __init__(self, message: str, *, sent: bool, stale: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        self.stale = stale


class ConnectError(UpstreamError):
    def __init__(self, message: str) -> None:
        super().__init__(message, sent=False)


class ExchangeTimeout(TimeoutError):
    """The exchange's deadline passed (``Pool.watch``); the connection is closed."""


class State(enum.Enum):
    """Where a connection is in its exchange; only ``Connection`` moves it.

    IDLE --send--> SENDING --sent--> AWAITING_HEAD --head--> READING_BODY --end--> DONE
    DONE --recycle (keep-alive)--> IDLE;  IDLE or DONE --closed--> CLOSED;
    a close-delimited body in READING_BODY --closed--> CLOSED (the body is whole);
    any other failure, garbage, or the deadline --> BROKEN (``error`` says why).
    The head can arrive while still SENDING (a replica may answer early).
    """

    IDLE = "idle"  # open, no exchange: a new one may start
    SENDING = "sending"  # the request is being written (a streamed upload)
    AWAITING_HEAD = "awaiting head"  # the request is out; no final head yet
    READING_BODY = "reading body"  # the head is in, the body is arriving
    DONE = "done"  # the answer is whole; reusable if keep-alive
    CLOSED = "closed"  # closed with no exchange lost
    BROKEN = "broken"  # an exchange failed; closed or closing

    __hash__ = object.__hash__  # Enum's hashes the name in Python; sets of states are hot


IDLE, SENDING, AWAITING_HEAD, READING_BODY, DONE, CLOSED, BROKEN = State  # for the hot path
_EXCHANGING = frozenset({SENDING, AWAITING_HEAD, READING_BODY})
_ENDED = frozenset({DONE, CLOSED})  # the answer is whole (readers stop here)


class Connection(asyncio.Protocol):
    """One keep-alive connection to a replica; one exchange at a time.

    ``state`` (a ``State``) says where it is, and changes only in here: the
    proxy starts an exchange with ``send_bytes``/``send_request``, reads the
    answer with ``read_head``/``take_complete_body``/``iter_body``, and the
    pool asks ``recycle`` whether it may be used again.
    """

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.reused = False  # came from the pool (a stale one fails as "closed")
        self._loop = asyncio.get_running_loop()
        self._can_write = True
        self._write_waiter: asyncio.Future[None] | None = None
        # One parser for the connection's life: llhttp parses message after
        # message on a keep-alive connection (a new parser costs ~15 us).
        self.parser = httptools.HttpResponseParser(self)
        self._new_exchange()

    def _new_exchange(self) -> None:
        self._state = IDLE
        self.status = 0  # of the final head; 0 until it is in
        self.headers: list[tuple[str, str]] = []
        self.error: Exception | None = None  # why it is BROKEN
        self.received = 0  # bytes from the replica in this exchange
        self._keep_alive = False
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._head_only = False
        # Called after each read, on failure and at the deadline, for an
        # exchange driven by callbacks instead of a task (proxy.PendingCall).
        self._listener: Callable[[], None] | None = None
        self._until_close = False
        self._framed = False  # the head had Content-Length or Transfer-Encoding

    @property
    def state(self) -> State:
        return self._state

    def has_head(self) -> bool:
        """The final head of the answer is in (whatever happened after it)."""
        return self.status != 0

    def stale(self) -> bool:
        """A pooled connection on which the replica sent nothing this exchange:
        when it fails, the replica had closed it and never read the request."""
        return self.reused and self.received == 0

    def usable(self) -> bool:
        """IDLE and open: an exchange may start."""
        transport = self.transport
        return self._state is IDLE and transport is not None and not transport.is_closing()

    def recycle(self) -> bool:
        """After an exchange: True (and IDLE again) if the answer ended whole
        on a keep-alive connection that is still open; the one rule for reuse."""
        transport = self.transport
        if self._state is not DONE or not self._keep_alive or transport is None \
                or transport.is_closing():
            return False
        if self._paused:  # a big answer taken whole (take_complete_body) paused reading
            transport.resume_reading()
        self._new_exchange()
        self.reused = True
        return True

    def close(self) -> None:
        """Drop the connection (the replica sees the close)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def unlisten(self) -> None:
        """No more callbacks to the exchange's listener."""
        self._listener = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._state not in _EXCHANGING:
            # Bytes nobody asked for (on an idle connection, or after the
            # answer ended): never parsed as the next exchange's answer.
            self._fail(UpstreamError("the replica sent data outside an exchange", sent=True))
            return
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("the replica tried to upgrade the connection", sent=True))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"the replica answered garbage: {exc}", sent=True))
        if self._listener is not None:
            self._listener()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        state = self._state
        if state in _EXCHANGING and not (state is READING_BODY and self._until_close):
            self._fail(UpstreamError("the replica closed the connection", sent=True,
                                     stale=self.stale()))
        else:
            if state is not BROKEN:
                # Nothing lost; a body delimited by the close ends here.
                self._state = CLOSED
                self._wake()
            if self._listener is not None:
                self._listener()
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
        if self._state is not SENDING and self._state is not AWAITING_HEAD:
            self._fail(UpstreamError("the replica sent a second answer", sent=True))
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.headers = []  # an interim response; the real one follows
            self._framed = False
            return
        self.status = status
        self._keep_alive = self.parser.should_keep_alive()
        self._until_close = not self._framed and status not in (204, 304)
        if self._head_only:
            # llhttp cannot know a HEAD answer has no body; end it here and
            # do not reuse the connection (the parser expects a body).
            self._keep_alive = False
            self._state = DONE
        else:
            self._state = READING_BODY
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._state is not READING_BODY:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._state is READING_BODY:  # not an interim answer's end
            self._state = DONE
            self._wake()

    def expire(self) -> None:
        """The deadline passed: fail whatever waits on this connection."""
        self._fail(ExchangeTimeout("the replica did not answer in time"))

    # internals
    def _fail(self, exc: Exception) -> None:
        state = self._state
        if state is IDLE or state is DONE:
            self._state = CLOSED  # no exchange lost; the connection is done for
        elif state is not CLOSED and state is not BROKEN:
            self._state = BROKEN
            self.error = exc
        self._keep_alive = False
        if self.transport is not None:
            self.transport.close()
        self._wake()
        if self._listener is not None:
            self._listener()

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

    def _lost(self) -> bool:
        return self._state is CLOSED or self._state is BROKEN

    async def _drain(self) -> None:
        while not self._can_write and not self._lost():
            self._write_waiter = self._loop.create_future()
            await self._write_waiter

    # the exchange
    def send_bytes(self, head: bytes, body: bytes, *, head_only: bool = False,
                   listener: Callable[[], None] | None = None) -> None:
        """A request held in full: one write, no waiting. ``listener`` is called
        after each read, on failure and at the deadline."""
        assert self._state is IDLE, self._state
        self._head_only = head_only
        self._listener = listener
        self._state = AWAITING_HEAD
        self.transport.write(head + body if body else head)  # type: ignore[union-attr]

    async def send_request(
        self, head: bytes, body: bytes | AsyncIterator[bytes] | None, chunked: bool,
        *, head_only: bool = False,
    ) -> None:
        if isinstance(body, bytes) or body is None:
            self.send_bytes(head, body or b"", head_only=head_only)
            return
        assert self._state is IDLE and self.transport is not None, self._state
        self._head_only = head_only
        self._state = SENDING
        self.transport.write(head)
        async for data in body:
            if self._lost():
                break
            if not data:
                continue
            self.transport.write(chunk(data) if chunked else data)
            await self._drain()
        if self._lost():
            return
        if chunked:
            self.transport.write(LAST_CHUNK)
        if self._state is SENDING:
            self._state = AWAITING_HEAD

    async def read_head(self) -> None:
        while not self.status:
            if self._state is BROKEN:
                raise self.error  # type: ignore[misc]
            if self._state is CLOSED:
                raise UpstreamError("the connection closed", sent=True)
            await self._wait()

    async def iter_body(self) -> AsyncIterator[bytes]:
        while True:
            if self._chunks:
                data = b"".join(self._chunks)
                self._chunks.clear()
                self._buffered = 0
                if self._paused and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                yield data
                continue
            state = self._state
            if state in _ENDED:
                return
            if state is BROKEN:
                raise self.error  # type: ignore[misc]
            await self._wait()

    def take_complete_body(self) -> bytes | None:
        """The whole body if it already arrived with the head (small answers)."""
        if self._state not in _ENDED:
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
        # An exchange with no byte back by this time (monotonic) is reported
        # once to ``on_silent`` (the proxy probes its replica: breaker.py).
        self._quiet: dict[Connection, float] = {}
        self.on_silent: Callable[[tuple[str, int]], None] | None = None
        self.silent_after = 1.0

    def take_idle(self, key: tuple[str, int]) -> Connection | None:
        """A pooled connection to ``key`` that is still open, if any (no await)."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable():
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
        if self.on_silent is not None:
            self._quiet[conn] = time.monotonic() + self.silent_after
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep)

    def unwatch(self, conn: Connection) -> None:
        self._deadlines.pop(conn, None)
        self._quiet.pop(conn, None)

    def _sweep(self) -> None:
        self._sweeper = None
        now = time.monotonic()
        expired = [conn for conn, deadline in self._deadlines.items() if deadline <= now]
        for conn in expired:
            del self._deadlines[conn]
            self._quiet.pop(conn, None)
            conn.expire()
        if self._quiet:
            silent = [conn for conn, at in self._quiet.items() if at <= now]
            for conn in silent:
                del self._quiet[conn]
                if conn.received == 0 and self.on_silent is not None:
                    self.on_silent(conn.key)
        if self._deadlines:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep)

    def release(self, conn: Connection) -> None:
        """Back to the pool if the exchange finished cleanly, else closed."""
        if conn.recycle():
            idle = self._idle.setdefault(conn.key, collections.deque())
            if len(idle) < self.max_idle:
                idle.append(conn)
                return
        conn.close()

    def drop(self, key: tuple[str, int]) -> None:
        """Close the idle connections to ``key`` (its replica is out of rotation)."""
        for conn in self._idle.pop(key, ()):
            conn.close()

    async def probe(self, key: tuple[str, int]) -> bool:
        """Whether a connection to ``key`` opens within the connect timeout
        (then closed at once: the replica's server sees a connection without
        a request)."""
        try:
            async with asyncio.timeout(self.connect_timeout):
                transport, _ = await asyncio.get_running_loop().create_connection(
                    asyncio.Protocol, key[0], key[1])
        except (TimeoutError, OSError):
            return False
        transport.close()
        return True

    def retain(self, keys: Iterable[tuple[str, int]]) -> None:
        """Close idle connections to replicas that left the table."""
        keep = set(keys)
        for key in [k for k in self._idle if k not in keep]:
            for conn in self._idle.pop(key):
                conn.close()

    def close(self) -> None:
        self.retain(())
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

