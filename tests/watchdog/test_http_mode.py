"""http mode: a real upstream process behind a real fwatchdog."""

from __future__ import annotations

import json
import os
import sys

from wdkit import HERE, free_port, wait_for

UPSTREAM = f"{sys.executable} {HERE / 'upstream_app.py'}"


def start_http(start_watchdog, delay: str = "", **env: str):
    port = free_port()
    return start_watchdog(mode="http", fprocess=f"{UPSTREAM} {port} {delay}".strip(),
                          upstream_url=f"http://127.0.0.1:{port}", **env)


def test_proxies_method_path_headers_and_body(start_watchdog):
    wd = start_http(start_watchdog)
    resp = wd.request("PUT", "/a/b?c=d", b"12345", {"X-Call-Id": "k1", "Connection": "keep-alive",
                                                    "X-Thing": "t"})
    assert resp.status == 200
    seen = json.loads(resp.body)
    assert (seen["method"], seen["path"], seen["body_len"]) == ("PUT", "/a/b?c=d", 5)
    assert seen["headers"]["x-thing"] == "t" and "connection" not in seen["headers"]
    assert resp.headers["x-upstream"] == "yes" and resp.headers["x-call-id"] == "k1"
    assert "x-duration-seconds" in resp.headers
    assert wd.request("POST", "/created").status == 201


def test_one_mib_binary_round_trip(start_watchdog):
    wd = start_http(start_watchdog)
    payload = os.urandom(1024 * 1024)
    resp = wd.request("POST", "/binary", payload)
    assert resp.status == 200 and resp.body == payload


def test_response_over_limit_is_marked(start_watchdog):
    wd = start_http(start_watchdog, response_limit="100KiB")
    resp = wd.request("POST", "/binary", b"x" * 200_000)
    assert resp.status == 502 and resp.json()["error"] == "response_too_large"


def test_not_ready_until_upstream_answers(start_watchdog):
    wd = start_http(start_watchdog, delay="1.5", wait_ready=False)
    first = wd.request("GET", "/_/ready")
    assert first.status == 503
    assert wd.request("GET", "/x").status == 503
    assert not (wd.tmp / ".lock").exists()
    assert wait_for(lambda: wd.request("GET", "/_/ready").status == 200, 10)
    assert (wd.tmp / ".lock").exists()
    assert wd.request("GET", "/x").status == 200


def test_crashed_upstream_is_restarted(start_watchdog):
    wd = start_http(start_watchdog)
    pid_before = json.loads(wd.request("GET", "/").body)["pid"]
    crash = wd.request("GET", "/crash")
    assert crash.status == 502 and crash.headers["x-swarmfaas-internal"] == "watchdog"
    assert wait_for(lambda: wd.request("GET", "/_/ready").status == 200 and
                    wd.metric("fwatchdog_upstream_restarts_total") == 1, 10)
    resp = wd.request("GET", "/")
    assert resp.status == 200 and json.loads(resp.body)["pid"] != pid_before
    assert not os.path.exists(f"/proc/{pid_before}")


def test_upstream_is_stopped_on_sigterm(start_watchdog):
    wd = start_http(start_watchdog)
    pid = json.loads(wd.request("GET", "/").body)["pid"]
    assert wd.terminate() == 0
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 5)


def test_exec_timeout_applies_to_the_upstream(start_watchdog):
    wd = start_http(start_watchdog, exec_timeout="300ms")
    resp = wd.request("GET", "/slow")
    assert resp.status == 504 and resp.json()["error"] == "timeout"
    assert wd.request("GET", "/").status == 200  # the pool dropped the spoiled connection
