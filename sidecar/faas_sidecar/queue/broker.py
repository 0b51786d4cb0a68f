"""The one adapter to the broker, NATS JetStream (nats-py): store a call,
pull calls, bury one in the dead letters, and read, replay or delete those.

Two streams, both on file storage: ``SWARMFAAS_CALLS`` (``calls.<function>``,
work-queue retention: a call leaves it once a worker acks it) and
``SWARMFAAS_DEAD`` (``dead.<function>``, kept until replayed or deleted).
Whoever connects first makes them; both the sidecar and the worker may.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import nats
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError, NotFoundError

from ..schedule import MAX_CATCH_UP
from .message import (
    CALLS_PREFIX,
    CALLS_STREAM,
    DEAD_PREFIX,
    DEAD_STREAM,
    StoredCall,
    call_subject,
    dead_subject,
    decode,
    dedup_id,
    encode,
)

log = logging.getLogger("faas_sidecar.queue")

NO_MESSAGE = 10057  # JetStream's JSNoMessageFoundErr: delete_msg of a missing sequence
CONSUMER = "workers"  # the one durable consumer every worker replica pulls from


class BrokerUnavailable(Exception):
    """The broker did not take or give what was asked in time."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    seq: int  # its sequence number in the dead-letter stream: its id
    call: StoredCall  # call.extra holds why it died (cause, status, attempts...)


class Broker:
    """A connection made on first use and kept; nats-py reconnects by itself."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._nc: nats.NATS | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()

    async def jetstream(self) -> JetStreamContext:
        if self._js is not None:
            return self._js
        async with self._lock:
            if self._js is None:
                try:
                    # Once connected, nats-py reconnects for ever; the first
                    # connect is bounded here, and tried again at the next use.
                    nc = await asyncio.wait_for(nats.connect(
                        servers=[self.url], connect_timeout=self.timeout,
                        max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                        allow_reconnect=True, name="swarmfaas", error_cb=_quiet,
                        disconnected_cb=_disconnected, reconnected_cb=_reconnected),
                        self.timeout)
                except (OSError, NatsError, TimeoutError) as exc:
                    raise BrokerUnavailable(f"cannot connect to {self.url}: {exc!r}") from None
                js = nc.jetstream(timeout=self.timeout)
                try:
                    await _ensure_streams(js)
                except (NatsError, TimeoutError) as exc:
                    await nc.close()
                    raise BrokerUnavailable(f"JetStream at {self.url}: {exc!r}") from None
                self._nc, self._js = nc, js
        assert self._js is not None
        return self._js

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            await nc.close()

    async def store(self, call: StoredCall, msg_id: str | None = None) -> int:
        """Publish and wait for the broker's ack (stored on disk); its sequence."""
        js = await self.jetstream()
        try:
            ack = await js.publish(call_subject(call.function), encode(call),
                                   timeout=self.timeout, stream=CALLS_STREAM,
                                   headers={"Nats-Msg-Id": msg_id or dedup_id(call)})
        except (NatsError, TimeoutError) as exc:
            raise BrokerUnavailable(f"storing call {call.call_id}: {exc!r}") from None
        return ack.seq

    async def bury(self, call: StoredCall) -> int:
        """Into the dead letters (``call.extra`` says why); its dead-letter id."""
        js = await self.jetstream()
        try:
            ack = await js.publish(dead_subject(call.function), encode(call),
                                   timeout=self.timeout, stream=DEAD_STREAM)
        except (NatsError, TimeoutError) as exc:
            raise BrokerUnavailable(f"burying call {call.call_id}: {exc!r}") from None
        return ack.seq

    async def pull(self, *, ack_wait: float,
                   max_ack_pending: int) -> JetStreamContext.PullSubscription:
        js = await self.jetstream()
        config = ConsumerConfig(durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT,
                                ack_wait=ack_wait, max_deliver=-1,
                                max_ack_pending=max_ack_pending,
                                filter_subject=CALLS_PREFIX + ">")
        try:
            return await js.pull_subscribe(CALLS_PREFIX + ">", durable=CONSUMER,
                                           stream=CALLS_STREAM, config=config)
        except (NatsError, TimeoutError) as exc:
            raise BrokerUnavailable(f"pulling calls: {exc!r}") from None

    # -- the dead letters (the system API) -----------------------------------------

    async def dead_letters(self, function: str | None = None, after: int = 0,
                           limit: int = 100) -> list[DeadLetter]:
        """Up to ``limit`` dead letters with an id above ``after``, oldest first."""
        js = await self.jetstream()
        subject = dead_subject(function) if function else DEAD_PREFIX + ">"
        found: list[DeadLetter] = []
        seq = after + 1
        try:
            while len(found) < limit:
                try:
                    raw = await js.get_msg(DEAD_STREAM, seq=seq, subject=subject, next=True)
                except NotFoundError:
                    break
                found.append(DeadLetter(raw.seq, decode(raw.data or b"")))
                seq = raw.seq + 1
        except (NatsError, TimeoutError) as exc:
            raise BrokerUnavailable(f"listing dead letters: {exc!r}") from None
        return found

    async def dead_letter(self, seq: int) -> DeadLetter | None:
        js = await self.jetstream()
        try:
            raw = await js.get_msg(DEAD_STREAM, seq=seq)
        except NotFoundError:
            return None
        except (NatsError, TimeoutError) as exc:
            raise BrokerUnavailable(f"reading dead letter {seq}: {exc!r}") from None
        return DeadLetter(raw.seq, decode(raw.data or b""))

    async def delete_dead_letter(self, seq: int) -> bool:
        js = await self.jetstream()
        try:
            return await js.delete_msg(DEAD_STREAM, seq)
        except NotFoundError:
            return False
        except APIError as exc:
            if exc.err_code == NO_MESSAGE:  # a sequence with no message (or past the end)
                return False
            raise BrokerUnavailable(f"deleting dead letter {seq}: {exc!r}") from None
        except (NatsError, TimeoutError) as exc:
            raise BrokerUnavailable(f"deleting dead letter {seq}: {exc!r}") from None

    async def replay(self, seq: int) -> StoredCall | None:
        """Store the dead letter as a new call (attempts start again, same call
        id), then delete it; None when there is no such dead letter."""
        letter = await self.dead_letter(seq)
        if letter is None:
            return None
        call = letter.call
        fresh = StoredCall(call.call_id, call.function, call.method, call.path, call.query,
                           call.headers, call.body, time.time(), call.attempts,
                           call.concurrency)
        # Its own de-duplication id: the call id alone was seen when it was stored.
        await self.store(fresh, msg_id=f"{call.call_id}:replay:{seq}")
        await self.delete_dead_letter(seq)
        return fresh

    async def oldest(self) -> dict[str, tuple[int, float]]:
        """By function: the calls waiting, and the age in seconds of the oldest."""
        js = await self.jetstream()
        now = time.time()
        found: dict[str, tuple[int, float]] = {}
        try:
            info = await js.stream_info(CALLS_STREAM, subjects_filter=CALLS_PREFIX + ">")
            for subject, count in (info.state.subjects or {}).items():
                try:
                    raw = await js.get_msg(CALLS_STREAM, seq=1, subject=subject, next=True)
                    age = max(0.0, now - decode(raw.data or b"").enqueued_at)
                except (NotFoundError, ValueError):
                    age = 0.0
                found[subject[len(CALLS_PREFIX):]] = (count, age)
        except (NatsError, TimeoutError) as exc:
            raise BrokerUnavailable(f"reading the queue depth: {exc!r}") from None
        return found


