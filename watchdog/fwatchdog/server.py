"""The HTTP/1.1 front: one asyncio Protocol per connection, keep-alive, no framework.

The handler turns a request into an Invocation for the runner and the
runner's Outcome (or exception) into a response. Platform-made responses are
JSON marked with X-Swarmfaas-Internal (errors.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from . import errors
from .cgi import build_cgi_env
from .config import Config
from .headers import function_response_headers
from .httpwire import MAX_HEAD, REASONS, ChunkedDecoder, HttpError, Request, RequestHead, parse_head
from .metrics import Slot as Metrics
from .runners import Invocation, OutputTooLarge, ProcessFailed, Runner, UpstreamUnavailable

IDLE_TIMEOUT = 60.0  # idle keep-alive connections close after this
SMALL_BODY = 65536  # bodies up to this size go out in the same write as the head
READ_PAUSE = 262144  # stop reading a busy connection past this much buffered input
RESERVED_PREFIX = "/_/"


class Server:
    """State shared by all connections of one worker."""

    def __init__(self, config: Config, runner: Runner, metrics: Metrics,
                 base_env: Mapping[str, str], worker: int = 0) -> None:
        self.config = config
        self.runner = runner
        self.metrics = metrics
        self.base_env = dict(base_env)
        self.worker = worker
        # starting -> ready -> stopping (SIGTERM: unhealthy, still serving for
        # healthcheck_interval) -> draining (not accepting, finishing in-flight)
        self.state = "starting"
        self.inflight = 0
        self.connections: set[HttpConnection] = set()
        self.idle_event = asyncio.Event()
        self.streams = bool(getattr(runner, "streams", False))
        self.connection_class = HttpConnection
        self.deadlines = None
        if config.mode == "http":  # relayed by proxy.py, no runner.run() per request
            from .proxy import Deadlines, ProxyConnection
            self.connection_class = ProxyConnection
            self.deadlines = Deadlines(config.exec_timeout)

    def protocol_factory(self) -> HttpConnection:
        return self.connection_class(self)

    def accepting_work(self) -> bool:
        return self.state == "ready" and self.runner.ready()

    def healthy(self) -> bool:
        """Ready, and in a pool, the pool too (so a 200 here means the lock file exists)."""
        return self.accepting_work() and self.metrics.area.pool_ready()

    def sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self.connections):
            conn.check_deadlines(now)

    def begin_drain(self) -> None:
        self.state = "draining"
        for conn in list(self.connections):
            conn.close_when_idle()

    def cancel_all(self, why: str) -> None:
        for conn in list(self.connections):
            conn.abort(why)

    def try_start(self) -> bool:
        """Count a request in, unless max_inflight (over the whole pool) is reached."""
        limit = self.config.max_inflight
        if not limit:
            self.request_started()
            return True
        area = self.metrics.area
        if area.slots == 1:
            if self.inflight >= limit:
                return False
            self.request_started()
            return True
        # Workers only raise their own gauge under the lock, so the sum read under
        # it never lets the pool go over the limit (a decrement elsewhere only helps).
        with area.locked():
            if area.inflight() >= limit:
                return False
            self.request_started()
        return True

    def pool_inflight(self) -> int:
        return self.metrics.area.inflight()

    def request_started(self) -> None:
        self.inflight += 1
        self.metrics.set_inflight(self.inflight)
        self.idle_event.clear()

    def request_finished(self) -> None:
        self.inflight -= 1
        self.metrics.set_inflight(self.inflight)
        if self.inflight == 0:
            self.idle_event.set()


class HttpConnection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.head: RequestHead | None = None
        self.chunks: ChunkedDecoder | None = None
        # The request in progress: an asyncio.Task running the runner, or in http
        # mode a proxy.Exchange (same done()/cancel() interface, no task).
        self.task: asyncio.Task | None = None
        self.closing = False
        self.read_paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future | None = None
        self.request_began = 0.0  # first byte of the request being read; 0 when idle
        self.last_activity = time.monotonic()
        self.write_since = 0.0

    # asyncio callbacks -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)
        if self.server.state == "draining":
            self.close_when_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.closing = True
        if self.task is not None and not self.task.done():
            self.task.cancel("client_gone")
        self._wake_drain()

    def eof_received(self) -> bool:
        return False  # a client that stops sending is gone: close (and kill its process)

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_since = time.monotonic()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drain()

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        if not self.buf and self.head is None and self.request_began == 0.0:
            self.request_began = self.last_activity
        self._buffer(data)

    def _buffer(self, data: bytes) -> None:
        """Keep what arrived; parse now, or, while a request is in progress,
        stop reading once READ_PAUSE bytes wait (back-pressure)."""
        self.buf += data
        if self.task is not None:
            if len(self.buf) > READ_PAUSE and not self.read_paused:
                self.read_paused = True
                self.transport.pause_reading()
            return
        self._parse()

    # parsing -----------------------------------------------------------
    def _parse(self) -> None:
        try:
            while self.task is None and not self.closing:
                request = self._next_request()
                if request is None:
                    return
                self._dispatch(request)
        except HttpError as exc:
            self._send_error(errors.status_error(exc.status, exc.reason), None, close=True)

    def _next_request(self) -> Request | None:
        head = self.head
        if head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    raise HttpError(431, "request head too large")
                while self.buf[:2] == b"\r\n":  # tolerate CRLF between requests
                    del self.buf[:2]
                return None
            raw = bytes(self.buf[:end])
            del self.buf[: end + 4]
            if not raw:
                return None
            head = parse_head(raw, self.server.config.request_limit)
            self.head = head
            if head.chunked:
                self.chunks = ChunkedDecoder(self.server.config.request_limit)
            if head.expect_continue and head.content_length != 0:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if head.chunked:
            assert self.chunks is not None
            self.chunks.feed(self.buf)
            if not self.chunks.done:
                return None
            body = bytes(self.chunks.body)
            self.chunks = None
        else:
            length = head.content_length or 0
            if len(self.buf) < length:
                return None
            if length:
                body = bytes(self.buf[:length])
                del self.buf[:length]
            else:
                body = b""
        self.head = None
        return Request(head, body)

    # dispatch ----------------------------------------------------------
    def _dispatch(self, request: Request) -> None:
        head = request.head
        server = self.server
        if head.path.startswith(RESERVED_PREFIX):
            self._system(request)
            return
        call_id = head.header("x-call-id") or None
        if server.state not in ("ready", "stopping"):
            self._send_error(errors.not_ready(f"the watchdog is {server.state}"), call_id,
                             close=server.state == "draining", head=head)
            return
        if not server.runner.ready():
            self._send_error(errors.not_ready("the function is not ready"), call_id, head=head)
            return
        if not server.try_start():
            self._send_error(errors.overloaded(server.config.max_inflight), call_id, head=head)
            return
        self.task = asyncio.get_running_loop().create_task(self._run(request, call_id))

    def _system(self, request: Request) -> None:
        server = self.server
        path = request.head.path
        if path == "/_/health":
            if server.healthy():
                self._send(200, [("Content-Type", "text/plain")], b"OK\n", request.head)
            else:
                self._send_error(errors.not_ready(f"the watchdog is {server.state}"), None,
                                 head=request.head)
        elif path == "/_/ready":
            limit = server.config.max_inflight
            if not server.healthy():
                self._send_error(errors.not_ready(f"the watchdog is {server.state}"), None,
                                 head=request.head)
            elif limit and server.pool_inflight() >= limit:
                self._send_error(errors.overloaded(limit), None, head=request.head)
            else:
                self._send(200, [("Content-Type", "text/plain")], b"OK\n", request.head)
        elif path == "/_/metrics":
            body = server.metrics.render().encode()
            self._send(200, [("Content-Type", "text/plain; version=0.0.4")], body, request.head)
        else:
            self._send_error(errors.PlatformError(404, "not_found",
                                                  f"no watchdog endpoint {path}"), None,
                             head=request.head)

    async def _run(self, request: Request, call_id: str | None) -> None:
        server = self.server
        config = server.config
        head = request.head
        started = time.perf_counter()
        status = 500
        sink = _ResponseSink(self, head, started)
        try:
            invocation = self._invocation(request)
            timeout = config.exec_timeout or None
            try:
                async with asyncio.timeout(timeout):
                    outcome = await server.runner.run(invocation, sink)
            except TimeoutError:
                raise errors.timed_out(config.exec_timeout) from None
            except ProcessFailed as exc:
                raise errors.function_failed(exc.code) from None
            except OutputTooLarge:
                raise errors.response_too_large(config.response_limit) from None
            except UpstreamUnavailable as exc:
                raise errors.upstream_unavailable(str(exc)) from None
            duration = time.perf_counter() - started
            if outcome.streamed:
                status = 200
                sink.finish()
            else:
                status = 200
                headers = function_response_headers(config.content_type, head, duration)
                self._send(200, headers, outcome.body, head)
        except errors.PlatformError as exc:
            status = exc.status
            if sink.started:
                self.abort("failed_midstream")  # the status line is gone: cut the stream
            else:
                self._send_error(exc, call_id, head=head)
        except asyncio.CancelledError:
            status = 499  # client gone or shutdown: nobody to answer
        finally:
            self.finished(status, started)

    def finished(self, status: int, started: float) -> None:
        """The exchange is over: count it, then read on (pipelined requests)."""
        server = self.server
        server.metrics.observe(status, time.perf_counter() - started)
        server.request_finished()
        self.task = None
        if not self.closing and self.transport is not None:
            if self.read_paused:
                self.read_paused = False
                self.transport.resume_reading()
            if self.buf:
                self._parse()

    def _invocation(self, request: Request) -> Invocation:
        server = self.server
        head = request.head
        env = build_cgi_env(server.base_env, head, len(request.body),
                            server.config.cgi_headers)
        return Invocation(head.method, head.target, head.headers, request.body, env)

    # writing -----------------------------------------------------------
    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes,
              head: RequestHead | None, close: bool = False) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        close = close or head is None or not head.keep_alive or self.server.state == "draining"
        send_body = head is None or head.method != "HEAD"
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        lines += [f"{n}: {v}" for n, v in headers]
        lines.append(f"Content-Length: {len(body)}")
        if close:
            lines.append("Connection: close")
        raw_head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not send_body:
            transport.write(raw_head)
        elif len(body) <= SMALL_BODY:
            transport.write(raw_head + body)
        else:
            transport.write(raw_head)
            transport.write(body)
        self._after_response(close)

    def _after_response(self, close: bool) -> None:
        self.last_activity = time.monotonic()
        self.request_began = time.monotonic() if self.buf else 0.0
        if close:
            self.closing = True
            self.transport.close()

    def _send_error(self, exc: errors.PlatformError, call_id: str | None,
                    head: RequestHead | None = None, close: bool = False) -> None:
        headers = exc.headers()
        if call_id:
            headers.append(("X-Call-Id", call_id))
        self._send(exc.status, headers, exc.body(call_id), head, close=close)

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its low-water mark."""
        while self.write_paused and not self.closing:
            self.drain_waiter = asyncio.get_running_loop().create_future()
            await self.drain_waiter
        if self.closing:
            raise asyncio.CancelledError("client_gone")

    def _wake_drain(self) -> None:
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # lifecycle ---------------------------------------------------------
    def check_deadlines(self, now: float) -> None:
        if self.closing or self.transport is None:
            return
        config = self.server.config
        if self.write_paused and now - self.write_since > config.write_timeout:
            self.abort("write_timeout")
        elif self.task is not None:
            return
        elif self.request_began and now - self.request_began > config.read_timeout:
            self._send_error(errors.PlatformError(408, "request_timeout",
                                                  "the request did not arrive within "
                                                  f"{config.read_timeout:g} s"), None, close=True)
        elif not self.buf and self.head is None and now - self.last_activity > IDLE_TIMEOUT:
            self.closing = True
            self.transport.close()

    def close_when_idle(self) -> None:
        if self.task is None and not self.buf and self.head is None and self.transport:
            self.closing = True
            self.transport.close()

    def abort(self, why: str) -> None:
        self.closing = True
        if self.task is not None and not self.task.done():
            self.task.cancel(why)
        if self.transport is not None:
            self.transport.abort()


