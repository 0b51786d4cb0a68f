"""http mode: one warm process, each request proxied to its HTTP port.

The upstream is started once, restarted when it dies, and the runner is not
ready until it answers HTTP. Requests go over pooled keep-alive connections;
a pooled connection that turns out closed before any response byte is retried
once on a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .. import procs
from ..config import Config
from ..httpwire import ChunkedDecoder, HttpError, ResponseHead, parse_response_head
from ..metrics import Slot as Metrics
from .base import Invocation, Outcome, OutputTooLarge, Sink, UpstreamUnavailable

log = logging.getLogger("fwatchdog")
PROBE_INTERVAL = 0.05
MAX_IDLE = 64  # pooled upstream connections kept


class _UpstreamConn(asyncio.Protocol):
    """One client connection to the upstream; one request at a time."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.head: ResponseHead | None = None
        self.body = bytearray()
        self.chunks: ChunkedDecoder | None = None
        self.waiter: asyncio.Future | None = None
        self.method = "GET"
        self.limit = 0
        self.received = 0
        self.closed = False
        self.reusable = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.head is not None and self.head.content_length is None and not self.head.chunked:
            self._complete()  # body delimited by close
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("upstream closed the connection"))

    def send(self, data: bytes, method: str, limit: int) -> asyncio.Future:
        self.buf.clear()
        self.body = bytearray()
        self.head = None
        self.chunks = None
        self.received = 0
        self.method = method
        self.limit = limit
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.waiter is None or self.waiter.done():
            self.transport.close()  # unsolicited bytes: this connection is not usable
            return
        self.buf += data
        try:
            self._parse()
        except HttpError as exc:
            self.waiter.set_exception(exc)
            self.transport.close()

    def _parse(self) -> None:
        if self.head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    raise HttpError(502, "upstream response head too large")
                return
            self.head = parse_response_head(bytes(self.buf[:end]), self.method)
            del self.buf[: end + 4]
            if 100 <= self.head.status < 200:  # interim response: skip it
                self.head = None
                self._parse()
                return
            if self.head.chunked:
                self.chunks = ChunkedDecoder(self.limit)
        head = self.head
        if head.chunked:
            assert self.chunks is not None
            try:
                self.chunks.feed(self.buf)
            except HttpError as exc:
                if exc.status == 413:
                    raise HttpError(413, "too large") from None
                raise HttpError(502, f"upstream sent a bad chunked body: {exc.reason}") from None
            if self.chunks.done:
                self.body = self.chunks.body
                self._complete()
        elif head.content_length is not None:
            if head.content_length > self.limit:
                raise HttpError(413, "too large")
            if len(self.buf) >= head.content_length:
                self.body = self.buf[: head.content_length]
                self._complete()
        elif len(self.buf) > self.limit:
            raise HttpError(413, "too large")

    def _complete(self) -> None:
        head = self.head
        assert head is not None
        if head.content_length is None and not head.chunked:
            self.body = self.buf
        self.reusable = head.keep_alive and not self.closed
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((head, bytes(self.body)))


class _Pool:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.idle: list[_UpstreamConn] = []

    async def get(self) -> tuple[_UpstreamConn, bool]:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn, True
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: _UpstreamConn(self), self.host, self.port)
        return conn, False

    def put(self, conn: _UpstreamConn) -> None:
        if conn.reusable and not conn.closed and len(self.idle) < MAX_IDLE:
            conn.waiter = None
            self.idle.append(conn)
        else:
            conn.transport.close()

    def forget(self, conn: _UpstreamConn) -> None:
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)

    def close_all(self) -> None:
        for conn in self.idle:
            conn.transport.close()
        self.idle.clear()


