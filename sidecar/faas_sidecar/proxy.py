"""The call policy: forward a request to a ready replica of a function and
relay the answer, written once for both adapters (the function path in
fastpath.py, Sanic's request cycle in sanicpath.py).

One call goes through three steps:

1. **Admission** (``Proxy.admit_now`` without waiting, ``Proxy.admit`` when
   it may wait): is the function known, and which replica takes the call;
   404 unknown, a hold of up to HOLD_TIMEOUT while a known function has no
   ready replica, then 503. This is the one seam for whatever later decides
   whether a call goes now, waits or is refused (queues, rate limits,
   scale-from-zero, checks before forwarding). A function with a
   concurrency limit (``spec.queue``) whose replicas are full waits here in
   its queue (callqueue.py), in arrival order, or gets 429.
   scale-from-zero, checks before forwarding). An asynchronous call
   (``/async-function/<name>``, or a function labelled ``swarmfaas.async``)
   stops here: ``store`` checks it as a call would be checked, stores it in
   the broker and answers 202; the queue worker's delivery of it later
   comes back through ``call``, marked by the worker's token.
2. **The exchange** (``Proxy.exchange``): least requests in flight over the
   replicas of one routing-table snapshot, within the function's timeout
   (``exchange_timeout``; 504), tried again on another replica only when the
   request never reached the first, or reached only a draining watchdog that
   did not run it (``may_retry``, ``replica_draining``); 502 when no replica
   answers. A replica whose connections fail leaves the rotation before
   Docker notices (the circuit breaker, breaker.py; ``_connection_failed``).
3. **Accounting** (``Call``): the metrics of one call, recorded once with
   the code its outcome maps to (``outcome_code``).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Iterable,
)
from typing import TYPE_CHECKING, Protocol

from .balancer import pick, replica_key
from .breaker import SILENT_AFTER, Breakers, excluded
from .callqueue import Decision, FunctionQueue, decide, free_slots
from .cpumeter import CpuMeter, parse_cpu_header
from .errors import (
    COMPONENT,
    INTERNAL_HEADER,
    PlatformError,
    async_body_too_large,
    callback_not_allowed,
    error_headers,
    function_not_found,
    function_queue_full,
    function_rate_limited,
    function_timeout,
    no_ready_replica,
    queue_unavailable,
    replica_unreachable,
    webhook_body_too_large,
    webhook_secret_unavailable,
)
from .headers import request_headers, response_headers_and_cpu
from .labels import is_decimal
from .model import FunctionSpec, Replica, RoutingTable
from .queue.callback import callback_refusal
from .queue.message import CALLBACK_HEADER, DELIVERY_HEADER, StoredCall, stored_headers
from .ratelimit import TokenBucket, retry_after
from .routing import check_name
from .scalerwake import ScalerWake
from .upstream import READING_BODY, Connection, Pool, UpstreamError
from .wire import request_head

if TYPE_CHECKING:
    from sanic import HTTPResponse, Request

    from .metrics import Metrics
    from .queue.broker import Broker
    from .webhooks.guard import WebhookGuard

log = logging.getLogger("faas_sidecar.proxy")

TIMEOUT_MARGIN = 1.0  # the sidecar gives up at the function's timeout + 1 s
MAX_ATTEMPTS_TOTAL = 32
REFUSED_PAUSE_FIRST, REFUSED_PAUSE_MAX = 0.02, 0.5
# A pending call waits for a body of at most this size to arrive whole; a
# larger one is relayed as it comes.
SMALL_BODY = 64 * 1024
# A replica's watchdog said it is at max_inflight (other sidecars' calls):
# the call waits this long, doubling, before it queues again.
BUSY_PAUSE_FIRST, BUSY_PAUSE_MAX = 0.02, 0.5
_INTERNAL = INTERNAL_HEADER.lower()
# The watchdog's mark on its 503 replica_draining (it cuts the field from a
# function's own answers, so only the watchdog makes one).
_DRAINING = "x-swarmfaas-draining"


# -- the policy's rules, as plain functions ----------------------------------------

def exchange_timeout(spec: FunctionSpec) -> float:
    """How long an exchange with a replica of ``spec`` may take, in seconds."""
    return spec.timeout + TIMEOUT_MARGIN


def may_retry(error: UpstreamError, body_held: bool) -> bool:
    """The retry rule: only a request that never reached a replica goes to
    another one: a failed connect, or a pooled connection the replica had
    closed (``stale``) when the body is still held in full."""
    return not error.sent or (error.stale and body_held)


class ReplicaDraining(UpstreamError):
    """The replica's watchdog answered that it drains: it read the request
    (``sent``) but never ran the function, so as a ``stale`` connection's, the
    request may go to another replica if its body is still held."""

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message, sent=sent, stale=True)


def replica_draining(status: int, headers: Iterable[tuple[str, str]]) -> bool:
    """The answer is a draining watchdog's 503 (marked X-Swarmfaas-Draining),
    not the function's: a function's own 503 goes to the client. The hot
    path pays one comparison: only a 503's headers are read."""
    return status == 503 and any(name.lower() == _DRAINING for name, _ in headers)


