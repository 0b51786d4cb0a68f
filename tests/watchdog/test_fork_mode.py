"""fork and stream modes against a real fwatchdog process over real sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from wdkit import (
    free_port,
    function_processes,
    port_answers,
    wait_for,
    watchdog_argv,
    watchdog_env,
)

MIB = os.urandom(1024 * 1024)


@pytest.mark.parametrize("mode", ["fork", "stream"])
def test_one_mib_binary_round_trip(start_watchdog, mode):
    wd = start_watchdog(fprocess="cat", mode=mode)
    resp = wd.request("POST", "/", MIB, {"Content-Type": "application/octet-stream"})
    assert resp.status == 200
    assert resp.body == MIB
    assert resp.headers["content-type"] == "application/octet-stream"
    assert float(resp.headers["x-duration-seconds"]) > 0


def test_chunked_request_body(start_watchdog):
    wd = start_watchdog(fprocess="cat")
    with socket.create_connection(("127.0.0.1", wd.port)) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello world")


def test_keep_alive_serves_many_requests_on_one_connection(start_watchdog):
    import http.client
    wd = start_watchdog(fprocess="cat")
    conn = http.client.HTTPConnection("127.0.0.1", wd.port)
    for i in range(20):
        conn.request("POST", "/", body=str(i).encode())
        assert conn.getresponse().read() == str(i).encode()
    conn.close()


def test_cgi_variables_and_all_methods(start_watchdog):
    wd = start_watchdog(fprocess="env")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"):
        resp = wd.request(method, "/some/path?x=1&y=two", b"abc",
                          {"X-Call-Id": "call-7", "X-Custom-Thing": "v", "Host": "fn.local"})
        env = dict(line.split("=", 1) for line in resp.body.decode().splitlines() if "=" in line)
        assert resp.status == 200
        assert env["Http_Method"] == method
        assert env["Http_Path"] == "/some/path"
        assert env["Http_Query"] == "x=1&y=two"
        assert env["Http_Content_Length"] == "3"
        assert env["Http_Host"] == "fn.local"
        assert env["Http_X_Call_Id"] == "call-7"
        assert env["Http_X_Custom_Thing"] == "v"
        assert resp.headers["x-call-id"] == "call-7"


def test_cgi_headers_off(start_watchdog):
    wd = start_watchdog(fprocess="env", cgi_headers="false")
    body = wd.request("GET", "/p?q=1", headers={"X-A": "b"}).body.decode()
    assert "Http_" not in body and "PATH=" in body


def test_content_type_setting_overrides_request(start_watchdog):
    wd = start_watchdog(fprocess="cat", content_type="application/json")
    resp = wd.request("POST", "/", b"{}", {"Content-Type": "text/plain"})
    assert resp.headers["content-type"] == "application/json"


def test_stderr_goes_to_log_unless_combined(start_watchdog):
    script = "echo out; echo err >&2"
    plain = start_watchdog(fprocess=f"sh -c '{script}'")
    assert plain.request("GET", "/").body == b"out\n"
    combined = start_watchdog(fprocess=f"sh -c '{script}'", combine_output="true")
    assert sorted(combined.request("GET", "/").body.split()) == [b"err", b"out"]
    plain.terminate()
    assert b"err" in plain.proc.stderr.read()


def test_nonzero_exit_is_500_platform_error(start_watchdog):
    wd = start_watchdog(fprocess="sh -c 'echo partial; exit 3'")
    resp = wd.request("POST", "/", b"x", {"X-Call-Id": "c1"})
    assert resp.status == 500
    assert resp.headers["x-swarmfaas-internal"] == "watchdog"
    assert resp.json() == {"error": "function_failed", "status": 500, "component": "watchdog",
                           "reason": "the function process exited with code 3", "call_id": "c1"}


def test_body_over_limit_is_413_before_any_process(start_watchdog):
    wd = start_watchdog(fprocess="cat", request_limit="1KiB")
    resp = wd.request("POST", "/", b"x" * 2000)
    assert resp.status == 413 and resp.json()["error"] == "request_too_large"
    assert wd.metric("fwatchdog_process_starts_total") == 0
    assert wd.request("POST", "/", b"x" * 1000).status == 200


def test_chunked_body_over_limit_is_413(start_watchdog):
    wd = start_watchdog(fprocess="cat", request_limit="10")
    with socket.create_connection(("127.0.0.1", wd.port)) as s:
        s.sendall(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413")
    assert wd.metric("fwatchdog_process_starts_total") == 0


@pytest.mark.parametrize("mode", ["fork", "stream"])
def test_output_over_limit_kills_and_is_marked(start_watchdog, mode):
    wd = start_watchdog(fprocess="sh -c 'echo $$ > $TMPDIR/pid; exec yes'", mode=mode,
                        response_limit="64KiB")
    if mode == "fork":
        resp = wd.request("GET", "/")
        assert resp.status == 502 and resp.json()["error"] == "response_too_large"
    else:  # the head already went out: the stream is cut, never completed
        with pytest.raises(Exception):  # noqa: B017 - http.client's IncompleteRead family
            wd.request("GET", "/")
    pid = int((wd.tmp / "pid").read_text())
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 5)


def test_max_inflight_gives_429_with_retry_after(start_watchdog):
    wd = start_watchdog(fprocess="sleep 1", max_inflight="1")
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(wd.request, "GET", "/")
        assert wait_for(lambda: wd.metric("fwatchdog_inflight_requests") == 1, 5)
        fast = wd.request("GET", "/")
        ready = wd.request("GET", "/_/ready")
        assert slow.result().status == 200
    assert fast.status == 429 and fast.headers["retry-after"] == "1"
    assert fast.json()["error"] == "too_many_requests"
    assert ready.status == 429


def test_exec_timeout_is_504_and_kills_the_whole_group(start_watchdog):
    wd = start_watchdog(fprocess="sh -c 'trap \"\" TERM; sleep 30 & sleep 30 & wait'",
                        exec_timeout="300ms", kill_grace="200ms")
    started = time.monotonic()
    resp = wd.request("GET", "/")
    assert resp.status == 504 and resp.json()["error"] == "timeout"
    assert time.monotonic() - started < 2
    # the shell ignores SIGTERM; its children must still all be gone after the SIGKILL
    assert wait_for(lambda: not function_processes(wd.proc.pid), 5), function_processes(wd.proc.pid)
    assert wd.metric("fwatchdog_process_kills_total") == 1


@pytest.mark.slow
def test_no_zombie_after_200_timeouts(start_watchdog):
    wd = start_watchdog(fprocess="sh -c 'sleep 30 & sleep 30 & sleep 30'",
                        exec_timeout="50ms", kill_grace="100ms")
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: wd.request("GET", "/").status, range(200)))
    assert statuses == [504] * 200
    left = function_processes
    assert wait_for(lambda: not left(wd.proc.pid), 10), left(wd.proc.pid)
    assert wd.metric("fwatchdog_process_kills_total") == 200
    assert wd.metric("fwatchdog_orphans_reaped_total") >= 1  # the `sleep`s came back to us


def test_orphans_are_reaped(start_watchdog):
    # The function leaves a grandchild behind that outlives it: it must be reaped, not a zombie.
    wd = start_watchdog(fprocess="sh -c '(sleep 0.2 &) ; echo ok'")
    assert wd.request("GET", "/").body == b"ok\n"
    assert wait_for(lambda: wd.metric("fwatchdog_orphans_reaped_total") >= 1, 5)
    assert not function_processes(wd.proc.pid)


@pytest.mark.parametrize("mode", ["fork", "stream"])
def test_client_disconnect_kills_the_process(start_watchdog, mode):
    wd = start_watchdog(fprocess="sh -c 'echo $$ > $TMPDIR/pid; sleep 30'", mode=mode)
    s = socket.create_connection(("127.0.0.1", wd.port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert wait_for(lambda: (wd.tmp / "pid").exists() and (wd.tmp / "pid").read_text(), 5)
    pid = int((wd.tmp / "pid").read_text())
    assert os.path.exists(f"/proc/{pid}")
    s.close()
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 5)
    assert wait_for(lambda: wd.metric("fwatchdog_process_kills_total") == 1, 2)


def test_stream_mode_sends_output_as_it_comes(start_watchdog):
    wd = start_watchdog(fprocess="sh -c 'echo first; sleep 1; echo second'", mode="stream")
    with socket.create_connection(("127.0.0.1", wd.port)) as s:
        started = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"first" not in data:
            data += s.recv(4096)
        first_at = time.monotonic() - started
        while not data.endswith(b"0\r\n\r\n"):
            data += s.recv(4096)
    assert first_at < 0.8
    assert b"Transfer-Encoding: chunked" in data and b"second" in data


def test_read_timeout_answers_408(start_watchdog):
    wd = start_watchdog(fprocess="cat", read_timeout="300ms")
    with socket.create_connection(("127.0.0.1", wd.port)) as s:
        s.sendall(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        s.settimeout(5)
        assert s.recv(4096).startswith(b"HTTP/1.1 408")
    assert wd.metric("fwatchdog_process_starts_total") == 0


def test_malformed_request_is_400(start_watchdog):
    wd = start_watchdog(fprocess="cat")
    with socket.create_connection(("127.0.0.1", wd.port)) as s:
        s.sendall(b"NOT HTTP\r\n\r\n")
        data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 400") and b"X-Swarmfaas-Internal: watchdog" in data


def test_health_ready_lock_and_metrics(start_watchdog):
    wd = start_watchdog(fprocess="cat")
    assert wd.request("GET", "/_/health").status == 200
    assert wd.request("GET", "/_/ready").status == 200
    lock = wd.tmp / ".lock"
    assert lock.exists()
    env = watchdog_env(wd.tmp)
    check = watchdog_argv("--healthcheck")
    assert subprocess.run(check, env=env).returncode == 0
    assert wd.request("POST", "/", b"x").status == 200
    # A worker counts a request just after writing its answer, and in the pool
    # another worker may serve /_/metrics first: wait for the count to land.
    assert wait_for(lambda: 'status="200"} 1' in wd.metrics(), 5), wd.metrics()
    text = wd.metrics()
    for name in ("fwatchdog_requests_total", "fwatchdog_request_duration_seconds_bucket",
                 "fwatchdog_inflight_requests", "fwatchdog_process_starts_total"):
        assert name in text
    promtool = subprocess.run(["which", "promtool"], capture_output=True, text=True).stdout.strip()
    if promtool:
        result = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                                capture_output=True)
        assert result.returncode == 0, result.stdout + result.stderr
    assert wd.terminate() == 0
    assert not lock.exists()
    assert subprocess.run(check, env=env).returncode == 1


def test_sigterm_drains_in_flight_and_answers_new_ones_draining(start_watchdog):
    wd = start_watchdog(fprocess="sh -c 'sleep 1; echo done'")
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(wd.request, "GET", "/") for _ in range(3)]
        assert wait_for(lambda: wd.metric("fwatchdog_inflight_requests") == 3, 5)
        wd.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        refused = wd.request("GET", "/")  # test_drain.py has the rest of this answer
        assert (refused.status, refused.json()["error"]) == (503, "replica_draining")
        results = [f.result() for f in futures]
    assert [(r.status, r.body) for r in results] == [(200, b"done\n")] * 3
    assert wd.proc.wait(10) == 0


def test_sigterm_drain_is_bounded_by_write_timeout(start_watchdog):
    wd = start_watchdog(fprocess="sh -c 'echo $$ > $TMPDIR/pid; sleep 30'",
                        write_timeout="500ms", exec_timeout="60s")
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(wd.request("GET", "/").status)
        except OSError as exc:  # cut at the bound: no answer, or a reset
            outcome.append(type(exc).__name__)

    t = threading.Thread(target=call)
    t.start()
    assert wait_for(lambda: (wd.tmp / "pid").exists() and (wd.tmp / "pid").read_text(), 5)
    pid = int((wd.tmp / "pid").read_text())
    started = time.monotonic()
    wd.proc.send_signal(signal.SIGTERM)
    assert wd.proc.wait(10) == 0
    assert time.monotonic() - started < 3
    t.join(5)
    assert outcome and outcome[0] != 200
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 5)


def test_healthcheck_interval_keeps_serving_while_unready(start_watchdog):
    wd = start_watchdog(fprocess="cat", healthcheck_interval="1s")
    wd.proc.send_signal(signal.SIGTERM)
    assert wait_for(lambda: wd.request("GET", "/_/health").status == 503, 2)
    assert not (wd.tmp / ".lock").exists()
    resp = wd.request("POST", "/", b"still here")
    assert (resp.status, resp.body) == (200, b"still here")
    assert wd.proc.wait(10) == 0


def test_port_setting_is_used(tmp_path):
    port = free_port()
    env = watchdog_env(tmp_path, fprocess="cat", port=str(port))
    proc = subprocess.Popen(watchdog_argv(), env=env,
                            stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _connects(port) and port_answers(port), 10)
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize(("env", "named"), [
    ({}, "fprocess"),
    ({"fprocess": "no-such-binary-xyz"}, "fprocess"),
    ({"fprocess": "cat", "mode": "batch"}, "mode"),
    ({"fprocess": "cat", "port": "http"}, "port"),
    ({"fprocess": "cat", "exec_timeout": "soon"}, "exec_timeout"),
    ({"fprocess": "cat", "max_inflight": "-2"}, "max_inflight"),
    ({"fprocess": "cat", "mode": "http", "upstream_url": "localhost"}, "upstream_url"),
    ({"fprocess": "cat", "request_limit": "huge"}, "request_limit"),
])
def test_bad_config_fails_at_start_naming_the_variable(tmp_path, env, named):
    result = subprocess.run(watchdog_argv(), env=watchdog_env(tmp_path, **env),
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 2
    assert f"configuration error: {named}" in result.stderr


def test_error_bodies_are_json(start_watchdog):
    wd = start_watchdog(fprocess="cat")
    resp = wd.request("GET", "/_/nothing")
    assert resp.status == 404 and json.loads(resp.body)["component"] == "watchdog"


def test_a_function_process_that_cannot_start_is_a_json_503(start_watchdog, tmp_path):
    """A spawn that fails (here the executable gone; in a container, EAGAIN at
    the pids limit) is the watchdog's JSON 503 with Retry-After, and the
    watchdog serves on: it once dropped the connection with no answer."""
    script = tmp_path / "fn.sh"
    script.write_text("#!/bin/sh\ncat\n")
    script.chmod(0o755)
    wd = start_watchdog(fprocess=str(script), workers="1")
    assert wd.request("POST", "/", b"before").body == b"before"
    script.unlink()
    resp = wd.request("POST", "/", b"x")
    assert resp.status == 503
    doc = json.loads(resp.body)
    assert doc["error"] == "cannot_start" and doc["component"] == "watchdog"
    assert "No such file" in doc["reason"], doc
    assert resp.headers.get("retry-after") == "1"
    script.write_text("#!/bin/sh\ncat\n")
    script.chmod(0o755)
    assert wd.request("POST", "/", b"after").body == b"after"