class HttpRunner:
    streams = False

    def __init__(self, *, path: str, argv: tuple[str, ...], reaper: procs.Reaper,
                 metrics: Metrics, response_limit: int, kill_grace: float, config: Config,
                 env: dict[str, str], **_: object) -> None:
        self.path = path
        self.argv = argv
        self.reaper = reaper
        self.metrics = metrics
        self.response_limit = response_limit
        self.kill_grace = kill_grace
        self.env = env
        host, port = config.upstream_host_port
        self.host_header = f"{host}:{port}"
        self.pool = _Pool(host, port)
        self.pid: int | None = None
        self._ready = False
        self._ready_event = asyncio.Event()
        self._stopping = False
        self._supervisor: asyncio.Task | None = None

    def ready(self) -> bool:
        return self._ready

    async def start(self) -> None:
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        await self._ready_event.wait()

    async def _supervise(self) -> None:
        backoff = 0.1
        first = True
        while not self._stopping:
            child = procs.spawn(self.path, self.argv, self.env, pipe_stdin=False,
                                pipe_stdout=False)
            exited = self.reaper.watch(child.pid)
            self.pid = child.pid
            self.metrics.process_started()
            if not first:
                self.metrics.upstream_restarted()
            first = False
            started = time.monotonic()
            probe = asyncio.get_running_loop().create_task(self._probe_until_up())
            code = await exited
            probe.cancel()
            self._ready = False
            self.pid = None
            self.pool.close_all()
            if self._stopping:
                return
            log.warning("upstream %s exited with %s; restarting", self.argv[0], code)
            backoff = 0.1 if time.monotonic() - started > 10 else min(backoff * 2, 5.0)
            await asyncio.sleep(backoff)

    async def _probe_until_up(self) -> None:
        while True:
            if await self._probe():
                self._ready = True
                self._ready_event.set()
                return
            await asyncio.sleep(PROBE_INTERVAL)

    async def _probe(self) -> bool:
        """Does the upstream answer HTTP at all (any status)?"""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.pool.host, self.pool.port), 1.0)
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(f"GET / HTTP/1.1\r\nHost: {self.host_header}\r\n"
                         "Connection: close\r\n\r\n".encode())
            line = await asyncio.wait_for(reader.readline(), 2.0)
            return line.startswith(b"HTTP/1.")
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    def _request_bytes(self, invocation: Invocation) -> bytes:
        if invocation.raw_head is not None:  # framed by its own Content-Length (or none)
            return b"%b\r\n\r\n%b" % (invocation.raw_head, invocation.body)
        lines = [f"{invocation.method} {invocation.target} HTTP/1.1"]
        has_host = False
        for name, value in invocation.headers:
            if name == "host":
                has_host = True
            lines.append(f"{name}: {value}")
        if not has_host:
            lines.append(f"Host: {self.host_header}")
        lines.append(f"Content-Length: {len(invocation.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + invocation.body

    async def run(self, invocation: Invocation, sink: Sink) -> Outcome:
        data = self._request_bytes(invocation)
        for attempt in (1, 2):
            try:
                conn, reused = await self.pool.get()
            except OSError as exc:
                raise UpstreamUnavailable(f"cannot connect to the upstream: {exc}") from None
            try:
                head, body = await conn.send(data, invocation.method, self.response_limit)
            except ConnectionResetError as exc:
                conn.transport.close()
                if reused and conn.received == 0 and attempt == 1:
                    continue  # stale pooled connection: the request never reached it
                raise UpstreamUnavailable(str(exc)) from None
            except HttpError as exc:
                conn.transport.close()
                if exc.status == 413:
                    raise OutputTooLarge() from None
                raise UpstreamUnavailable(exc.reason) from None
            except BaseException:
                conn.transport.close()  # cancelled mid-request: the connection is spoiled
                raise
            self.pool.put(conn)
            return Outcome(body=body, status=head.status, headers=head.headers)
        raise UpstreamUnavailable("upstream connection failed")  # pragma: no cover

    async def stop(self) -> None:
        self._stopping = True
        self.pool.close_all()
        pid = self.pid
        if pid is not None and self._supervisor is not None:
            procs.kill_group(asyncio.get_running_loop(), pid, self.kill_grace)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._supervisor), self.kill_grace + 1)
        if self._supervisor is not None:
            self._supervisor.cancel()
