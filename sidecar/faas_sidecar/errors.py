"""Errors the sidecar makes itself: JSON with a reason, marked as the platform's.

Every error code is made by one factory here (``function_not_found(name)`` and
so on); handlers raise what a factory returns, and one Sanic error handler
renders it with ``error_body``/``error_headers``. Each factory registers its
code, status and meaning in ``CODES``, which docs/errors.md's table must match
(tests/sidecar/test_errors.py). A new code is one more ``@defines`` function.
See docs/errors.md for the contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar

INTERNAL_HEADER = "X-Swarmfaas-Internal"
COMPONENT = "sidecar"
# Seconds a client is told to wait before retrying a 503.
RETRY_AFTER = "1"


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


# -- the registry of codes ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One row of docs/errors.md's table of codes."""

    component: str  # the X-Swarmfaas-Internal value of the response
    code: str
    status: int
    meaning: str


# (component, code) -> its definition; filled by ``defines``.
CODES: dict[tuple[str, str], ErrorCode] = {}

P = ParamSpec("P")
E = TypeVar("E", bound=Exception)
# What a reason function returns: the reason, or the reason and extra headers.
Reason = str | tuple[str, Mapping[str, str]]


def register(code: str, status: int, meaning: str, component: str = COMPONENT) -> ErrorCode:
    key = (component, code)
    if key in CODES:
        raise ValueError(f"error code {code!r} of {component} is defined twice")
    CODES[key] = entry = ErrorCode(component, code, status, meaning)
    return entry


def defines(
    code: str,
    status: int,
    meaning: str,
    *,
    component: str = COMPONENT,
    make: Callable[[int, str, str, dict[str, str]], E] | None = None,
) -> Callable[[Callable[P, Reason]], Callable[P, E]]:
    """Turn a function that words the reason into the factory of ``code``.

    ``make(status, code, reason, headers)`` builds the exception (default:
    ``PlatformError``); the gate and Alexa pass their own exception types."""
    entry = register(code, status, meaning, component)
    build = make or _platform_error

    def wrap(reason_of: Callable[P, Reason]) -> Callable[P, E]:
        @wraps(reason_of)
        def factory(*args: P.args, **kwargs: P.kwargs) -> E:
            reason = reason_of(*args, **kwargs)
            headers: Mapping[str, str] = {}
            if isinstance(reason, tuple):
                reason, headers = reason
            return build(entry.status, entry.code, reason, dict(headers))

        factory.error_code = entry  # type: ignore[attr-defined]
        return factory

    return wrap


def worded(
    code: str,
    status: int,
    meaning: str,
    *,
    component: str = COMPONENT,
    make: Callable[[int, str, str, dict[str, str]], E] | None = None,
) -> Callable[[str], E]:
    """The factory of a code whose reason the caller words: ``f(reason)``."""
    factory = defines(code, status, meaning, component=component, make=make)(_as_given)
    factory.__name__ = factory.__qualname__ = code
    return factory


def _as_given(reason: str) -> Reason:
    return reason


def _platform_error(status: int, code: str, reason: str, headers: dict[str, str]) -> E:
    return PlatformError(status, code, reason, headers=headers)  # type: ignore[return-value]


# -- the sidecar's codes ----------------------------------------------------------
# Routing and the call.


@defines("not_found", 404, "no route for this path (and no X-Function header)")
def not_found(path: str) -> Reason:
    return f"no route for {path!r}"


@defines("function_not_found", 404, "no function has that name (or none was named)")
def function_not_found(name: str | None = None, *, reason: str | None = None) -> Reason:
    if reason is not None:
        return reason
    return f"no function named {name!r}" if name else "no function name in the request"


invalid_function_name = worded(
    "invalid_function_name", 400, "the name is not [a-z0-9-], 1-63 characters")


@defines("namespace_not_found", 404, "a namespace other than the platform's one (or its alias)")
def namespace_not_found(namespace: str, known: str) -> Reason:
    shown = namespace if len(namespace) <= 80 else namespace[:80] + "..."
    return f"no namespace named {shown!r}: this platform has one, {known}"