def unsent(error: UpstreamError) -> UpstreamError:
    """A stale or draining failure as the request's fate for the function: it
    never reached one (so the call may wait for a replica, as after a refused
    connect); a draining one stays one (``gave_up``)."""
    if isinstance(error, ReplicaDraining):
        return ReplicaDraining(str(error), sent=False)
    return UpstreamError(str(error), sent=False)


def watchdog_busy(reply: Reply) -> bool:
    """The replica's watchdog refused the call at its max_inflight (its 429,
    marked as the platform's): the function never ran, so the call may wait
    and go again."""
    if reply.status != 429 or reply.body is None:
        return False
    return any(value == "watchdog" and name.lower() == _INTERNAL
               for name, value in reply.headers)


def unreachable(name: str, error: Exception | None) -> PlatformError:
    """The 502 once no replica answered; ``error`` is the last attempt's."""
    return replica_unreachable(f"function {name!r}: {error}" if error else
                               f"function {name!r} has no replica left to try")


def gave_up(name: str, last: UpstreamError | None, now: FunctionSpec | None) -> PlatformError:
    """The error once the tries of a call are spent. When none reached a
    replica and the table (``now``) has no replica of the function any more,
    every try went to a task that has gone (one that exits at once is
    "running" for an instant): the truth is no_ready_replica, 503 with
    Docker's task error. So it is when the last try met a draining replica:
    the function did not run, and no other replica took the call. Else the
    last try's 502."""
    if isinstance(last, ReplicaDraining):
        return no_ready_replica(name, now.task_error if now is not None else "")
    if last is not None and not last.sent and now is not None and not now.replicas:
        return no_ready_replica(name, now.task_error)
    return unreachable(name, last)


def _duplicate(call_id: str, delivery: str) -> Reply:
    """The answer to a signed delivery the function took already: success,
    marked as the platform's, without a second call."""
    body = json.dumps({"status": "duplicate", "delivery_id": delivery,
                       "component": COMPONENT}).encode()
    return Reply(200, [*error_headers().items(), ("X-Call-Id", call_id)], body, None,
                 _nothing)


def _nothing(ok: bool) -> None:
    pass


def _accepted(call_id: str, name: str) -> Reply:
    """The answer to a stored call: 202, marked as the platform's."""
    body = json.dumps({"status": "accepted", "call_id": call_id, "function": name,
                       "component": COMPONENT}).encode()
    return Reply(202, [*error_headers().items(), ("X-Call-Id", call_id)], body, None,
                 _nothing)


def is_delivery(headers: Iterable[tuple[str, str]], token: bytes | None) -> bool:
    """The request carries the queue worker's token (constant-time compare)."""
    if not token:
        return False
    wanted = DELIVERY_HEADER.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return hmac.compare_digest(value.strip().encode(), token)
    return False


def outcome_code(result: object) -> str:
    """The metrics' code of a call's outcome: the status the client gets."""
    if isinstance(result, Reply):
        return str(result.status)
    if isinstance(result, PlatformError):
        return str(result.status)
    if isinstance(result, asyncio.CancelledError):
        return "499"  # the client went away first (nginx's code for it)
    return "500"  # a bug: both adapters answer 500 internal_error


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


class BodySource(Protocol):
    """A request body an adapter reads only once the call is admitted."""

    def read(self) -> Awaitable[tuple[bytes | None, AsyncIterator[bytes] | None, int | None]]:
        """(body, None, length) held in full, or (None, chunks, length or None)."""
        ...


class Call:
    """One call as the policy accounts for it: its metrics (started when it is
    made for a known function, observed once with ``finished``), its retries,
    and what the answer needs (call id, HEAD or not)."""

    __slots__ = ("_metrics", "_open", "_started", "call_id", "head_only", "hold_until", "name")

    def __init__(self, metrics: Metrics, name: str, call_id: str, head_only: bool,
                 known: bool) -> None:
        self.name = name
        self.call_id = call_id
        self.head_only = head_only
        self._metrics = metrics
        self._open = known  # bounds metric label values to known functions
        self._started = time.perf_counter()
        # The one deadline (time.monotonic) of every wait for a replica: the hold
        # and the retries of refused connects; set by the first of them.
        self.hold_until: float | None = None
        if known:
            metrics.started(name)

    def retrying(self, error: UpstreamError) -> None:
        log.info("retrying %s after %s (call %s)", self.name, error, self.call_id)
        self._metrics.retried(self.name)

    @property
    def started_at(self) -> float:
        """When the call came (time.perf_counter)."""
        return self._started

    def finished(self, code: str) -> None:
        """Time to the response head (a streamed body is not included); once."""
        if self._open:
            self._open = False
            self._metrics.observed(self.name, code, time.perf_counter() - self._started)


