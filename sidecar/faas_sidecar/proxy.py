"""Forward a request to a ready replica of a function and relay the answer.

Reads the routing table once per request (a snapshot), picks the replica with
the fewest requests in flight, retries on another replica when the request
never reached the first, and turns every failure into a PlatformError with its
one status: 404 unknown, 503 no ready replica (after holding the request up to
HOLD_TIMEOUT for one to appear), 502 unreachable or garbage, 504 timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING

from sanic import HTTPResponse, Request

from .balancer import pick, replica_key
from .errors import PlatformError
from .headers import call_id_for, request_headers, response_headers
from .model import FunctionSpec, Replica, RoutingTable
from .routing import FUNCTION_HEADER, check_name, resolve
from .upstream import READING_BODY, Connection, Pool, UpstreamError
from .wire import request_head

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger("faas_sidecar.proxy")

TIMEOUT_MARGIN = 1.0  # the sidecar gives up at the function's timeout + 1 s
MAX_ATTEMPTS_TOTAL = 32
REFUSED_PAUSE_FIRST, REFUSED_PAUSE_MAX = 0.02, 0.5
RETRY_AFTER = "1"
# A pending call waits for a body of at most this size to arrive whole; a
# larger one is relayed as it comes.
SMALL_BODY = 64 * 1024


class UpstreamResponse(HTTPResponse):
    """A response whose body is still arriving from the replica.

    Sanic sends a handler's response with ``send(end_stream=True)``; this
    override relays the replica's body there, chunk by chunk, so ``forward``
    can return an ordinary response object (the contract Alexa codes against)
    while bodies stream.
    """

    def __init__(self, status: int, headers: list[tuple[str, str]],
                 chunks: AsyncIterator[bytes], done: Callable[[bool], None]) -> None:
        super().__init__(None, status=status, headers=headers)
        self._chunks = chunks
        self._done = done
        self._pumped = False

    async def send(self, data=None, end_stream=None) -> None:  # type: ignore[override]
        if self._pumped or data is not None or end_stream is False:
            await super().send(data, end_stream)
            return
        self._pumped = True
        ok = False
        try:
            async for chunk in self._chunks:
                await super().send(chunk, False)
            await super().send(None, True)
            ok = True
        finally:
            self._done(ok)


class Reply:
    """The replica's answer, before it becomes a response: the head, and either
    the whole body or the chunks still to come. ``done(ok)`` must be called once
    the chunks are relayed (it returns the connection to the pool or drops it)."""

    __slots__ = ("body", "chunks", "done", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes | None,
                 chunks: AsyncIterator[bytes] | None, done: Callable[[bool], None]) -> None:
        self.status = status
        self.headers = headers  # to the client; Content-Length only when kept from upstream
        self.body = body
        self.chunks = chunks
        self.done = done


class Lease:
    """A call's slot on one replica (its count in ``in_flight``) and the
    connection it uses once there is one; ``done(ok)`` gives both back, once:
    the connection to the pool if the exchange ended cleanly, else closed."""

    __slots__ = ("_proxy", "conn", "key", "released")

    def __init__(self, proxy: Proxy, key: tuple[str, int],
                 conn: Connection | None = None) -> None:
        self._proxy = proxy
        self.key = key
        self.conn = conn
        self.released = False
        proxy.in_flight[key] = proxy.in_flight.get(key, 0) + 1

    def done(self, ok: bool) -> None:
        if self.released:
            return
        self.released = True
        in_flight = self._proxy.in_flight
        left = in_flight[self.key] - 1
        if left > 0:
            in_flight[self.key] = left
        else:
            del in_flight[self.key]
        conn = self.conn
        if conn is not None:
            if ok:
                self._proxy.pool.release(conn)
            else:
                conn.close()


class PendingCall:
    """A call sent without a task (``Proxy.call_now``): the connection calls
    ``_on_connection`` after each read, on failure and at its deadline, and
    the Reply, or the PlatformError, goes to ``deliver`` once."""

    __slots__ = ("_body", "_call_id", "_conn", "_deliver", "_head", "_head_only", "_lease",
                 "_listening", "_proxy", "_spec", "_started", "_task", "_timeout")

    def __init__(self, proxy: Proxy, spec: FunctionSpec, conn: Connection, head: bytes,
                 body: bytes, call_id: str, head_only: bool,
                 deliver: Callable[[Reply | BaseException], None]) -> None:
        self._proxy = proxy
        self._spec = spec
        self._conn = conn
        self._head = head
        self._body = body
        self._call_id = call_id
        self._head_only = head_only
        self._deliver = deliver
        self._task: asyncio.Task[None] | None = None
        self._started = time.perf_counter()
        proxy._metrics.started(spec.name)
        self._lease = Lease(proxy, conn.key, conn)
        self._timeout = spec.timeout + TIMEOUT_MARGIN
        proxy.pool.watch(conn, time.monotonic() + self._timeout)
        self._listening = True
        conn.send_bytes(head, body, head_only=head_only, listener=self._on_connection)

    def cancel(self) -> None:
        """The client left: drop the exchange (the replica sees the close)."""
        if self._task is not None:
            self._task.cancel()  # its own bookkeeping records the 499
            return
        if not self._listening:
            return  # already delivered
        self._detach()
        self._lease.done(False)
        self._observed("499")

    def _on_connection(self) -> None:
        conn = self._conn
        if conn.has_head():
            if conn.state is READING_BODY and _small_body_coming(conn):
                return  # a small body split over reads: wait for the rest
            self._detach()
            reply = Proxy._reply(conn, self._call_id, self._head_only, self._lease,
                                 self._timeout)
            self._observed(str(reply.status))
            self._deliver(reply)
            return
        error = conn.error
        if error is None:
            return  # the head is not complete yet
        self._detach()
        self._lease.done(False)
        spec = self._spec
        if isinstance(error, TimeoutError):
            self._finish(PlatformError(504, "function_timeout", f"function {spec.name!r} did "
                                       f"not answer within {self._timeout:g} s"))
        elif isinstance(error, UpstreamError) and (
                not error.sent or conn.stale()):
            # Never reached the replica (a pooled connection it had closed):
            # the call starts over in _exchange, in a task.
            log.info("retrying %s after %s (call %s)", spec.name, error, self._call_id)
            self._proxy._metrics.retried(spec.name)
            self._task = asyncio.get_running_loop().create_task(self._retry())
        else:
            self._finish(PlatformError(502, "replica_unreachable",
                                       f"function {spec.name!r}: {error}"))

    async def _retry(self) -> None:
        code = "502"
        try:
            result: Reply | BaseException = await self._proxy._exchange(
                self._spec, self._head, self._body, None, len(self._body), self._call_id,
                self._head_only)
            code = str(result.status)
        except PlatformError as exc:
            code = str(exc.status)
            result = exc
        except asyncio.CancelledError:
            code = "499"
            raise
        except Exception as exc:
            code = "500"
            result = exc
        finally:
            self._observed(code)
        self._deliver(result)

    def _detach(self) -> None:
        conn = self._conn
        self._listening = False
        conn.unlisten()
        self._proxy.pool.unwatch(conn)

    def _finish(self, error: PlatformError) -> None:
        self._observed(str(error.status))
        self._deliver(error)

    def _observed(self, code: str) -> None:
        self._proxy._metrics.observed(self._spec.name, code, time.perf_counter() - self._started)


class Proxy:
    def __init__(
        self,
        table: Callable[[], RoutingTable],
        changed: Callable[[], asyncio.Event],
        metrics: Metrics,
        *,
        connect_timeout: float,
        hold_timeout: float,
        buffer_limit: int,
    ) -> None:
        self._table = table
        self._changed = changed
        self._metrics = metrics
        self._hold_timeout = hold_timeout
        self._buffer_limit = buffer_limit
        self.pool = Pool(connect_timeout)
        self.in_flight: dict[tuple[str, int], int] = {}
        self._turn = itertools.count()
        self._pool_generation = -1

    # public contract (docs/sidecar.md): Alexa and the routes call this
    async def forward(
        self,
        request: Request,
        function_name: str,
        *,
        body: bytes | None = None,
        path: str | None = None,
    ) -> HTTPResponse:
        call_id = call_id_for(request.headers.get("x-call-id"))
        request.ctx.call_id = call_id
        if path is None:
            path = self._derive_path(request)
        reply = await self.call(
            function_name, request.method, path, request.query_string,
            request.headers.items(), client_ip=request.ip or "", scheme=request.scheme,
            call_id=call_id, body=body, request=request)
        if reply.body is not None:
            return HTTPResponse(reply.body, status=reply.status, headers=reply.headers)
        return UpstreamResponse(reply.status, reply.headers, reply.chunks,  # type: ignore[arg-type]
                                reply.done)

    async def call(
        self,
        function_name: str,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        *,
        client_ip: str,
        scheme: str,
        call_id: str,
        body: bytes | None = None,
        request: Request | None = None,
    ) -> Reply:
        """One call of a function, independent of the server in front: the
        Sanic routes (through ``forward``) and the lean function path
        (fastpath.py) both use it. ``body`` None with a Sanic ``request``
        reads small bodies first and streams larger ones."""
        started = time.perf_counter()
        code = "502"
        check_name(function_name)  # callers may pass a header value as it came
        table = self._table()
        spec = table.functions.get(function_name)
        known = spec is not None  # bounds metric label values
        if known:
            self._metrics.started(function_name)
        try:
            if spec is None or not spec.replicas or table.generation != self._pool_generation:
                spec = await self._ready_spec(function_name)  # 404, hold, or a new table
            stream: AsyncIterator[bytes] | None = None
            length: int | None
            if body is None and request is not None:
                body = await self._maybe_buffer(request)
                if body is None:
                    stream = _body_stream(request)
                    length = _declared_length(request)
            if body is not None:
                length = len(body)
            elif stream is None:
                body, length = b"", 0
            head = _request_head(method, path, query, headers, call_id, client_ip, scheme,
                                 length)
            reply = await self._exchange(spec, head, body, stream, length, call_id,
                                         method == "HEAD")
            code = str(reply.status)
            return reply
        except PlatformError as exc:
            code = str(exc.status)
            raise
        except asyncio.CancelledError:
            code = "499"  # the client went away first (nginx's code for it)
            raise
        finally:
            # Time to the response head; a streamed body is not included.
            if known:
                self._metrics.observed(function_name, code, time.perf_counter() - started)

    def call_now(
        self,
        function_name: str,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        *,
        client_ip: str,
        scheme: str,
        call_id: str,
        deliver: Callable[[Reply | BaseException], None],
    ) -> PendingCall | None:
        """``call`` without a task, for a body held in full: when the function
        has a ready replica and a pooled connection to it is idle, send the
        request now and return the pending call; ``deliver`` gets the Reply
        (or the PlatformError) from the connection's callbacks. None when the
        call needs to wait for something else (a table, a connect, a replica):
        then ``await call(...)`` it. The policy is ``call``'s: a retry, if
        the first replica fails, continues in ``_exchange``.
        """
        table = self._table()
        spec = table.functions.get(function_name)  # names in a table are valid
        if spec is None or not spec.replicas or table.generation != self._pool_generation:
            return None
        replica = pick(spec.replicas, self.in_flight, (), next(self._turn))
        if replica is None:
            return None
        key = (replica.address, replica.port)
        conn = self.pool.take_idle(key)
        if conn is None:
            return None
        head = _request_head(method, path, query, headers, call_id, client_ip, scheme,
                             len(body))
        return PendingCall(self, spec, conn, head, body, call_id, method == "HEAD", deliver)

    # steps
    async def _ready_spec(self, name: str) -> FunctionSpec:
        table = self._table()
        if table.generation != self._pool_generation:
            self._prune(table)
        spec = table.get(name)
        if spec is None:
            raise PlatformError(404, "function_not_found", f"no function named {name!r}")
        if spec.replicas:
            return spec
        if spec.desired_replicas != 0 and self._hold_timeout > 0:
            # Hold the request (bounded) while a replica starts: scale-up,
            # a rolling update of a single replica, or a fresh deploy.
            deadline = time.monotonic() + self._hold_timeout
            while (left := deadline - time.monotonic()) > 0:
                changed = self._changed()
                try:
                    async with asyncio.timeout(left):
                        await changed.wait()
                except TimeoutError:
                    break
                spec = self._table().get(name)
                if spec is None:
                    raise PlatformError(404, "function_not_found", f"no function named {name!r}")
                if spec.replicas:
                    return spec
        raise PlatformError(503, "no_ready_replica", f"function {name!r} has no ready replica",
                            headers={"Retry-After": RETRY_AFTER})

    @staticmethod
    def _derive_path(request: Request) -> str:
        return resolve(request.path, request.headers.get(FUNCTION_HEADER)).path

    async def _maybe_buffer(self, request: Request) -> bytes | None:
        """Buffer a small body so the request can be retried; stream big ones."""
        stream = request.stream
        if stream is None or not getattr(stream, "request_body", None):
            return request.body or b""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= self._buffer_limit:
            await request.receive_body()
            return request.body
        return None

    async def _exchange(self, spec: FunctionSpec, head: bytes, body: bytes | None,
                        stream: AsyncIterator[bytes] | None, length: int | None,
                        call_id: str, head_only: bool) -> Reply:
        tried: set[tuple[str, int]] = set()
        last: UpstreamError | None = None
        # Connection refused by every replica (a task reported running before its
        # server listens, or stopping): wait a little and try again, bounded.
        deadline = time.monotonic() + self._hold_timeout
        pause = REFUSED_PAUSE_FIRST
        attempts = 0
        while attempts < MAX_ATTEMPTS_TOTAL:
            replica = pick(spec.replicas, self.in_flight, tried, next(self._turn))
            if replica is None:
                if last is None or last.sent or time.monotonic() + pause > deadline:
                    break
                await asyncio.sleep(pause)
                pause = min(pause * 2, REFUSED_PAUSE_MAX)
                spec = await self._ready_spec(spec.name)  # a fresh snapshot
                tried.clear()
                continue
            tried.add(replica_key(replica))
            attempts += 1
            try:
                return await self._attempt(spec, replica, head, body, stream, length, call_id,
                                           head_only)
            except UpstreamError as exc:
                last = exc
                # Retry only what never reached a replica: a failed connect, or
                # a pooled connection the replica had closed, with a body we
                # still hold in full.
                if exc.sent and not (exc.reused and body is not None):
                    break
                if exc.sent:
                    last = UpstreamError(str(exc), sent=False)
                log.info("retrying %s after %s (call %s)", spec.name, exc, call_id)
                self._metrics.retried(spec.name)
        reason = f"function {spec.name!r}: {last}" if last else \
            f"function {spec.name!r} has no replica left to try"
        raise PlatformError(502, "replica_unreachable", reason)

    async def _attempt(self, spec: FunctionSpec, replica: Replica, head: bytes,
                       body: bytes | None, stream: AsyncIterator[bytes] | None,
                       length: int | None, call_id: str, head_only: bool) -> Reply:
        key = (replica.address, replica.port)
        lease = Lease(self, key)
        conn: Connection | None = None
        timeout = spec.timeout + TIMEOUT_MARGIN
        pool = self.pool
        try:
            if body is not None:
                # The common case, a body held in full: the pool's deadline sweep
                # bounds the exchange (no timer per request).
                deadline = time.monotonic() + timeout
                conn = pool.take_idle(key) or await pool.acquire(key, deadline)
                pool.watch(conn, deadline)
                try:
                    lease.conn = conn
                    conn.send_bytes(head, body, head_only=head_only)
                    await conn.read_head()
                finally:
                    pool.unwatch(conn)
            else:
                # A streamed upload also waits on the client: one timeout for the task.
                async with asyncio.timeout(timeout):
                    conn = lease.conn = await pool.acquire(key)
                    await conn.send_request(head, stream, chunked=length is None,
                                            head_only=head_only)
                    await conn.read_head()
            return self._reply(conn, call_id, head_only, lease, timeout)
        except TimeoutError:
            lease.done(False)
            raise PlatformError(504, "function_timeout",
                                f"function {spec.name!r} did not answer within "
                                f"{timeout:g} s") from None
        except UpstreamError as exc:
            if conn is not None and not exc.reused and conn.stale():
                exc.reused = True
            lease.done(False)
            raise
        except BaseException:
            lease.done(False)
            raise

    @staticmethod
    def _reply(conn: Connection, call_id: str, head_only: bool, lease: Lease,
               timeout: float) -> Reply:
        """The replica's answer once its head is in: whole, or chunks to come."""
        complete = conn.take_complete_body()
        out_headers = response_headers(conn.headers, call_id=call_id)
        if complete is not None:
            if head_only:  # the size of what GET would send, kept for HEAD
                upstream_length = _header(conn.headers, "content-length")
                if upstream_length is not None:
                    out_headers.append(("Content-Length", upstream_length))
            reply = Reply(conn.status, out_headers, complete, None, lease.done)
            lease.done(True)
            return reply
        upstream_length = _header(conn.headers, "content-length")
        if upstream_length is not None:
            out_headers.append(("Content-Length", upstream_length))
        return Reply(conn.status, out_headers, None, _timed(conn.iter_body(), timeout),
                     lease.done)

    def _prune(self, table: RoutingTable) -> None:
        if table.generation != self._pool_generation:
            self._pool_generation = table.generation
            self.pool.retain(replica_key(r) for f in table.functions.values()
                             for r in f.replicas)
            self._metrics.forget(set(table.functions))


async def _body_stream(request: Request) -> AsyncIterator[bytes]:
    while True:
        chunk = await request.stream.read()  # type: ignore[union-attr]
        if chunk is None:
            return
        yield chunk


async def _timed(chunks: AsyncIterator[bytes], timeout: float) -> AsyncIterator[bytes]:
    # The rest of the body shares the function's timeout budget per wait.
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        yield chunk


def _declared_length(request: Request) -> int | None:
    stream = request.stream
    if stream is None or not getattr(stream, "request_body", None):
        return 0
    length = request.headers.get("content-length")
    if length is not None and length.isdigit():
        return int(length)
    return None


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _request_head(method: str, path: str, query: str, headers: Iterable[tuple[str, str]],
                  call_id: str, client_ip: str, scheme: str, length: int | None) -> bytes:
    target = path + "?" + query if query else path
    return request_head(method, target, request_headers(
        headers, call_id=call_id, start_time_ns=time.time_ns(), client_ip=client_ip,
        scheme=scheme, body_length=length))


def _small_body_coming(conn: Connection) -> bool:
    """The rest of a body of declared length, at most SMALL_BODY, is still to come."""
    length = _header(conn.headers, "content-length")
    return length is not None and length.isdigit() and int(length) <= SMALL_BODY