async def _quiet(exc: Exception) -> None:
    # nats-py's default logs every failed reconnect with a traceback.
    log.debug("broker: %r", exc)


async def _disconnected() -> None:
    log.warning("lost the broker: reconnecting")


async def _reconnected() -> None:
    log.warning("the broker is back")


# How long the broker remembers a message id and drops a second message with
# it: longer than any schedule's catch-up, so a tick stored late by one sidecar
# is still recognised as stored by another (queue/scheduler.py).
DUPLICATE_WINDOW = MAX_CATCH_UP + 600.0  # seconds


async def _ensure_streams(js: JetStreamContext) -> None:
    for config in (
        StreamConfig(name=CALLS_STREAM, subjects=[CALLS_PREFIX + ">"],
                     retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                     duplicate_window=DUPLICATE_WINDOW),
        StreamConfig(name=DEAD_STREAM, subjects=[DEAD_PREFIX + ">"],
                     retention=RetentionPolicy.LIMITS, storage=StorageType.FILE),
    ):
        try:
            info = await js.stream_info(config.name)  # type: ignore[arg-type]
            if (info.config.duplicate_window or 0) < (config.duplicate_window or 0):
                await js.update_stream(config)  # made by an older version
        except NotFoundError:
            try:
                await js.add_stream(config)
            except NatsError as exc:  # another client made it meanwhile
                log.info("stream %s: %s", config.name, exc)
