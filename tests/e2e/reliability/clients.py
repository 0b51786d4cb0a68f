"""Sending corpus cases over TLS, and the steady load that must not notice them.

HTTP/1.1 cases are raw bytes on a fresh TLS connection (tests/nginx's
`raw_https`); HTTP/2 cases go through tests/nginx's careless `h2` client.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "nginx"))

from h2_client import exchange, h2_context
from ng_harness import raw_https

from .corpus import CLOSED, GOAWAY, RESET, Case


@dataclass
class Outcome:
    """What came back: a status with headers and body, or a protocol-level end."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    refusal: str | None = None  # RESET, GOAWAY or CLOSED when no status came

    @property
    def seen(self) -> str:
        return str(self.status) if self.status is not None else str(self.refusal)


def parse_h1(raw: bytes) -> Outcome:
    if not raw:
        return Outcome(refusal=CLOSED)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2 or not parts[1].isdigit():
        return Outcome(body=raw)  # HTTP/0.9: a body alone
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(body)
    return Outcome(int(parts[1]), headers, body)


def dechunk(data: bytes) -> bytes:
    out, rest = [], data
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)


def send_slow(port: int, ctx: ssl.SSLContext, case: Case, timeout: float) -> Outcome:
    """Send the parts with pauses, then wait `hold` s for whatever comes."""
    assert case.slow is not None
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    tls = ctx.wrap_socket(sock, server_hostname="localhost")
    try:
        with contextlib.suppress(ssl.SSLError, OSError):
            for part in case.slow.parts:
                tls.sendall(part)
                time.sleep(case.slow.pause)
        tls.settimeout(case.slow.hold or timeout)
        chunks = []
        while True:
            try:
                data = tls.recv(65536)
            except (ssl.SSLError, OSError, TimeoutError):
                break
            if not data:
                break
            chunks.append(data)
        return parse_h1(b"".join(chunks))
    finally:
        tls.close()


def send(port: int, cafile: str, case: Case, timeout: float = 20.0) -> Outcome:
    if case.slow is not None:
        return send_slow(port, ssl.create_default_context(cafile=cafile), case, timeout)
    if case.protocol == "h1":
        assert case.h1 is not None
        raw, _ = raw_https(port, ssl.create_default_context(cafile=cafile), "localhost", case.h1,
                           timeout=timeout)
        return parse_h1(raw)
    got = exchange(port, h2_context(cafile), case.h2 or [], case.h2_body, raw=case.h2_raw,
                   timeout=timeout)
    if got.status is not None:
        return Outcome(got.status, got.headers, got.body)
    if got.goaway is not None:
        return Outcome(refusal=GOAWAY)
    if got.reset is not None:
        return Outcome(refusal=RESET)
    return Outcome(refusal=CLOSED)


def mismatch(case: Case, got: Outcome) -> str | None:
    """Why `got` is not what the case expects, or None when it is."""
    if got.status is not None and got.status >= 500:
        return f"a {got.status}: {got.body[:300]!r}"
    if isinstance(case.expect, str):
        # A framing error may end the connection with or without a GOAWAY.
        fine = {case.expect, CLOSED} if case.expect == GOAWAY else {case.expect}
        return None if got.refusal in fine else f"wanted {case.expect}, got {got.seen}"
    if got.status != case.expect:
        return f"wanted {case.expect}, got {got.seen}: {got.body[:300]!r}"
    if case.error is None:
        if "x-swarmfaas-internal" in got.headers:
            return f"wanted the function's answer, got a platform error: {got.body[:300]!r}"
        return None
    if got.headers.get("x-swarmfaas-internal") != case.component:
        return f"wanted X-Swarmfaas-Internal {case.component}, got {got.headers}"
    if not got.headers.get("content-type", "").startswith("application/json"):
        return f"not JSON: {got.headers.get('content-type')}"
    try:
        doc = json.loads(got.body)
    except ValueError:
        return f"the body is not JSON: {got.body[:300]!r}"
    want = (case.error, case.expect, case.component)
    have = (doc.get("error"), doc.get("status"), doc.get("component"))
    return None if have == want and doc.get("reason") else f"wanted {want}, got {doc}"


@dataclass(frozen=True)
class Call:
    """One request of a load: when it ran and whether its answer was right."""

    start: float  # time.monotonic()
    end: float
    ok: bool
    detail: str = ""  # why it failed: the status and body, or the exception


IDENTITY_HEADER = "x-function-identity"  # functions/echo-http marks its answers with it


def answer_problem(status: int, headers: dict[str, str], body: bytes, sent: bytes,
                   identity: str | None) -> str | None:
    """Why an answer to an echo of `sent` is wrong, or None when it is right.

    `identity` is the X-Function-Identity the function marks its answers
    with (None: it marks none, as echo): a function's answer carrying another
    one came from the wrong function, whatever its body. A platform error
    (X-Swarmfaas-Internal) is a failure, never a wrong function."""
    if "x-swarmfaas-internal" in headers:  # the platform's own error: no function answered
        return f"{status} {body[:200]!r}"
    mark = headers.get(IDENTITY_HEADER)
    if mark != identity:
        return f"wrong function: X-Function-Identity {mark!r}, wanted {identity!r}"
    if status != 200:
        return f"{status} {body[:200]!r}"
    if body != sent:
        return f"200 with another body: {body[:200]!r}"
    return None


def percentile(values: list[float], pct: int) -> float:
    """The pct-th percentile (1-99) of values, nearest-rank interpolated as statistics does."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def wrk_socket_errors(summary: str) -> int:
    """The sum of wrk's "Socket errors: connect 0, read 1, write 0, timeout 2" counts."""
    return sum(int(n) for n in re.findall(r"\d+", summary))


def recovered_at(calls: list[Call], since: float) -> float | None:
    """The start of the first call from which every call started after `since`
    succeeded; None when the last call started after `since` failed."""
    after = sorted((c for c in calls if c.start >= since), key=lambda c: c.start)
    first_good: float | None = None
    for call in after:
        if not call.ok:
            first_good = None
        elif first_good is None:
            first_good = call.start
    return first_good


@dataclass
class SteadyLoad:
    """Good requests back to back on keep-alive connections, in threads, for as
    long as the block runs: every answer must be the echo of what was sent,
    from the function asked for (`identity`, see answer_problem).

    The one load generator of the reliability suite: the corpus runs it
    beside its cases, the fault tests (test_faults_under_load.py) around each
    fault. 64-connection sustained load is wrk's (test_sustained_load.py)."""

    base_url: str
    verify: ssl.SSLContext | bool
    threads: int = 2
    path: str = "/function/echo"
    identity: str | None = None
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base_url, verify=self.verify, timeout=30.0) as client:
            i = 0
            while not self._stop.is_set():
                i += 1
                body = f"steady {n}-{i}".encode()
                started = time.monotonic()
                try:
                    r = client.post(self.path, content=body)
                    why = answer_problem(r.status_code, dict(r.headers), r.content, body,
                                         self.identity)
                except httpx.HTTPError as exc:
                    why = f"{type(exc).__name__}: {exc}"
                ended = time.monotonic()
                with self._lock:
                    self.calls.append(Call(started, ended, why is None, why or ""))
                    if why is None:
                        self.ok += 1
                        self.latencies.append(ended - started)
                    else:
                        self.failures.append(why)

    def snapshot(self) -> tuple[int, list[str]]:
        """Good answers and failures so far."""
        with self._lock:
            return self.ok, list(self.failures)

    def __enter__(self) -> SteadyLoad:
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)
