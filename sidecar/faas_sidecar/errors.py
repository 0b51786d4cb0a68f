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
