"""The queue worker: pull stored calls, deliver each through the sidecar, and
ack, retry later (nak with a delay) or bury it in the dead letters, as
``policy.decide`` says.

The broker keeps every call until a worker acks it, so a worker killed
mid-delivery loses nothing: the call goes to a worker again after
WORKER_ACK_WAIT. A delivery is a plain request to
``http://<WORKER_SIDECAR>/function/<name>...`` carrying the call id, the
attempt number and the worker's token (so the sidecar neither stores it again
nor checks its signature a second time). The broker counts deliveries
(``num_delivered``): that is the attempt number, whichever worker made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace

from nats.errors import Error as NatsError

from ..errors import INTERNAL_HEADER
from ..upstream import Pool, UpstreamError
from ..wire import request_head
from .broker import Broker, BrokerUnavailable
from .callback import callback_refusal, result_headers
from .config import WorkerConfig
from .message import (
    ATTEMPT_HEADER,
    CALLBACK_HEADER,
    DELIVERY_HEADER,
    MessageError,
    StoredCall,
    decode,
)
from .metrics import WorkerMetrics
from .policy import (
    TIMEOUT,
    UNREACHABLE,
    Verdict,
    backoff_delay,
    cause_of,
    decide,
    parse_retry_after,
)

log = logging.getLogger("faas_sidecar.queue.worker")

FETCH_BATCH = 16
FETCH_WAIT = 1.0  # seconds a fetch waits for calls before asking again
MAX_ACK_PENDING = 20000  # calls held by all workers at once (the broker's bound)


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one delivery ended: an answer (status) or none (error)."""

    status: int | None
    error: str | None = None  # policy.UNREACHABLE or policy.TIMEOUT when no answer
    platform: bool = False  # the answer is the sidecar's own (X-Swarmfaas-Internal)
    retry_after: float | None = None
    detail: str = ""
    body: bytes = b""
    content_type: str | None = None
    duration: float = 0.0