@defines("no_ready_replica", 503,
         "the function has no ready replica; Docker's newest task error when there is one "
         "(has Retry-After)")
def no_ready_replica(name: str, task_error: str = "") -> Reason:
    reason = f"function {name!r} has no ready replica"
    if task_error:
        reason += f"; Docker reports {task_error}"
    return reason, {"Retry-After": RETRY_AFTER}


replica_unreachable = worded(
    "replica_unreachable", 502, "no replica could be reached, or one answered garbage")


@defines("function_rate_limited", 429,
         "the function's swarmfaas.ratelimit.rps is reached (has Retry-After)")
def function_rate_limited(name: str, rps: float, retry_after: str) -> Reason:
    return (f"function {name!r} takes at most {rps:g} requests a second; retry later",
            {"Retry-After": retry_after})


@defines("function_queue_full", 429,
         "every replica is at max_inflight and the sidecar's queue is past "
         "swarmfaas.queue.length or .wait (has Retry-After)")
def function_queue_full(name: str, why: str) -> Reason:
    return (f"function {name!r} is at its concurrency limit and {why}; retry later",
            {"Retry-After": RETRY_AFTER})


@defines("function_timeout", 504, "the function did not answer within swarmfaas.timeout")
def function_timeout(name: str, seconds: float) -> Reason:
    return f"function {name!r} did not answer within {seconds:g} s"


@defines("internal_error", 500, "the sidecar failed (logged; no detail to the client)")
def internal_error() -> Reason:
    return "the sidecar failed"


# Sanic's BadRequest renders under this code too (app.setup_errors).
bad_request = worded(
    "bad_request", 400, "the request is not valid HTTP, or its X-Function headers disagree")


# Sanic's own exceptions, rendered by app.setup_errors under the snake_case
# of their class name (not made here): the ones a request can meet.
SANIC_CODES = tuple(register(code, status, meaning + " (Sanic)") for code, status, meaning in (
    ("request_timeout", 408, "the client was too slow sending its request"),
    ("body_too_large", 413, "the request body is over the limit"),
    ("uri_too_long", 414, "the request URI is too long"),
    ("method_not_allowed", 405, "the route does not take this method"),
    ("expectation_failed", 417, "an Expect header other than 100-continue"),
    ("server_error", 500, "a response broke HTTP framing"),
))


# The system API (docs/system-api.md).


@defines("unauthorized", 401, "missing or wrong credentials (has WWW-Authenticate)")
def unauthorized(reason: str, challenge: Mapping[str, str]) -> Reason:
    return reason, challenge


invalid_request = worded(
    "invalid_request", 400, "a request field is missing or wrong; the reason names it")


invalid_json = worded("invalid_json", 400, "the body is empty or not JSON")


@defines("image_not_allowed", 403, "the image is outside SYSTEM_IMAGE_ALLOWLIST")
def image_not_allowed(image: str) -> Reason:
    return f"image {image!r} is not in the allowlist of this platform (SYSTEM_IMAGE_ALLOWLIST)"


@defines("secret_not_allowed", 403, "a secret is outside SYSTEM_SECRET_ALLOWLIST")
def secret_not_allowed(secret: str) -> Reason:
    return (f"secret {secret!r} is not in the allowlist of this platform "
            "(SYSTEM_SECRET_ALLOWLIST)")


@defines("secret_not_found", 400, "no Docker secret has that name")
def secret_not_found(name: str) -> Reason:
    return f"no Docker secret named {name!r}"


@defines("no_such_secret", 404, "no secret of the platform has that name")
def no_such_secret(name: str) -> Reason:
    return f"no secret named {name!r} (GET /system/secrets lists them)"


@defines("secret_exists", 409, "a secret of that name exists (POST; PUT replaces it)")
def secret_exists(name: str) -> Reason:
    return (f"a secret named {name!r} already exists; PUT /system/secrets replaces its "
            "value when no function uses it")


