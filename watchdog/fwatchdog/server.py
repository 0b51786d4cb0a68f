"""The HTTP/1.1 front: one asyncio Protocol per connection, keep-alive, no framework.

Every mode goes through `HttpConnection`: its parser, its one admission path
(`_admit`: state, readiness, max_inflight) and its one error writer
(`_send_error`). Fork and stream modes then run the runner per request
(`_begin`, `_run`): a request becomes an Invocation, the runner's Outcome (or
exception) a response. http mode's `proxy.ProxyConnection` overrides only how
an admitted request is carried out (relayed to the upstream). Platform-made
responses are JSON marked with X-Swarmfaas-Internal (errors.py); every head
and chunk frame is written by httpwire.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from . import errors
from .cgi import build_cgi_env
from .config import Config
from .headers import function_response_headers
from .httpwire import (
    CONTINUE,
    LAST_CHUNK,
    MAX_HEAD,
    ChunkedDecoder,
    HttpError,
    Request,
    RequestHead,
    chunk,
    parse_head,
    response_head,
)
from .metrics import Slot as Metrics
from .runners import (
    CannotStart,
    Invocation,
    OutputTooLarge,
    ProcessFailed,
    Supervised,
    UpstreamUnavailable,
)

IDLE_TIMEOUT = 60.0  # idle keep-alive connections close after this
# A connection closed after its answer with request bytes unread (a draining
# or an early error answer) is read and dropped for at most this long: closing
# at once would make the kernel reset it, and a reset can destroy the answer
# before the client reads it. The client closes when it has the answer.
LINGER_CLOSE = 2.0
SMALL_BODY = 65536  # bodies up to this size go out in the same write as the head
READ_PAUSE = 262144  # stop reading a busy connection past this much buffered input
RESERVED_PREFIX = "/_/"


class Server:
    """State shared by all connections of one worker."""

    def __init__(self, config: Config, runner: Supervised, metrics: Metrics,
                 base_env: Mapping[str, str], worker: int = 0,
                 connection_class: type[HttpConnection] | None = None) -> None:
        self.config = config
        self.runner = runner
        self.metrics = metrics
        self.base_env = dict(base_env)
        self.worker = worker
        # starting -> ready -> stopping (SIGTERM: unhealthy, still serving for
        # healthcheck_interval) -> draining (finishing in-flight; each new
        # request is answered 503 replica_draining, the function never started)
        self.state = "starting"
        self.inflight = 0
        self.connections: set[HttpConnection] = set()
        self.lingering: set[_Lingering] = set()
        self.lingered = asyncio.Event()  # set while no connection lingers
        self.lingered.set()
        self.idle_event = asyncio.Event()
        # The wiring (app.py) picks it per mode: http mode relays (proxy.py).
        self.connection_class = connection_class or HttpConnection

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
        self.runner.sweep()

    def begin_drain(self) -> None:
        """From now on every new request, on a new connection or a kept-alive
        one, gets 503 replica_draining: a sidecar whose routing table still
        has this replica sends it to another one (docs/watchdog.md)."""
        self.state = "draining"

    def linger(self, conn: _Lingering) -> None:
        self.lingering.add(conn)
        self.lingered.clear()

    def lingered_out(self, conn: _Lingering) -> None:
        self.lingering.discard(conn)
        if not self.lingering:
            self.lingered.set()

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
            if self.server.state == "draining" and not head.path.startswith(RESERVED_PREFIX):
                self.refuse_draining(head.header("x-call-id"), head.method)
                return None  # answered at its head: the body is never read
            if head.chunked:
                self.chunks = ChunkedDecoder(self.server.config.request_limit)
            if head.expect_continue and head.content_length != 0:
                self.transport.write(CONTINUE)
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
        if head.path.startswith(RESERVED_PREFIX):
            self._system(request)
            return
        call_id = head.header("x-call-id")
        if self._admit(call_id, head.method, head.keep_alive):
            self._begin(request, call_id or None)

    def _admit(self, call_id: str, method: str, keep_alive: bool) -> bool:
        """The one admission path of every mode: count the request in, or answer
        it here (503 while not ready or draining, 429 at max_inflight)."""
        server = self.server
        if server.state == "draining":
            self.refuse_draining(call_id, method)
            return False
        if server.state not in ("ready", "stopping"):
            error = errors.not_ready(f"the watchdog is {server.state}")
        elif not server.runner.ready():
            error = errors.not_ready("the function is not ready")
        elif not server.try_start():
            error = errors.overloaded(server.config.max_inflight)
        else:
            return True
        self._send_error(error, call_id or None, head=Asked(method, keep_alive))
        return False

    def refuse_draining(self, call_id: str, method: str) -> None:
        """A new request while draining: 503 replica_draining (marked, so the
        sidecar sends it elsewhere) and close, without starting the function
        or waiting for the body."""
        self._send_error(errors.draining(), call_id or None, head=Asked(method, False),
                         close=True)

    def _begin(self, request: Request, call_id: str | None) -> None:
        """Carry out an admitted request: fork and stream run the runner."""
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
            self._send_error(errors.not_found(f"no watchdog endpoint {path}"), None,
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
                raise errors.function_failed(exc.code, exc.out_of_memory) from None
            except OutputTooLarge:
                raise errors.response_too_large(config.response_limit) from None
            except UpstreamUnavailable as exc:
                raise errors.upstream_unavailable(str(exc)) from None
            except CannotStart as exc:
                raise errors.cannot_start(str(exc)) from None
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
              head: RequestHead | Asked | None, close: bool = False) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        close = close or head is None or not head.keep_alive or self.server.state == "draining"
        send_body = head is None or head.method != "HEAD"
        headers.append(("Content-Length", str(len(body))))
        if close:
            headers.append(("Connection", "close"))
        raw_head = response_head(status, headers)
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
            if self.buf or self.head is not None:  # request bytes unread, more may come
                self._linger()
            else:
                self.transport.close()

    def _linger(self) -> None:
        """Close after the answer without a reset: _Lingering reads on and drops."""
        transport = self.transport
        self.server.connections.discard(self)
        self.buf.clear()
        if self.read_paused:
            self.read_paused = False
            transport.resume_reading()
        transport.set_protocol(_Lingering(self.server, transport))

    def _send_error(self, exc: errors.PlatformError, call_id: str | None,
                    head: RequestHead | Asked | None = None, close: bool = False) -> None:
        """The one writer of every error response the watchdog makes."""
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
            self._send_error(errors.request_timeout(config.read_timeout), None, close=True)
        elif not self.buf and self.head is None and now - self.last_activity > IDLE_TIMEOUT:
            self.closing = True
            self.transport.close()

    def abort(self, why: str) -> None:
        self.closing = True
        if self.task is not None and not self.task.done():
            self.task.cancel(why)
        if self.transport is not None:
            self.transport.abort()


class _Lingering(asyncio.Protocol):
    """A closing connection whose client may still be sending the request we
    answered: our side is shut once the answer is out (FIN, no reset), what
    comes is dropped, and it closes at the client's close or after LINGER_CLOSE."""

    def __init__(self, server: Server, transport: asyncio.Transport) -> None:
        self.server = server
        self.transport = transport
        server.linger(self)
        self.timer = asyncio.get_running_loop().call_later(LINGER_CLOSE, transport.close)
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def data_received(self, data: bytes) -> None:
        pass  # the rest of a request already answered

    def eof_received(self) -> bool:
        return False  # the client has the answer: close

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()
        self.server.lingered_out(self)


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
        if self.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        if not self.chunked or not self.head.keep_alive or conn.server.state == "draining":
            headers.append(("Connection", "close"))
        conn.transport.write(response_head(200, headers))
        self.started = True

    async def write(self, data: bytes) -> None:
        conn = self.conn
        if conn.closing or conn.transport is None:
            raise asyncio.CancelledError("client_gone")
        if not self.started:
            self._start()
        if self.head.method != "HEAD":
            if self.chunked:
                conn.transport.write(chunk(data))
            else:
                conn.transport.write(data)
        if conn.write_paused:
            await conn.drain()

    def finish(self) -> None:
        conn = self.conn
        if conn.closing or conn.transport is None:
            return
        if not self.started:
            self._start()
        if self.chunked and self.head.method != "HEAD":
            conn.transport.write(LAST_CHUNK)
        close = not self.chunked or not self.head.keep_alive or conn.server.state == "draining"
        conn._after_response(close)


class Asked:
    """What an answer needs of the request it answers, when there is no
    RequestHead (http mode's fast scan makes none): _send reads these two."""

    __slots__ = ("keep_alive", "method")

    def __init__(self, method: str, keep_alive: bool) -> None:
        self.method = method
        self.keep_alive = keep_alive
