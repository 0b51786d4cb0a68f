"""Why the engine gate refuses a request: one factory per code (docs/errors.md).

The codes are registered with the sidecar's in ``errors.CODES`` under the
component ``engine-gate``; ``server.refusal`` renders a ``Refused``.
"""

from __future__ import annotations

from functools import partial

from ..errors import Reason, defines, worded

COMPONENT = "engine-gate"


class Refused(Exception):
    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason


def _refused(status: int, code: str, reason: str, _headers: dict[str, str]) -> Refused:
    return Refused(status, code, reason)


_defines = partial(defines, component=COMPONENT, make=_refused)
_worded = partial(worded, component=COMPONENT, make=_refused)

bad_request = _worded(
    "bad_request", 400, "malformed HTTP, a protocol upgrade, or a body that is no spec")
unauthorized = _worded("unauthorized", 401, "no or a wrong bearer token (has WWW-Authenticate)")
forbidden = _worded("forbidden", 403, "outside what the gate lets the sidecar do")


@_defines("not_found", 404, "no service (or secret) of that id or name")
def not_found(name: str, kind: str = "service") -> Reason:
    return f"{kind} {name} not found"


@_defines("body_too_large", 413, "the request body is over GATE_MAX_BODY")
def body_too_large(limit: int) -> Reason:
    return f"request bodies are limited to {limit} bytes (GATE_MAX_BODY)"


docker_unavailable = _worded(
    "docker_unavailable", 502, "the Docker Engine cannot be reached or answer a check")