class Worker:
    def __init__(self, config: WorkerConfig, broker: Broker, metrics: WorkerMetrics,
                 rand: Callable[[], float] = random.random) -> None:
        self.config = config
        self.broker = broker
        self.metrics = metrics
        self._rand = rand
        self._pool = Pool(config.connect_timeout)
        self._tasks: set[asyncio.Task[None]] = set()
        self._callbacks: set[asyncio.Task[None]] = set()
        self._slots: dict[str, tuple[int, asyncio.Semaphore]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then finish what is in flight."""
        sub = None
        while not stop.is_set():
            if sub is None:
                try:
                    sub = await self.broker.pull(ack_wait=self.config.ack_wait,
                                                 max_ack_pending=MAX_ACK_PENDING)
                    log.info("pulling calls from %s", self.broker.url)
                except BrokerUnavailable as exc:
                    log.warning("broker unavailable: %s", exc)
                    await _sleep_or_stop(stop, 1.0)
                    continue
            free = self.config.concurrency - len(self._tasks)
            if free <= 0:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                messages = await sub.fetch(batch=min(free, FETCH_BATCH), timeout=FETCH_WAIT)
            except TimeoutError:  # nats' too: no call waiting
                continue
            except NatsError as exc:
                log.warning("fetching calls: %r", exc)
                await _sleep_or_stop(stop, 0.5)
                continue
            for msg in messages:
                task = asyncio.create_task(self.handle(msg))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.config.delivery_timeout)
        if self._callbacks:
            await asyncio.wait(self._callbacks, timeout=self.config.callback_timeout)
        self._pool.close()

    async def handle(self, msg) -> None:  # a nats Msg
        try:
            call = decode(msg.data)
        except MessageError as exc:
            log.error("dropping a message that is no stored call: %s", exc)
            await _quietly(msg.term())
            return
        attempt = msg.metadata.num_delivered
        name = call.function
        if attempt > call.attempts:  # delivered before, buried late: no more tries
            await self._bury(msg, call, attempt, "attempts_exhausted", None, "")
            return
        keep_alive = asyncio.create_task(self._keep_alive(msg))
        try:
            async with self._function_slot(name, call.concurrency):
                result = await self.deliver(call, attempt)
                self.metrics.delivery_seconds.labels(name).observe(result.duration)
        finally:
            keep_alive.cancel()
        cause = cause_of(result.status, result.error, result.platform)
        decision = decide(attempt, call.attempts, cause, self.config.backoff, self._rand(),
                          result.retry_after)
        self.metrics.attempts.labels(name, cause or "delivered").inc()
        if decision.verdict is not Verdict.RETRY:
            self._call_back(call, attempt, result)
        if decision.verdict is Verdict.DONE:
            self.metrics.delivered.labels(name).inc()
            await _quietly(msg.ack())
        elif decision.verdict is Verdict.RETRY:
            log.info("call %s of %s: attempt %d of %d failed (%s%s), again in %.1f s",
                     call.call_id, name, attempt, call.attempts, cause,
                     f" {result.status}" if result.status else "", decision.delay)
            self.metrics.retries.labels(name, cause).inc()
            await _quietly(msg.nak(delay=decision.delay))
        else:
            await self._bury(msg, call, attempt, decision.cause or "", result.status,
                             result.detail)

    async def _bury(self, msg, call: StoredCall, attempt: int, cause: str,
                    status: int | None, detail: str) -> None:
        dead = replace(call, extra={"cause": cause, "status": status, "attempts": attempt,
                                    "failed_at": time.time(), "detail": detail[:500]})
        try:
            seq = await self.broker.bury(dead)
        except BrokerUnavailable as exc:
            log.warning("call %s of %s: not buried yet (%s)", call.call_id, call.function, exc)
            await _quietly(msg.nak(delay=self.config.backoff.base))
            return
        log.warning("call %s of %s: dead letter %d after %d attempt(s) (%s)",
                    call.call_id, call.function, seq, attempt, cause)
        self.metrics.dead_letters.labels(call.function, cause).inc()
        await _quietly(msg.ack())

    async def deliver(self, call: StoredCall, attempt: int) -> Attempt:
        """One delivery through the sidecar; how it ended."""
        host, port = self.config.sidecar
        target = f"/function/{call.function}{call.path}"
        if call.query:
            target += "?" + call.query
        head = request_head(call.method, target, [
            *call.headers, ("Host", f"{host}:{port}"), ("X-Call-Id", call.call_id),
            (ATTEMPT_HEADER, str(attempt)), (DELIVERY_HEADER, self.config.token),
            ("Content-Length", str(len(call.body)))])
        started = time.monotonic()
        for _try in range(2):  # a pooled connection the sidecar had closed: once more
            try:
                status, headers, body = await self._exchange(head, call)
            except TimeoutError:
                return Attempt(None, TIMEOUT, detail="no answer in WORKER_DELIVERY_TIMEOUT",
                               duration=time.monotonic() - started)
            except UpstreamError as exc:
                if _try == 0 and exc.stale:
                    continue
                return Attempt(None, UNREACHABLE, detail=str(exc),
                               duration=time.monotonic() - started)
            lower = {k.lower(): v for k, v in headers}
            return Attempt(status, platform=INTERNAL_HEADER.lower() in lower,
                           retry_after=parse_retry_after(lower.get("retry-after")),
                           detail=f"HTTP {status}", body=body,
                           content_type=lower.get("content-type"),
                           duration=time.monotonic() - started)
        return Attempt(None, UNREACHABLE, detail="the connection kept closing",
                       duration=time.monotonic() - started)

    async def _exchange(self, head: bytes, call: StoredCall
                        ) -> tuple[int, list[tuple[str, str]], bytes]:
        timeout = self.config.delivery_timeout
        conn = await self._pool.acquire(self.config.sidecar, time.monotonic() + timeout)
        ok = False
        try:
            async with asyncio.timeout(timeout):
                conn.send_bytes(head, call.body, head_only=call.method == "HEAD")
                await conn.read_head()
                body = conn.take_complete_body()
                if body is None:
                    body = b"".join([part async for part in conn.iter_body()])
            ok = True
            return conn.status, list(conn.headers), body
        finally:
            if ok:
                self._pool.release(conn)
            else:
                conn.close()

    # callbacks: the result POSTed to X-Callback-Url once the call has ended
    def _call_back(self, call: StoredCall, attempt: int, result: Attempt) -> None:
        url = call.header(CALLBACK_HEADER)
        if url is None:
            return
        url = url.strip()
        refusal = callback_refusal(url, self.config.callback_allowlist)
        if refusal is not None:  # the sidecar checked it; the allowlist may have changed
            log.warning("call %s of %s: no callback: %s", call.call_id, call.function, refusal)
            self.metrics.callbacks.labels(call.function, "refused").inc()
            return
        headers = result_headers(call.call_id, call.function, result.status, result.duration,
                                 attempt, result.content_type)
        task = asyncio.create_task(self._send_callback(call, url, headers, result.body))
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    async def _send_callback(self, call: StoredCall, url: str,
                             headers: list[tuple[str, str]], body: bytes) -> None:
        tries = self.config.callback_attempts
        for number in range(1, tries + 1):
            status, error = await asyncio.to_thread(
                post_callback, url, headers, body, self.config.callback_timeout)
            cause = cause_of(status, error, False)
            if cause is None:
                self.metrics.callbacks.labels(call.function, "sent").inc()
                return
            if number < tries:
                await asyncio.sleep(backoff_delay(number, self.config.backoff, self._rand()))
        log.warning("call %s of %s: callback to %s failed %d time(s)", call.call_id,
                    call.function, url, tries)
        self.metrics.callbacks.labels(call.function, "failed").inc()

    def _function_slot(self, name: str, limit: int) -> asyncio.Semaphore:
        held = self._slots.get(name)
        if held is None or held[0] != limit:  # new, or the label changed
            held = self._slots[name] = (limit, asyncio.Semaphore(limit))
        return held[1]

    async def _keep_alive(self, msg) -> None:
        """Tell the broker the call is still being worked on (no redelivery)."""
        while True:
            await asyncio.sleep(self.config.ack_wait / 3)
            await _quietly(msg.in_progress())


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead outside CALLBACK_ALLOWLIST: taken as the answer."""

    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


# No proxy from the environment and no redirects: the request goes where the
# allowlist said, and nowhere else.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def post_callback(url: str, headers: list[tuple[str, str]], body: bytes,
                  timeout: float) -> tuple[int | None, str | None]:
    """POST a callback (blocking; run in a thread): (status, None) or (None, cause)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read()
            return answer.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except TimeoutError:
        return None, TIMEOUT
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return None, UNREACHABLE


async def _quietly(op) -> None:
    """An ack or nak: if the broker misses it, the call comes again (at least once)."""
    try:
        await op
    except (NatsError, TimeoutError) as exc:
        log.warning("the broker missed an ack: %r", exc)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
