"""A stored call: the whole request as one broker message, and back (pure).

The message is ``MAGIC``, one line of JSON with the request's head and the
delivery policy, then the body's bytes as they came: the body is never
re-encoded, so what the function gets is byte for byte what was sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..wire import HOP_BY_HOP

MAGIC = b"sfq1\n"
CALLS_STREAM = "SWARMFAAS_CALLS"
DEAD_STREAM = "SWARMFAAS_DEAD"
CALLS_PREFIX = "calls."
DEAD_PREFIX = "dead."

# Headers the platform sets again at delivery (or that only this hop had).
DELIVERY_HEADER = "X-Swarmfaas-Delivery"  # the worker's token: a delivery, not a new call
ATTEMPT_HEADER = "X-Delivery-Attempt"  # 1 for the first delivery of a call
CALLBACK_HEADER = "X-Callback-Url"
NOT_STORED = HOP_BY_HOP | {
    "content-length", "expect", "host", "x-call-id", "x-start-time",
    DELIVERY_HEADER.lower(), ATTEMPT_HEADER.lower(),
}


class MessageError(ValueError):
    """A broker message that is not a stored call (or is damaged)."""


@dataclass(frozen=True, slots=True)
class StoredCall:
    call_id: str
    function: str
    method: str
    path: str  # as the function sees it: /function/<name>/rest
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    enqueued_at: float  # time.time() when it was accepted
    attempts: int  # deliveries before the dead letters (swarmfaas.async.attempts)
    concurrency: int  # deliveries at once per worker (swarmfaas.async.concurrency)
    extra: dict[str, object] = field(default_factory=dict)  # dead-letter facts

    def header(self, name: str) -> str | None:
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None


def stored_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The request's headers worth keeping: not the ones a hop owns."""
    return tuple((k, v) for k, v in headers if k.lower() not in NOT_STORED)


def dedup_id(call: StoredCall) -> str:
    """The broker's de-duplication id (``Nats-Msg-Id``): the same request with
    the same call id, sent again within the broker's window (2 min), is stored
    once; another request that reuses a call id is not mistaken for it."""
    digest = hashlib.sha256()
    for part in (call.function, call.method, call.path, call.query):
        digest.update(part.encode() + b"\0")
    digest.update(call.body)
    return f"{call.call_id}:{digest.hexdigest()[:32]}"


def call_subject(function: str) -> str:
    return CALLS_PREFIX + function


def dead_subject(function: str) -> str:
    return DEAD_PREFIX + function


def encode(call: StoredCall) -> bytes:
    head = {
        "call_id": call.call_id, "function": call.function, "method": call.method,
        "path": call.path, "query": call.query, "headers": [list(h) for h in call.headers],
        "enqueued_at": call.enqueued_at, "attempts": call.attempts,
        "concurrency": call.concurrency,
    }
    if call.extra:
        head["extra"] = call.extra
    return MAGIC + json.dumps(head, separators=(",", ":")).encode() + b"\n" + call.body


def decode(data: bytes) -> StoredCall:
    if not data.startswith(MAGIC):
        raise MessageError("not a stored call (no sfq1 marker)")
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise MessageError("a stored call without the end of its head")
    try:
        head = json.loads(data[len(MAGIC):end])
        headers = tuple((str(k), str(v)) for k, v in head["headers"])
        call = StoredCall(
            call_id=str(head["call_id"]), function=str(head["function"]),
            method=str(head["method"]), path=str(head["path"]), query=str(head["query"]),
            headers=headers, body=data[end + 1:], enqueued_at=float(head["enqueued_at"]),
            attempts=int(head["attempts"]), concurrency=int(head["concurrency"]),
            extra=dict(head.get("extra") or {}))
    except (ValueError, KeyError, TypeError) as exc:
        raise MessageError(f"a damaged stored call: {exc}") from None
    if call.attempts < 1 or call.concurrency < 1:
        raise MessageError("a stored call with no attempts or no concurrency")
    return call
