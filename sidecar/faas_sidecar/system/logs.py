"""GET /system/logs, pure parts: the query, the Engine's log frames, OpenFaaS's lines.

OpenFaaS answers ``/system/logs?name=&namespace=&instance=&since=&tail=&follow=``
with newline-delimited JSON, one ``LogEntry`` a line: ``name``, ``namespace``,
``instance``, ``timestamp`` (RFC 3339) and ``text``. The Engine's service logs
(``GET /services/{id}/logs`` with ``timestamps`` and ``details``) come as
multiplexed frames, each ``<stream byte> 0 0 0 <size, 4 bytes big-endian>`` and
a payload ``<RFC 3339 time> <com.docker.swarm.*=... details> <text>``.
No IO here; tested by table in tests/sidecar/system/test_logs.py.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from faas_sidecar.errors import invalid_request
from faas_sidecar.routing import NAMESPACE, check_namespace

from .payloads import validate_function_name

_HEADER = struct.Struct(">BxxxI")
_TASK_DETAIL = "com.docker.swarm.task.id="
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
MAX_TAIL = 100_000  # more than this many old lines is not a log, it is an export


@dataclass(frozen=True, slots=True)
class LogQuery:
    name: str
    follow: bool = False
    tail: int | None = None      # None: every line Docker kept
    since: float | None = None   # Unix seconds
    instance: str | None = None  # one task's lines only


def parse_log_query(args: Mapping[str, Sequence[str]]) -> LogQuery:
    """The query string (as ``parse_qs`` gives it) -> LogQuery, or 400/404."""

    def one(key: str) -> str | None:
        values = args.get(key)
        if not values:
            return None
        if len(values) > 1:
            raise invalid_request(f"{key}: give it once, not {len(values)} times")
        return values[0]

    name = one("name")
    if not name:
        raise invalid_request("name: the function whose logs to read is required (?name=)")
    validate_function_name(name)
    namespace = one("namespace")
    if namespace:
        check_namespace(namespace)
    follow_text = (one("follow") or "").strip().lower()
    if follow_text not in _TRUE | _FALSE:
        raise invalid_request(f"follow: {follow_text!r} is not true or false")
    tail: int | None = None
    tail_text = one("tail")
    if tail_text not in (None, ""):
        try:
            tail = int(tail_text)
        except ValueError:
            raise invalid_request(f"tail: {tail_text!r} is not a whole number") from None
        if tail <= 0:
            tail = None  # OpenFaaS: <= 0 means unlimited
        elif tail > MAX_TAIL:
            raise invalid_request(f"tail: at most {MAX_TAIL} lines")
    since: float | None = None
    since_text = one("since")
    if since_text:
        try:
            moment = datetime.fromisoformat(since_text)
        except ValueError:
            raise invalid_request(f"since: {since_text!r} is not an RFC 3339 time "
                                  "(e.g. 2026-12-06T10:00:00Z)") from None
        if moment.tzinfo is None:
            raise invalid_request(f"since: {since_text!r} has no time zone (add Z or +00:00)")
        since = moment.timestamp()
    instance = one("instance") or None
    return LogQuery(name=name, follow=follow_text in _TRUE, tail=tail, since=since,
                    instance=instance)


def engine_params(query: LogQuery) -> dict[str, str]:
    """The query string of the Engine's ``GET /services/{id}/logs``."""
    params = {"stdout": "1", "stderr": "1", "timestamps": "1", "details": "1",
              "follow": "1" if query.follow else "0",
              "tail": "all" if query.tail is None else str(query.tail)}
    if query.since is not None:
        params["since"] = f"{query.since:.9f}".rstrip("0").rstrip(".")
    return params


class FrameReader:
    """Splits the Engine's multiplexed log stream into payloads, across reads."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        payloads = []
        buffer = self._buffer
        while len(buffer) >= _HEADER.size:
            _stream, size = _HEADER.unpack_from(buffer)
            end = _HEADER.size + size
            if len(buffer) < end:
                break
            payloads.append(bytes(buffer[_HEADER.size:end]))
            del buffer[:end]
        return payloads


def log_entry(name: str, payload: bytes) -> dict[str, str]:
    """One Engine log payload -> OpenFaaS's LogEntry (the text without its newline)."""
    line = payload.decode("utf-8", "replace").rstrip("\n")
    timestamp, _, rest = line.partition(" ")
    instance = ""
    first, _, text = rest.partition(" ")
    if first.startswith("com.docker.swarm."):
        for detail in first.split(","):
            if detail.startswith(_TASK_DETAIL):
                instance = detail[len(_TASK_DETAIL):]
    else:
        text = rest  # no details: the rest is all text
    return {"name": name, "namespace": NAMESPACE, "instance": instance,
            "timestamp": timestamp, "text": text}


def ndjson(entry: Mapping[str, str]) -> bytes:
    return json.dumps(entry, ensure_ascii=False).encode() + b"\n"
