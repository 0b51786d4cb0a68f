"""Bad input through the whole stack: a clear JSON error, nothing crashes, nothing
reaches a service that is not a function, and the platform keeps serving."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _task_ids(platform: Platform) -> set[str]:
    """Every task of the stack, running or not: a crash would add a new one."""
    out = subprocess.run(
        ["docker", "stack", "ps", platform.stack, "-q", "--no-trunc"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


# (method, path, headers, body): each must get a platform JSON error (4xx).
HOSTILE = [
    ("POST", "/function/sidecar", {}, b"x"),
    ("POST", "/function/nginx", {}, b"x"),
    ("POST", "/x", {"X-Function": "sidecar"}, b"x"),
    ("POST", "/x", {"X-Function": "faastest_sidecar"}, b"x"),
    ("POST", "/x", {"X-Function": "../system/functions"}, b"x"),
    ("POST", "/x", {"X-Function": "ECHO"}, b"x"),
    ("POST", "/x", {"X-Function": "echo\tx"}, b"x"),
    ("GET", "/function/%2e%2e/system/functions", {}, b""),
    ("GET", "/function/..%2fsystem%2ffunctions", {}, b""),
    ("GET", "/system/functions", {}, b""),
    ("GET", "/system/functions", {"Authorization": "Basic YWRtaW46d3Jvbmc="}, b""),
    ("GET", "/metrics", {}, b""),
    ("POST", "/alexa", {"Content-Type": "application/json"}, b"{not json"),
    ("POST", "/alexa", {"Content-Type": "application/json"}, b'{"version": "1.0"}'),
    ("POST", "/alexa", {"Content-Type": "application/json"}, b"[]"),
    ("POST", "/function/echo", {"X-Big": "a" * 65536}, b"x"),
    ("POST", "/function/echo.kube-system", {}, b"x"),   # another namespace: 404
    ("POST", "/x", {"X-Function": "echo.default"}, b"x"),
]


@pytest.mark.parametrize(("method", "path", "headers", "body"), HOSTILE)
def test_hostile_request_gets_a_platform_json_error(
    platform: Platform, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    with platform.client() as c:
        r = c.request(method, path, headers=headers, content=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert r.headers.get("x-swarmfaas-internal") in ("nginx", "sidecar"), r.headers
    doc = r.json()
    assert doc["status"] == r.status_code
    assert doc["reason"]


def test_a_body_over_the_limit_is_413_and_the_platform_keeps_serving(platform: Platform) -> None:
    before = _task_ids(platform)
    with platform.client() as c:
        r = c.post("/function/echo", content=b"\0" * (11 * 1024 * 1024))
        assert r.status_code == 413
        assert r.json()["error"]
        for method, path, headers, body in HOSTILE:
            c.request(method, path, headers=headers, content=body)
        ok = c.post("/function/echo", content=b"still here")
    assert ok.status_code == 200 and ok.content == b"still here"
    assert _task_ids(platform) == before, "a component restarted during bad input"