class Lease:
    """A call's slot on one replica (its count in ``in_flight``) and the
    connection it uses once there is one; ``done(ok)`` gives both back, once:
    the connection to the pool if the exchange ended cleanly, else closed."""

    __slots__ = ("_proxy", "conn", "key", "queued", "released")

    def __init__(self, proxy: Proxy, key: tuple[str, int],
                 conn: Connection | None = None, queued: str | None = None) -> None:
        self._proxy = proxy
        self.key = key
        self.conn = conn
        self.queued = queued  # the function's name if it has a queue: a slot frees
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
        if self.queued is not None:
            self._proxy.slot_freed(self.queued)
        conn = self.conn
        if conn is not None:
            if ok:
                self._proxy.pool.release(conn)
            else:
                conn.close()


class PendingCall(Call):
    """A call sent without a task (``Proxy.call_now``): the connection calls
    ``_on_connection`` after each read, on failure and at its deadline, and
    the Reply, or the PlatformError, goes to ``deliver`` once. Uses only the
    Proxy's public steps (``reply``, ``exchange``) and the pool's."""

    __slots__ = ("_body", "_conn", "_deliver", "_head", "_lease", "_listening", "_proxy",
                 "_spec", "_task", "_timeout")

    def __init__(self, proxy: Proxy, metrics: Metrics, spec: FunctionSpec, call_id: str,
                 head_only: bool, conn: Connection, head: bytes, body: bytes,
                 deliver: Callable[[Reply | BaseException], None]) -> None:
        Call.__init__(self, metrics, spec.name, call_id, head_only, True)
        self._proxy = proxy
        self._spec = spec
        self._conn = conn
        self._head = head
        self._body = body
        self._deliver = deliver
        self._task: asyncio.Task[None] | None = None
        self._lease = Lease(proxy, conn.key, conn,
                            None if spec.queue is None else spec.name)
        self._timeout = timeout = exchange_timeout(spec)
        proxy.pool.watch(conn, time.monotonic() + timeout)
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
        self.finished("499")

    def _on_connection(self) -> None:
        conn = self._conn
        error: BaseException | None
        if conn.has_head():
            if conn.state is READING_BODY and _small_body_coming(conn):
                return  # a small body split over reads: wait for the rest
            self._detach()
            if not replica_draining(conn.status, conn.headers):
                self._answered(conn)
                return
            error = self._proxy.leaving(self._spec, conn.key)  # retried as below
        else:
            error = conn.error
            if error is None:
                return  # the head is not complete yet
            self._detach()
        self._lease.done(False)
        if isinstance(error, UpstreamError) and conn.received == 0:
            self._proxy.connection_failed(self._spec, conn.key)
        if isinstance(error, TimeoutError):
            self._finish(function_timeout(self._spec.name, self._timeout))
        elif isinstance(error, UpstreamError) and may_retry(error, True):
            # The call starts over in a task, with the same policy.
            self.retrying(error)
            self._task = asyncio.get_running_loop().create_task(self._retry())
        else:
            self._finish(unreachable(self._spec.name, error))

    def _answered(self, conn: Connection) -> None:
        self._proxy.answered(conn.key)
        reply = self._proxy.reply(conn, self, self._lease, self._timeout,
                                  self._spec.measures_cpu)
        if reply.status == 429 and self._spec.queue is not None and watchdog_busy(reply):
            # The replica is full with other sidecars' calls: wait, go again.
            self._task = asyncio.get_running_loop().create_task(self._retry(True))
            return
        self.finished(str(reply.status))
        self._deliver(reply)

    async def _retry(self, busy: bool = False) -> None:
        result: Reply | BaseException
        try:
            spec = self._spec
            if busy:
                spec = await self._proxy.after_busy(spec, self, BUSY_PAUSE_FIRST)
            result = await self._proxy.exchange(spec, self, self._head, self._body,
                                                None, len(self._body),
                                                busy_pause=BUSY_PAUSE_FIRST * (2 if busy else 1))
        except asyncio.CancelledError as exc:
            self.finished(outcome_code(exc))
            raise
        except Exception as exc:
            result = exc
        self.finished(outcome_code(result))
        self._deliver(result)

    def _detach(self) -> None:
        conn = self._conn
        self._listening = False
        conn.unlisten()
        self._proxy.pool.unwatch(conn)

    def _finish(self, error: PlatformError) -> None:
        self.finished(str(error.status))
        self._deliver(error)


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
        cold_start_timeout: float = 30.0,
        webhooks: WebhookGuard | None = None,
        queue: Broker | None = None,
        queue_token: str | None = None,
        async_body_limit: int = 10 << 20,
        callback_allowlist: tuple[str, ...] = (),
        circuit_breaker: bool = True,
        scaler_wake: ScalerWake | None = None,
    ) -> None:
        self._table = table
        # nudges the scaler when a call starts waiting (scalerwake.py); None: off
        self._scaler_wake = scaler_wake
        self.queue = queue  # None: asynchronous calls get 503 queue_unavailable
        self._queue_token = queue_token.encode() if queue_token else None
        self.async_body_limit = async_body_limit
        self.callback_allowlist = callback_allowlist
        self.webhooks = webhooks  # None: functions with a webhook check are refused
        self._changed = changed
        self._metrics = metrics
        self._hold_timeout = hold_timeout
        self._cold_start_timeout = cold_start_timeout
        self.buffer_limit = buffer_limit  # bodies up to this are held, so retriable
        self.pool = Pool(connect_timeout)
        self.breakers = Breakers(enabled=circuit_breaker)
        if circuit_breaker:
            self.pool.on_silent = self._silent
            self.pool.silent_after = SILENT_AFTER
        self._prober: asyncio.Task[None] | None = None
        self._probes: set[asyncio.Task[None]] = set()  # held: the loop keeps weak refs
        metrics.watch_breakers(lambda: len(self.breakers.out))
        self.in_flight: dict[tuple[str, int], int] = {}
        self._buckets: dict[str, TokenBucket] = {}  # functions with swarmfaas.ratelimit.*
        self._queues: dict[str, FunctionQueue] = {}  # functions with max_inflight
        self._held: dict[str, int] = {}  # calls held for a ready replica, by function
        self._queue_watch: asyncio.Task[None] | None = None
        metrics.watch_queues(self.queued)
        self.cpu = CpuMeter()  # the watchdogs' X-Swarmfaas-Cpu, for the cpu scale type
        metrics.watch_cpu(lambda: self.cpu.cores(time.monotonic(), self.in_flight))
        self._turn = itertools.count()
        self._pool_generation = -1

    # public contract (docs/sidecar.md): Alexa and the routes call this
    async def forward(self, request: Request, function_name: str, *,
                      body: bytes | None = None, path: str | None = None,
                      asynchronous: bool = False) -> HTTPResponse:
        """``call`` for a Sanic request (the adapter is sanicpath.forward)."""
        from .sanicpath import forward  # the adapter imports Sanic; the policy does not

        return await forward(self, request, function_name, body=body, path=path,
                             asynchronous=asynchronous)

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
        source: BodySource | None = None,
        asynchronous: bool = False,
    ) -> Reply:
        """One call of a function, independent of the server in front. The body
        is ``body``, or read from ``source`` once the call is admitted (a small
        one whole, a larger one streamed), or empty. ``asynchronous`` (or the
        function's ``swarmfaas.async`` label): store it and answer 202."""
        check_name(function_name)  # callers may pass a header value as it came
        known = self._table().functions.get(function_name)
        call = Call(self._metrics, function_name, call_id, method == "HEAD", known is not None)
        code = "500"
        try:
            delivered = False
            if asynchronous or (known is not None and (known.async_policy.always
                                                       or known.webhook is not None)):
                headers = list(headers)
                delivered = is_delivery(headers, self._queue_token)
            if asynchronous or (known is not None and known.async_policy.always
                                and not delivered):
                reply = await self.store(function_name, method, path, query, headers,
                                         call_id=call_id, body=body, source=source)
                code = str(reply.status)
                return reply
            spec = await self.admit(function_name, call=call)
            if spec.rate_limit is not None:
                self._take_token(spec)
            stream: AsyncIterator[bytes] | None = None
            length: int | None
            if body is None and source is not None:
                body, stream, length = await source.read()
            elif body is None:
                body = b""
            if body is not None:
                length = len(body)
            delivery = None
            # A delivery of a stored call was checked when it was stored.
            if spec.webhook is not None and not delivered:
                headers = list(headers)
                body = await self._whole(
                    body, stream, self.buffer_limit,
                    lambda: webhook_body_too_large(spec.name, self.buffer_limit))
                stream, length = None, len(body)
                delivery = self._signed(spec, headers, body)
                if delivery is not None and self.webhooks.replayed(spec, delivery):  # type: ignore[union-attr]
                    code = "200"
                    return _duplicate(call_id, delivery)
            head = _request_head(method, path, query, headers, call_id, client_ip, scheme,
                                 length)
            reply = await self.exchange(spec, call, head, body, stream, length)
            code = str(reply.status)
            if delivery is not None and reply.status < 500:
                self.webhooks.answered(spec, delivery)  # type: ignore[union-attr]
            return reply
        except BaseException as exc:
            code = outcome_code(exc)
            raise
        finally:
            call.finished(code)

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
        """``call`` without a task, for a body held in full: when admission
        needs no wait and a pooled connection to the chosen replica is idle,
        send the request now and return the pending call; ``deliver`` gets the
        Reply (or the PlatformError) from the connection's callbacks. None when
        the call needs to wait for something else (a table, a connect, a
        replica): then ``await call(...)`` it. A retry continues in ``exchange``.
        """
        admitted = self.admit_now(function_name)
        if admitted is None:
            return None
        spec, replica = admitted
        if (spec.webhook is not None or spec.rate_limit is not None
                or spec.async_policy.always):
            return None  # call() checks the signature, the rate limit, stores
        conn = self.pool.take_idle((replica.address, replica.port))
        if conn is None:
            return None
        head = _request_head(method, path, query, headers, call_id, client_ip, scheme,
                             len(body))
        return PendingCall(self, self._metrics, spec, call_id, method == "HEAD", conn, head,
                           body, deliver)

    # per-function rate limits: a token bucket per function, here
    def _take_token(self, spec: FunctionSpec) -> None:
        limit = spec.rate_limit
        assert limit is not None
        now = time.monotonic()
        bucket = self._buckets.get(spec.name)
        if bucket is None or bucket.limit != limit:  # new, or the label changed
            bucket = self._buckets[spec.name] = TokenBucket(limit, now)
        wait = bucket.take(now)
        if wait:
            self._metrics.rate_limited.labels(spec.name).inc()
            raise function_rate_limited(spec.name, limit.rps, retry_after(wait))

    # asynchronous calls: checked as a call is, stored whole, answered 202
    async def store(self, function_name: str, method: str, path: str, query: str,
                    headers: list[tuple[str, str]], *, call_id: str,
                    body: bytes | None = None, source: BodySource | None = None) -> Reply:
        """Store the whole request in the broker (acked), then 202 with its call
        id. A known function only (404); a signed one's signature is checked
        first (401), and a redelivery it already took is a duplicate."""
        spec = self._table().get(function_name)
        if spec is None:
            raise function_not_found(function_name)
        callback = _header(headers, CALLBACK_HEADER.lower())
        if callback is not None:
            refusal = callback_refusal(callback.strip(), self.callback_allowlist)
            if refusal is not None:
                raise callback_not_allowed(f"X-Callback-Url: {refusal}")
        limit = self.async_body_limit
        stream: AsyncIterator[bytes] | None = None
        if body is None and source is not None:
            body, stream, _length = await source.read()
        if body is not None and len(body) > limit:
            raise async_body_too_large(function_name, limit)
        body = await self._whole(body, stream, limit,
                                 lambda: async_body_too_large(function_name, limit))
        delivery = None
        if spec.webhook is not None:
            delivery = self._signed(spec, headers, body)
            if delivery is not None and self.webhooks.replayed(spec, delivery):  # type: ignore[union-attr]
                return _duplicate(call_id, delivery)
        if self.queue is None:
            raise queue_unavailable("this sidecar has no broker (QUEUE_URL)")
        policy = spec.async_policy
        stored = StoredCall(call_id, function_name, method, path, query,
                            stored_headers(headers), body, time.time(), policy.attempts,
                            policy.concurrency)
        from .queue.broker import BrokerUnavailable  # nats-py loads only when used

        try:
            await self.queue.store(stored)
        except BrokerUnavailable as exc:
            log.warning("call %s of %s not stored: %s", call_id, function_name, exc)
            raise queue_unavailable("the broker did not store it in time") from None
        if delivery is not None:
            self.webhooks.answered(spec, delivery)  # type: ignore[union-attr]
        return _accepted(call_id, function_name)

    # signed webhooks: checked on the whole raw body before anything is sent
    async def _whole(self, body: bytes | None, stream: AsyncIterator[bytes] | None,
                     limit: int, too_large: Callable[[], PlatformError]) -> bytes:
        if stream is None:
            return body or b""
        parts, size = [], 0
        async for part in stream:
            size += len(part)
            if size > limit:
                raise too_large()
            parts.append(part)
        return b"".join(parts)

    def _signed(self, spec: FunctionSpec, headers: list[tuple[str, str]],
                body: bytes) -> str | None:
        if self.webhooks is None:
            raise webhook_secret_unavailable(spec.name)
        return self.webhooks.check(spec, headers, body)

    # admission: the one place that decides whether and where a call goes
    def admit_now(self, name: str) -> tuple[FunctionSpec, Replica] | None:
        """The function's snapshot and the replica to use, when the call can go
        now; None when it must ask ``admit`` (which may wait or refuse)."""
        # _ready and choose, inline: this runs on every call of the function path
        table = self._table()
        spec = table.functions.get(name)  # names in a table are valid
        if spec is None or not spec.replicas or table.generation != self._pool_generation:
            return None
        out = self.breakers.out
        replica = pick(spec.replicas, self.in_flight,
                       excluded(map(replica_key, spec.replicas), out) if out else (),
                       next(self._turn))
        if replica is None or (spec.queue is not None and not self._room_now(spec, replica)):
            return None
        return spec, replica

    async def admit(self, name: str, *, queue: bool = True, front: bool = False,
                    call: Call | None = None) -> FunctionSpec:
        """The function's snapshot with a ready replica; waits (bounded) while a
        known function has none, and in its queue while its replicas are full
        (``queue``; ``front``: a call that was there before); PlatformError 404,
        503 or 429. ``call``'s ``hold_until`` bounds every hold of that call."""
        spec = self._ready(name)
        if spec is None:
            spec = await self._hold(name, call)
        if spec.queue is not None and queue:
            spec = await self._queued(spec, front, call)
        return spec

    async def _hold(self, name: str, call: Call | None) -> FunctionSpec:
        table = self._table()
        if table.generation != self._pool_generation:
            self._prune(table)
        spec = table.get(name)
        if spec is None:
            raise function_not_found(name)
        if spec.replicas:
            return spec
        # A function that scales to zero waits for a start from zero (the
        # scaler sees this call in flight and starts it); one at 0 by hand does not.
        cold = spec.scales_to_zero
        bound = self._cold_start_timeout if cold else self._hold_timeout
        if (spec.desired_replicas != 0 or cold) and bound > 0:
            # Hold the request (bounded) while a replica starts: scale-up,
            # a rolling update of a single replica, a fresh deploy, a cold start.
            started = time.monotonic()
            deadline = started + bound
            if call is not None:  # a call's holds and connect retries share one bound
                if call.hold_until is None:
                    call.hold_until = deadline
                deadline = call.hold_until
            waiting = self._waiting(name)
            self._held[name] = self._held.get(name, 0) + 1
            if self._scaler_wake is not None:
                self._scaler_wake.waiting_started(name, waiting)
            try:
                while (left := deadline - time.monotonic()) > 0:
                    changed = self._changed()
                    try:
                        async with asyncio.timeout(left):
                            await changed.wait()
                    except TimeoutError:
                        break
                    spec = self._table().get(name)
                    if spec is None:
                        raise function_not_found(name)
                    if spec.replicas:
                        if cold:
                            self._metrics.cold_start_waited(name, time.monotonic() - started)
                        return spec
            finally:
                if self._held[name] > 1:
                    self._held[name] -= 1
                else:
                    del self._held[name]
        raise no_ready_replica(name, spec.task_error)

    # the queue in front of full replicas (callqueue.py)
    def _room_now(self, spec: FunctionSpec, replica: Replica) -> bool:
        """The fast path's test: the least loaded replica is below the limit
        and no call waits before this one."""
        queue = self._queues.get(spec.name)
        if queue is not None and (queue.waiters or queue.granted):
            return False
        return self.in_flight.get((replica.address, replica.port), 0) < spec.queue.max_inflight  # type: ignore[union-attr]

    def _free(self, spec: FunctionSpec, queue: FunctionQueue) -> int:
        in_flight = self.in_flight
        return free_slots(spec.queue.max_inflight,  # type: ignore[union-attr]
                          (in_flight.get((r.address, r.port), 0) for r in spec.replicas),
                          queue.granted)

    async def _queued(self, spec: FunctionSpec, front: bool, call: Call | None) -> FunctionSpec:
        name = spec.name
        bounds = spec.queue
        assert bounds is not None
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = FunctionQueue()
        decision = decide(self._free(spec, queue), 0 if front else len(queue), bounds.length)
        if decision is Decision.GO:
            return spec
        if decision is Decision.FULL:
            self._metrics.queue_dropped(name, "length")
            raise function_queue_full(
                name, f"{bounds.length} calls wait already (swarmfaas.queue.length)")
        started = time.monotonic()
        waiting = self._waiting(name)
        waiter = queue.enter(front)
        if self._scaler_wake is not None:
            self._scaler_wake.waiting_started(name, waiting)
        self._watch_table()
        try:
            await asyncio.wait((waiter,), timeout=bounds.wait)
        except asyncio.CancelledError:
            if queue.leave(waiter):
                self._grant(name, queue)
            self._metrics.queue_dropped(name, "left")
            raise
        if not waiter.done():
            queue.leave(waiter)
            self._metrics.queue_dropped(name, "wait")
            raise function_queue_full(
                name, f"waited {bounds.wait:g} s for a free slot (swarmfaas.queue.wait)")
        queue.started()
        self._metrics.queue_waited(name, time.monotonic() - started)
        spec = self._table().get(name)  # the snapshot of now
        if spec is None:
            raise function_not_found(name)
        if not spec.replicas:
            return await self.admit(name, call=call)
        return spec

    def slot_freed(self, name: str) -> None:
        """A call of ``name`` left a replica: the queue's head may go."""
        queue = self._queues.get(name)
        if queue is not None and queue.waiters:
            self._grant(name, queue)

    def _grant(self, name: str, queue: FunctionQueue) -> None:
        spec = self._table().get(name)
        if spec is None or spec.queue is None:
            queue.grant(len(queue.waiters))  # gone, or no limit now: nothing to wait for
        elif spec.replicas:
            free = self._free(spec, queue)
            if free > 0:
                queue.grant(free)

    def _watch_table(self) -> None:
        # A new table may bring replicas: the queues' heads go then too.
        if self._queue_watch is None or self._queue_watch.done():
            self._queue_watch = asyncio.get_running_loop().create_task(self._on_new_tables())

    async def _on_new_tables(self) -> None:
        while any(q.waiters for q in self._queues.values()):
            await self._changed().wait()
            for name, queue in list(self._queues.items()):
                if queue.waiters:
                    self._grant(name, queue)

    def _waiting(self, name: str) -> int:
        """Calls of ``name`` waiting now: held, or in its queue."""
        queue = self._queues.get(name)
        return self._held.get(name, 0) + (len(queue) if queue is not None else 0)

    def queued(self) -> dict[str, int]:
        """Calls waiting for each function (the scaler's signal): in its queue in
        front of full replicas, or held for a ready replica (a cold start too)."""
        counts = {name: len(queue) for name, queue in self._queues.items()}
        for name, held in self._held.items():
            counts[name] = counts.get(name, 0) + held
        return counts

    async def after_busy(self, spec: FunctionSpec, call: Call, pause: float) -> FunctionSpec:
        """A call a replica's watchdog refused as busy waits ``pause`` and
        queues again, at the front; within swarmfaas.queue.wait from its start."""
        bounds = spec.queue
        assert bounds is not None
        if time.perf_counter() + pause > call.started_at + bounds.wait:
            self._metrics.queue_dropped(spec.name, "wait")
            raise function_queue_full(
                spec.name, f"waited {bounds.wait:g} s for a free slot (swarmfaas.queue.wait)")
        await asyncio.sleep(pause)
        return await self.admit(spec.name, front=True, call=call)

    def close(self) -> None:
        self.pool.close()
        if self._scaler_wake is not None:
            self._scaler_wake.close()
        if self._queue_watch is not None:
            self._queue_watch.cancel()
        if self._prober is not None:
            self._prober.cancel()
        for task in self._probes:
            task.cancel()

    def choose(self, spec: FunctionSpec, tried: Collection[tuple[str, int]]) -> Replica | None:
        """The replica of the snapshot for the next attempt: not one ``tried``,
        nor one out of rotation (unless all are)."""
        out = self.breakers.out
        if out:
            tried = set(tried) | excluded(map(replica_key, spec.replicas), out, tried)
        return pick(spec.replicas, self.in_flight, tried, next(self._turn))

    # the circuit breaker's adapter (the rules are breaker.py's)
    def answered(self, key: tuple[str, int]) -> None:
        """An answer came from ``key``: its failures in a row end."""
        if self.breakers.records:
            self.breakers.succeeded(key)

    def connection_failed(self, spec: FunctionSpec, key: tuple[str, int]) -> None:
        """A connection to ``key`` failed before any byte of an answer."""
        if self.breakers.failed(key, _task_at(spec, key), time.monotonic()):
            self._opened(spec.name, key, "connections to it fail")

    def leaving(self, spec: FunctionSpec, key: tuple[str, int]) -> ReplicaDraining:
        """``key`` answered that it drains: out of rotation until the routing
        table drops it (breaker.py); the error the call is retried after."""
        if self.breakers.draining(key, _task_at(spec, key)):
            log.info("replica %s:%s of %s out of rotation: it is draining", key[0], key[1],
                     spec.name)
            self.pool.drop(key)  # its kept-alive connections would be answered the same
        return ReplicaDraining(f"replica {key[0]}:{key[1]} is draining (it did not run the call)")

    def _silent(self, key: tuple[str, int]) -> None:
        # An exchange with it has had no byte back for SILENT_AFTER: probe it.
        if self.breakers.probe_silence(key, time.monotonic()):
            self._spawn(self._probe_silence(key))

    async def _probe_silence(self, key: tuple[str, int]) -> None:
        if await self.pool.probe(key):
            return  # it takes connections: a slow answer, not a dead node
        owner = next(((f.name, r.task_id) for f in self._table().functions.values()
                      for r in f.replicas if replica_key(r) == key), None)
        if owner is not None and self.breakers.unreachable(key, owner[1], time.monotonic()):
            self._opened(owner[0], key, "a request got no answer and a probe could not connect")

    def _opened(self, name: str, key: tuple[str, int], why: str) -> None:
        log.warning("replica %s:%s of %s out of rotation: %s", key[0], key[1], name, why)
        self._metrics.breaker_opened(name)
        self.pool.drop(key)  # its kept-alive connections are as dead
        if self._prober is None or self._prober.done():
            self._prober = asyncio.get_running_loop().create_task(self._probe_while_out())

    async def _probe_while_out(self) -> None:
        breakers = self.breakers
        while breakers.probes_left():
            due = breakers.next_probe()
            if due is not None:
                await asyncio.sleep(max(due - time.monotonic(), 0.0))
            else:
                await asyncio.sleep(self.pool.connect_timeout)  # probes in progress
            for key in breakers.due(time.monotonic()):
                self._spawn(self._probe(key))

    def _spawn(self, probe: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(probe)
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)

    async def _probe(self, key: tuple[str, int]) -> None:
        ok = await self.pool.probe(key)
        if self.breakers.probed(key, ok, time.monotonic()):
            log.warning("replica %s:%s back in rotation: a probe connected", *key)

    def _ready(self, name: str) -> FunctionSpec | None:
        table = self._table()
        spec = table.functions.get(name)  # names in a table are valid
        if spec is None or not spec.replicas or table.generation != self._pool_generation:
            return None
        return spec

    # the exchange
    async def exchange(self, spec: FunctionSpec, call: Call, head: bytes, body: bytes | None,
                       stream: AsyncIterator[bytes] | None, length: int | None,
                       busy_pause: float = BUSY_PAUSE_FIRST) -> Reply:
        """The call on a replica of ``spec``, tried again as ``may_retry`` allows,
        and after a busy watchdog's 429 (``watchdog_busy``) while its body is held."""
        tried: set[tuple[str, int]] = set()
        last: UpstreamError | None = None
        # Connection refused by every replica (a task reported running before its
        # server listens, or stopping): wait a little and try again, within the
        # call's one deadline for replicas (shared with its holds in ``admit``).
        pause = REFUSED_PAUSE_FIRST
        attempts = 0
        while attempts < MAX_ATTEMPTS_TOTAL:
            replica = self.choose(spec, tried)
            if replica is None:
                if last is None or last.sent:
                    break
                if call.hold_until is None:
                    call.hold_until = time.monotonic() + self._hold_timeout
                if time.monotonic() + pause > call.hold_until:
                    break
                await asyncio.sleep(pause)
                pause = min(pause * 2, REFUSED_PAUSE_MAX)
                spec = await self.admit(spec.name, queue=False, call=call)  # a fresh snapshot
                tried.clear()
                continue
            tried.add(replica_key(replica))
            attempts += 1
            try:
                reply = await self._attempt(spec, replica, call, head, body, stream, length)
                if (reply.status != 429 or spec.queue is None or body is None
                        or not watchdog_busy(reply)):
                    return reply
                spec = await self.after_busy(spec, call, busy_pause)
                busy_pause = min(busy_pause * 2, BUSY_PAUSE_MAX)
                tried.clear()
                attempts -= 1  # waiting for a slot is not a failed attempt
            except UpstreamError as exc:
                last = exc
                if not may_retry(exc, body is not None):
                    break
                if exc.sent:  # stale or draining: it never reached the function either
                    last = unsent(exc)
                call.retrying(exc)
        raise gave_up(spec.name, last, self._table().get(spec.name))

    async def _attempt(self, spec: FunctionSpec, replica: Replica, call: Call, head: bytes,
                       body: bytes | None, stream: AsyncIterator[bytes] | None,
                       length: int | None) -> Reply:
        key = (replica.address, replica.port)
        lease = Lease(self, key, None, None if spec.queue is None else spec.name)
        conn: Connection | None = None
        timeout = exchange_timeout(spec)
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
                    conn.send_bytes(head, body, head_only=call.head_only)
                    await conn.read_head()
                finally:
                    pool.unwatch(conn)
            else:
                # A streamed upload also waits on the client: one timeout for the task.
                async with asyncio.timeout(timeout):
                    conn = lease.conn = await pool.acquire(key)
                    await conn.send_request(head, stream, chunked=length is None,
                                            head_only=call.head_only)
                    await conn.read_head()
            if replica_draining(conn.status, conn.headers):
                raise self.leaving(spec, key)  # exchange's retry rule decides
            if self.breakers.records:
                self.breakers.succeeded(key)
            return self.reply(conn, call, lease, timeout, spec.measures_cpu)
        except TimeoutError:
            lease.done(False)
            raise function_timeout(spec.name, timeout) from None
        except UpstreamError:
            lease.done(False)
            if conn is None or conn.received == 0:  # refused, timed out, reset: never answered
                self.connection_failed(spec, key)
            raise
        except BaseException:
            lease.done(False)
            raise

    def reply(self, conn: Connection, call: Call, lease: Lease, timeout: float,
              measure_cpu: bool = False) -> Reply:
        """The replica's answer once its head is in: whole, or chunks to come;
        with ``measure_cpu`` (a cpu-scaled function) the watchdog's CPU report
        is kept (cpumeter.py), else only taken out."""
        complete = conn.take_complete_body()
        out_headers, cpu = response_headers_and_cpu(conn.headers, call_id=call.call_id)
        if measure_cpu and cpu is not None and (reading := parse_cpu_header(cpu)) is not None:
            self.cpu.observe(call.name, conn.key, reading[0], reading[1], time.monotonic())
        if complete is not None:
            if call.head_only:  # the size of what GET would send, kept for HEAD
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
            self.cpu.retain(replica_key(r) for f in table.functions.values()
                            for r in f.replicas)
            if self.breakers.records:  # Docker's report of now: tasks gone or new
                self.breakers.retain({replica_key(r): r.task_id
                                      for f in table.functions.values() for r in f.replicas})
            for name in [n for n in self._buckets if n not in table.functions]:
                del self._buckets[name]
            for name in [n for n, q in self._queues.items()
                         if n not in table.functions and not q.waiters and not q.granted]:
                del self._queues[name]


async def _timed(chunks: AsyncIterator[bytes], timeout: float) -> AsyncIterator[bytes]:
    # The rest of the body shares the function's timeout budget per wait.
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        yield chunk


def _task_at(spec: FunctionSpec, key: tuple[str, int]) -> str:
    """The task id of ``spec``'s replica at ``key`` ("" if none is there now)."""
    return next((r.task_id for r in spec.replicas if replica_key(r) == key), "")


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
    return length is not None and is_decimal(length) and int(length) <= SMALL_BODY
