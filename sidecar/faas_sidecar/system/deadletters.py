"""/system/dead-letters: list, inspect, replay and delete the calls the queue
worker gave up on (docs/system-api.md). Registered on the system API's
blueprint, so its authentication covers them; the broker is the proxy's."""

from __future__ import annotations

import base64
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty
from sanic.response import json as json_response

from faas_sidecar.errors import dead_letter_not_found, invalid_request, queue_unavailable
from faas_sidecar.labels import is_decimal, is_valid_name

MAX_LIST = 1000


def summary(seq: int, call: Any) -> dict[str, Any]:
    """What a listing shows of one dead letter (no headers, no body)."""
    extra = call.extra
    return {
        "id": seq, "call_id": call.call_id, "function": call.function,
        "method": call.method, "path": call.path, "cause": extra.get("cause"),
        "status": extra.get("status"), "attempts": extra.get("attempts"),
        "failed_at": extra.get("failed_at"), "enqueued_at": call.enqueued_at,
        "detail": extra.get("detail"), "size": len(call.body),
    }


def detail(seq: int, call: Any) -> dict[str, Any]:
    """One dead letter whole: the request as it was stored."""
    return {**summary(seq, call), "query": call.query,
            "headers": [list(h) for h in call.headers],
            "body_base64": base64.b64encode(call.body).decode()}


def list_query(args: Any) -> tuple[str | None, int, int]:
    """(function, after, limit) from the query string; 400 naming a bad one."""
    function = args.get("function") or None
    if function is not None and not is_valid_name(function):
        raise invalid_request(f"function={function!r} is not a function name")
    numbers = []
    for key, default, high in (("after", 0, 2**63), ("limit", 100, MAX_LIST)):
        raw = args.get(key)
        if raw is None:
            numbers.append(default)
        elif not is_decimal(raw) or not 0 <= int(raw) <= high:
            raise invalid_request(f"{key}={raw!r}: expected an integer in [0, {high}]")
        else:
            numbers.append(int(raw))
    return function, numbers[0], numbers[1]


MAX_ID = 2**63 - 1  # JetStream sequence numbers are unsigned 64-bit


def letter_id(raw: str) -> int:
    """A dead letter's id from the path; 400 unless a whole number from 1. The
    route takes any text, so a bad id is checked after authentication, as
    every other route's arguments are."""
    if not is_decimal(raw) or not 1 <= int(raw) <= MAX_ID:
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise invalid_request(f"dead letter id {shown!r}: expected a whole number from 1")
    return int(raw)


def setup_dead_letters(bp: Blueprint) -> None:
    def broker(request: Request) -> Any:
        proxy = getattr(request.app.ctx, "proxy", None)
        queue = getattr(proxy, "queue", None)
        if queue is None:
            raise queue_unavailable("this sidecar has no broker (QUEUE_URL)")
        return queue

    async def ask(request: Request, op: str, *args: Any) -> Any:
        from faas_sidecar.queue.broker import BrokerUnavailable

        try:
            return await getattr(broker(request), op)(*args)
        except BrokerUnavailable:
            raise queue_unavailable("the broker did not answer in time") from None

    @bp.get("/dead-letters")
    async def list_dead_letters(request: Request) -> HTTPResponse:
        function, after, limit = list_query(request.args)
        letters = await ask(request, "dead_letters", function, after, limit)
        return json_response([summary(d.seq, d.call) for d in letters])

    @bp.get("/dead-letters/<id>")
    async def get_dead_letter(request: Request, id: str) -> HTTPResponse:
        seq = letter_id(id)
        letter = await ask(request, "dead_letter", seq)
        if letter is None:
            raise dead_letter_not_found(seq)
        return json_response(detail(letter.seq, letter.call))

    @bp.post("/dead-letters/<id>/replay")
    async def replay_dead_letter(request: Request, id: str) -> HTTPResponse:
        seq = letter_id(id)
        call = await ask(request, "replay", seq)
        if call is None:
            raise dead_letter_not_found(seq)
        return json_response({"status": "accepted", "call_id": call.call_id,
                              "function": call.function}, status=202,
                             headers={"X-Call-Id": call.call_id})

    @bp.delete("/dead-letters/<id>")
    async def delete_dead_letter(request: Request, id: str) -> HTTPResponse:
        seq = letter_id(id)
        if not await ask(request, "delete_dead_letter", seq):
            raise dead_letter_not_found(seq)
        return empty(status=204)
