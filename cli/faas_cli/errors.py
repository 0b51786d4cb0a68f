"""Exit codes and the mapping from gateway answers to messages that say what to do.

Pure: every decision here is a function of plain data, table-tested in
tests/cli/test_errors.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import IntEnum


class Exit(IntEnum):
    """Exit codes scripts can rely on (docs/cli.md)."""

    OK = 0
    FAILED = 1  # the function, the platform or a build said no
    USAGE = 2  # bad flags, bad stack file, unknown template (click uses 2 too)
    AUTH = 3  # missing or wrong credentials
    UNREACHABLE = 4  # the gateway or the Docker engine cannot be reached


class CliError(Exception):
    """An error for a person: what is wrong, then what to do about it."""

    def __init__(self, message: str, code: Exit = Exit.FAILED, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.code, self.hint = message, code, hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


def platform_error(body: bytes) -> tuple[str, str]:
    """(error code, reason) of a platform error body (docs/errors.md); ("", "") if not one."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", ""
    if not isinstance(doc, dict):
        return "", ""
    return str(doc.get("error", "")), str(doc.get("reason", ""))


# Routes other helpers are building: a 404 "not_found" (no route) from them
# means this gateway is older than the verb, not that a function is missing.
NOT_YET = {
    "logs": "this gateway has no logs API yet (GET /system/logs answers 404)",
    "secrets": "this gateway has no secrets API yet (/system/secrets answers 404)",
    "async": "this gateway has no asynchronous invocation yet (/async-function answers 404)",
}

_HINTS = {
    "function_not_found": "`faas list` shows the deployed functions",
    "image_not_allowed": "the gateway deploys only images matching SYSTEM_IMAGE_ALLOWLIST"
    " (swarmfaas/* by default): rename the image in the stack file",
    "secret_not_allowed": "the gateway gives functions only secrets matching"
    " SYSTEM_SECRET_ALLOWLIST",
    "secret_not_found": "create it first: `faas secret create NAME`",
    "no_such_secret": "`faas secret list` shows the secrets",
    "secret_exists": "`faas secret update NAME` replaces its value",
    "secret_in_use": "remove the functions that use it first (`faas remove NAME`)",
    "namespace_not_found": "this platform has one namespace, swarmfaas-fn (openfaas-fn"
    " is accepted too): drop the namespace",
    "function_exists": "use `faas deploy`, which updates an existing function",
    "invalid_function_name": "a function name is 1-63 of a-z, 0-9 and -",
    "docker_unavailable": "the platform cannot reach its Docker engine: check the stack"
    " (`docker stack ps <stack>`)",
}


def error_for_status(status: int, body: bytes, *, what: str, feature: str = "") -> CliError:
    """The CliError for a non-2xx answer of the gateway to `what` (e.g. "deploy fn").

    `feature` names a route that may not exist yet on this gateway (a key of NOT_YET).
    """
    code, reason = platform_error(body)
    if status == 401:
        return CliError(
            f"{what}: the gateway refused the credentials",
            Exit.AUTH,
            "run `faas login` (or set OPENFAAS_URL, SWARMFAAS_USER, SWARMFAAS_PASSWORD_FILE)",
        )
    if status == 404 and feature and code in ("", "not_found"):  # no route, not no object
        return CliError(f"{what}: {NOT_YET[feature]}", Exit.FAILED, "upgrade the platform")
    detail = reason or _text(body) or f"HTTP {status}"
    hint = _HINTS.get(code, "")
    if status in (502, 503, 504) and not hint:
        hint = "the platform is up but could not serve this now: try again, or check the stack"
    return CliError(f"{what}: {detail}", Exit.FAILED, hint)


def _text(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[:limit] + "..."


def unreachable(url: str, detail: str) -> CliError:
    return CliError(
        f"cannot reach the gateway at {url} ({detail})",
        Exit.UNREACHABLE,
        "is the platform up (`make up`)? is --gateway / OPENFAAS_URL right?",
    )


def invoke_error(
    status: int, headers: Mapping[str, str], body: bytes, *, name: str, is_async: bool
) -> CliError | None:
    """None when a call succeeded; else what to tell the person (the body goes to stdout
    when the function itself answered, so its own error text is not lost)."""
    if status < 400:
        return None
    component = headers.get("x-swarmfaas-internal", "")
    code, reason = platform_error(body)
    if status == 404 and code == "function_not_found":
        return CliError(f"no function named {name!r}", Exit.FAILED, _HINTS["function_not_found"])
    if status == 404 and is_async:
        return CliError(f"invoke --async {name}: {NOT_YET['async']}", Exit.FAILED,
                        "call it synchronously (without --async)")
    if status == 401:
        return CliError(f"invoke {name}: the gateway refused the credentials", Exit.AUTH,
                        "run `faas login`")
    if component and reason:
        hint = {
            "watchdog": f"the function process failed: `faas logs {name}` shows its stderr",
        }.get(component, "")
        if status in (503, 502) and component == "sidecar":
            hint = f"no replica is ready yet: wait, or see `faas describe {name}`"
        return CliError(f"{name}: {reason} (HTTP {status}, from the {component})",
                        Exit.FAILED, hint)
    return CliError(f"{name} answered HTTP {status}", Exit.FAILED)
