import json

import pytest

from faas_cli.errors import Exit, error_for_status, invoke_error, platform_error


def err(code: str, reason: str = "r", status: int = 400) -> bytes:
    return json.dumps({"error": code, "reason": reason, "status": status,
                       "component": "sidecar"}).encode()


@pytest.mark.parametrize(("body", "want"), [
    (err("function_not_found", "no function named 'x'"), ("function_not_found",
                                                          "no function named 'x'")),
    (b"not json", ("", "")),
    (b"[1, 2]", ("", "")),
    (b"", ("", "")),
    (b"\xff\xfe", ("", "")),
])
def test_platform_error(body, want):
    assert platform_error(body) == want


@pytest.mark.parametrize(("status", "body", "feature", "code", "in_message", "in_hint"), [
    (401, err("unauthorized"), "", Exit.AUTH, "refused the credentials", "faas login"),
    (404, err("function_not_found", "no function named 'x'"), "", Exit.FAILED,
     "no function named 'x'", "faas list"),
    (404, err("not_found", "no route"), "logs", Exit.FAILED, "no logs API yet", "upgrade"),
    (404, err("not_found", "no route"), "secrets", Exit.FAILED, "no secrets API", "upgrade"),
    # a missing function behind a route that exists is still "no such function"
    (404, err("function_not_found", "no function named 'x'"), "logs", Exit.FAILED,
     "no function named 'x'", "faas list"),
    (404, err("no_such_secret", "no secret named 'x'"), "secrets", Exit.FAILED,
     "no secret named 'x'", "faas secret list"),
    (409, err("secret_in_use", "in use"), "secrets", Exit.FAILED, "in use", "faas remove"),
    (409, err("secret_exists", "exists"), "secrets", Exit.FAILED, "exists", "secret update"),
    (404, err("namespace_not_found", "no namespace"), "logs", Exit.FAILED, "no namespace",
     "one namespace"),
    (404, b"404 page not found", "logs", Exit.FAILED, "no logs API yet", "upgrade"),
    (403, err("image_not_allowed", "image 'x' is not allowed"), "", Exit.FAILED,
     "image 'x' is not allowed", "SYSTEM_IMAGE_ALLOWLIST"),
    (409, err("function_exists", "taken"), "", Exit.FAILED, "taken", "faas deploy"),
    (400, err("invalid_request", "replicas must be between 0 and 20"), "", Exit.FAILED,
     "replicas must be between 0 and 20", ""),
    (502, err("docker_error", "boom"), "", Exit.FAILED, "boom", "try again"),
    (500, b"plain text failure", "", Exit.FAILED, "plain text failure", ""),
    (500, b"", "", Exit.FAILED, "HTTP 500", ""),
])
def test_error_for_status(status, body, feature, code, in_message, in_hint):
    e = error_for_status(status, body, what="do it", feature=feature)
    assert e.code == code
    assert e.message.startswith("do it: ")
    assert in_message in e.message
    assert in_hint in e.hint


def test_error_for_status_cuts_long_bodies():
    e = error_for_status(500, b"x" * 5000, what="w")
    assert len(e.message) < 400


SIDECAR = {"x-swarmfaas-internal": "sidecar"}
WATCHDOG = {"x-swarmfaas-internal": "watchdog"}


@pytest.mark.parametrize(("status", "headers", "body", "is_async", "code", "in_message"), [
    (200, {}, b"ok", False, None, ""),
    (202, {}, b"", True, None, ""),
    (404, SIDECAR, err("function_not_found", "no function named 'f'"), False, Exit.FAILED,
     "no function named 'f'"),
    (404, SIDECAR, err("function_not_found", "no function named 'f'"), True, Exit.FAILED,
     "no function named 'f'"),
    (404, SIDECAR, err("not_found", "no route"), True, Exit.FAILED, "no asynchronous"),
    (500, WATCHDOG, err("process_failed", "the process exited with 1"), False, Exit.FAILED,
     "the process exited with 1 (HTTP 500, from the watchdog)"),
    (503, SIDECAR, err("no_replica", "no ready replica"), False, Exit.FAILED,
     "no ready replica"),
    (418, {}, b"teapot", False, Exit.FAILED, "f answered HTTP 418"),  # the function's own
])
def test_invoke_error(status, headers, body, is_async, code, in_message):
    e = invoke_error(status, headers, body, name="f", is_async=is_async)
    if code is None:
        assert e is None
    else:
        assert e.code == code
        assert in_message in e.message


@pytest.mark.parametrize(("component", "hint"), [
    ("watchdog", "faas logs f"),
    ("sidecar", "faas describe f"),
])
def test_invoke_error_hints(component, hint):
    status = 500 if component == "watchdog" else 503
    e = invoke_error(status, {"x-swarmfaas-internal": component}, err("x", "why"),
                     name="f", is_async=False)
    assert hint in e.hint


def test_exit_codes_are_documented_values():
    assert [int(e) for e in Exit] == [0, 1, 2, 3, 4]
