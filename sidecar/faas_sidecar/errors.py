"""Errors the sidecar makes itself: JSON with a reason, marked as the platform's.

Handlers raise ``PlatformError``; one Sanic error handler renders it with
``error_response``. See docs/errors.md for the contract.
"""

from __future__ import annotations

import json

INTERNAL_HEADER = "X-Swarmfaas-Internal"
COMPONENT = "sidecar"


class PlatformError(Exception):
    """An error with its HTTP meaning; rendered as platform-marked JSON."""

    def __init__(
        self,
        status: int,
        code: str,
        reason: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.headers = headers or {}


def error_body(status: int, code: str, reason: str, call_id: str | None = None) -> bytes:
    """The JSON body of a platform error (pure; used by every component)."""
    doc: dict[str, object] = {
        "error": code,
        "reason": reason,
        "status": status,
        "component": COMPONENT,
    }
    if call_id:
        doc["call_id"] = call_id
    return json.dumps(doc).encode()


def error_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", INTERNAL_HEADER: COMPONENT}
    if extra:
        headers.update(extra)
    return headers


# -- factories of the call's codes --------------------------------------------------
# Named and shaped as branch h-vocab's errors factories (one per code), so that
# merge keeps theirs and the callers stay as they are.

RETRY_AFTER = "1"  # seconds, on a 503


def function_not_found(name: str) -> PlatformError:
    return PlatformError(404, "function_not_found", f"no function named {name!r}")


def no_ready_replica(name: str) -> PlatformError:
    return PlatformError(503, "no_ready_replica", f"function {name!r} has no ready replica",
                         headers={"Retry-After": RETRY_AFTER})


def replica_unreachable(reason: str) -> PlatformError:
    return PlatformError(502, "replica_unreachable", reason)


def function_timeout(name: str, seconds: float) -> PlatformError:
    return PlatformError(504, "function_timeout",
                         f"function {name!r} did not answer within {seconds:g} s")


def bad_request(reason: str) -> PlatformError:
    """A request the sidecar will not route (Sanic's own BadRequest has this code too)."""
    return PlatformError(400, "bad_request", reason)
