"""Responses the watchdog makes itself: JSON per docs/errors.md, marked as ours."""

from __future__ import annotations

import json
from dataclasses import dataclass

COMPONENT = "watchdog"
INTERNAL_HEADER = "X-Swarmfaas-Internal"
# On a 503: the watchdog is draining and never started the function, so the
# sidecar sends the call to another replica. The watchdog cuts this field from
# a function's own answers (headers.py, proxywire.py): only it makes one.
DRAINING_HEADER = "X-Swarmfaas-Draining"


@dataclass(frozen=True)
class PlatformError(Exception):
    status: int
    error: str  # stable snake_case code
    reason: str  # one human sentence
    retry_after: int | None = None
    draining: bool = False  # marked with DRAINING_HEADER

    def body(self, call_id: str | None) -> bytes:
        doc = {"error": self.error, "reason": self.reason, "status": self.status,
               "component": COMPONENT}
        if call_id:
            doc["call_id"] = call_id
        return json.dumps(doc).encode()

    def headers(self) -> list[tuple[str, str]]:
        headers = [("Content-Type", "application/json"), (INTERNAL_HEADER, COMPONENT)]
        if self.retry_after is not None:
            headers.append(("Retry-After", str(self.retry_after)))
        if self.draining:
            headers.append((DRAINING_HEADER, "1"))
        return headers


def bad_request(reason: str) -> PlatformError:
    return PlatformError(400, "bad_request", reason)


def not_found(reason: str) -> PlatformError:
    return PlatformError(404, "not_found", reason)


def request_timeout(seconds: float) -> PlatformError:
    return PlatformError(408, "request_timeout",
                         f"the request did not arrive within {seconds:g} s")


def too_large(reason: str) -> PlatformError:
    return PlatformError(413, "request_too_large", reason)


def overloaded(limit: int) -> PlatformError:
    return PlatformError(429, "too_many_requests",
                         f"the function already runs {limit} requests (max_inflight)", 1)


def function_failed(code: int, out_of_memory: bool = False) -> PlatformError:
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    if out_of_memory:
        how += ": it went over the container's memory limit"
    return PlatformError(500, "function_failed", f"the function process {how}")


def response_too_large(limit: int) -> PlatformError:
    return PlatformError(502, "response_too_large",
                         f"the function's output went over the limit of {limit} bytes")


def upstream_unavailable(reason: str) -> PlatformError:
    return PlatformError(502, "upstream_unavailable", reason)


def not_ready(reason: str) -> PlatformError:
    return PlatformError(503, "not_ready", reason, 1)


def draining() -> PlatformError:
    return PlatformError(503, "replica_draining",
                         "the replica is shutting down and did not run the function",
                         1, draining=True)


def cannot_start(reason: str) -> PlatformError:
    return PlatformError(503, "cannot_start",
                         f"the function process could not be started ({reason}): the "
                         "container is at its process or memory limit", 1)


def timed_out(seconds: float) -> PlatformError:
    return PlatformError(504, "timeout", f"the function did not finish within {seconds:g} s")


def status_error(status: int, reason: str) -> PlatformError:
    """Map a parser status hint to a platform error."""
    if status == 413:
        return too_large(reason)
    if status == 408:
        return PlatformError(408, "request_timeout", reason)
    if status == 431:
        return PlatformError(431, "headers_too_large", reason)
    if status == 501:
        return PlatformError(501, "not_implemented", reason)
    return bad_request(reason)