@defines("secret_in_use", 409, "a function uses the secret: it cannot be removed or replaced")
def secret_in_use(name: str, detail: str) -> Reason:
    return (f"secret {name!r} is in use by a function; remove the function (or its "
            f"reference to the secret) first: {detail}")


@defines("function_exists", 409, "a function of that name exists (POST; use PUT)")
def function_exists(name: str) -> Reason:
    return (f"a function named {name!r} already exists; "
            "use PUT /system/functions to update it")


@defines("ambiguous_function", 409, "several services claim the function name")
def ambiguous_function(name: str, services: str) -> Reason:
    return f"several services claim the function name {name!r}: {services}"


global_service = worded(
    "global_service", 409, "the function is a global service: no scale, no update")


# Docker's answers to the system API (system/swarm_admin.translate_docker_error).


@defines("refused_by_engine_gate", 403, "the engine gate refused what the call would do")
def refused_by_engine_gate(action: str, detail: str) -> Reason:
    return f"{action}: {detail}"


@defines("conflict", 409, "Docker reports a conflict")
def conflict(action: str, detail: str) -> Reason:
    return f"{action}: Docker reports a conflict: {detail}"


@defines("rejected_by_docker", 400, "Docker refused the spec (unknown network, bad constraint...)")
def rejected_by_docker(action: str, detail: str) -> Reason:
    return f"{action}: Docker refused: {detail}"


@defines("docker_error", 502, "the Docker Engine answered with an error")
def docker_error(action: str, status: int, detail: str) -> Reason:
    return f"{action}: Docker Engine error {status}: {detail}"


@defines("docker_unavailable", 502, "the Docker Engine cannot be reached")
def docker_unavailable(action: str, kind: str) -> Reason:
    return f"{action}: the Docker Engine cannot be reached ({kind})"


# Signed webhooks (docs/webhooks.md).


@defines("webhook_signature_invalid", 401,
         "a signed-webhook function's request has a missing, stale or wrong signature")
def webhook_signature_invalid(name: str, reason: str) -> Reason:
    return f"function {name!r} takes signed requests only: {reason}"


@defines("webhook_body_too_large", 413,
         "a signed-webhook request's body is over BUFFER_LIMIT (it is checked whole)")
def webhook_body_too_large(name: str, limit: int) -> Reason:
    return f"function {name!r} checks a signature over the whole body, of at most {limit} bytes"


@defines("webhook_secret_unavailable", 500,
         "no secret named by swarmfaas.webhook.secrets is readable by the sidecar (logged)")
def webhook_secret_unavailable(name: str) -> Reason:
    return f"function {name!r} cannot check signatures: its webhook secret is not available"


# Alexa's timeout (its rejections are alexa/rejection.py's, registered here too).


@defines("alexa_timeout", 504, "the function did not answer within the Alexa timeout")
def alexa_timeout(name: str, seconds: float) -> Reason:
    return f"function {name!r} did not answer within {seconds:g} s"


# Asynchronous calls (docs/webhooks.md).


@defines("queue_unavailable", 503,
         "an asynchronous call could not be stored: the broker is unreachable (has Retry-After)")
def queue_unavailable(detail: str) -> Reason:
    return (f"the call was not stored, try again: {detail}", {"Retry-After": RETRY_AFTER})


@defines("async_body_too_large", 413, "an asynchronous call's body is over ASYNC_BODY_LIMIT")
def async_body_too_large(name: str, limit: int) -> Reason:
    return f"function {name!r}: an asynchronous call's body may have at most {limit} bytes"


@defines("dead_letter_not_found", 404, "no dead letter has that id")
def dead_letter_not_found(seq: int) -> Reason:
    return f"no dead letter with id {seq}"


callback_not_allowed = worded(
    "callback_not_allowed", 400,
    "X-Callback-Url is not a URL CALLBACK_ALLOWLIST lets the platform call")