class _ResponseSink:
    """What a streaming runner writes to: chunked HTTP, head sent with the first chunk."""

    def __init__(self, conn: HttpConnection, head: RequestHead, started: float) -> None:
        self.conn = conn
        self.head = head
        self.started = False
        self.began = started
        self.chunked = head.version == "HTTP/1.1"

    def _start(self) -> None:
        conn = self.conn
        config = conn.server.config
        headers = function_response_headers(config.content_type, self.head,
                                            time.perf_counter() - self.began)
        lines = ["HTTP/1.1 200 OK", *(f"{n}: {v}" for n, v in headers)]
        if self.chunked:
            lines.append("Transfer-Encoding: chunked")
        if not self.chunked or not self.head.keep_alive or conn.server.state == "draining":
            lines.append("Connection: close")
        conn.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.started = True

    async def write(self, chunk: bytes) -> None:
        conn = self.conn
        if conn.closing or conn.transport is None:
            raise asyncio.CancelledError("client_gone")
        if not self.started:
            self._start()
        if self.head.method != "HEAD":
            if self.chunked:
                conn.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                conn.transport.write(chunk)
        if conn.write_paused:
            await conn.drain()

    def finish(self) -> None:
        conn = self.conn
        if conn.closing or conn.transport is None:
            return
        if not self.started:
            self._start()
        if self.chunked and self.head.method != "HEAD":
            conn.transport.write(b"0\r\n\r\n")
        close = not self.chunked or not self.head.keep_alive or conn.server.state == "draining"
        conn._after_response(close)


def _reason(status: int) -> str:
    return REASONS.get(status, "Unknown")
