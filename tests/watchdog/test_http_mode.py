"""http mode: a real upstream process behind a real fwatchdog."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import threading
import time

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


# The relay (proxy.py): framing both ways, pipelining, failures ----------------

def raw_exchange(port: int, data: bytes, responses: int, timeout: float = 10) -> bytes:
    """Send `data` as is on one connection; read until `responses` heads have come."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        got = b""
        deadline = time.monotonic() + timeout
        while got.count(b"HTTP/1.1 ") < responses or not _complete(got, responses):
            chunk = sock.recv(65536)
            if not chunk or time.monotonic() > deadline:
                break
            got += chunk
        return got


def _complete(got: bytes, responses: int) -> bool:
    """Are `responses` Content-Length-framed responses all there?"""
    at = 0
    for _ in range(responses):
        end = got.find(b"\r\n\r\n", at)
        if end < 0:
            return False
        head = got[at:end].decode("latin-1").lower()
        length = int(head.split("content-length:")[1].split("\r\n")[0])
        at = end + 4 + length
        if len(got) < at:
            return False
    return True


def test_pipelined_requests_are_answered_in_order(start_watchdog):
    wd = start_http(start_watchdog)
    reqs = b"".join(b"POST /p%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                    % (i, len(b"b" * i), b"b" * i) for i in range(1, 6))
    got = raw_exchange(wd.port, reqs, 5)
    paths = [json.loads(part.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1 ")[0])["path"]
             for part in got.split(b"HTTP/1.1 200 OK")[1:]]
    assert paths == ["/p1", "/p2", "/p3", "/p4", "/p5"]
    assert got.count(b"X-Duration-Seconds: ") == 5


def test_keep_alive_connection_serves_many_requests_and_head(start_watchdog):
    wd = start_http(start_watchdog)
    conn = http.client.HTTPConnection("127.0.0.1", wd.port, timeout=10)
    try:
        for i in range(20):
            conn.request("POST", f"/binary/{i}", body=b"%d" % i)
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == b"%d" % i
        conn.request("HEAD", "/x")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"" and int(resp.headers["content-length"]) > 0
        conn.request("GET", "/after-head")  # the HEAD response left the framing intact
        resp = conn.getresponse()
        assert json.loads(resp.read())["path"] == "/after-head"
    finally:
        conn.close()


def test_chunked_request_body_is_sent_with_a_length(start_watchdog):
    wd = start_http(start_watchdog)
    payload = os.urandom(300_000)
    chunks = b"".join(b"%x\r\n%b\r\n" % (len(payload[i:i + 70_000]), payload[i:i + 70_000])
                      for i in range(0, len(payload), 70_000))
    got = raw_exchange(wd.port, b"POST /binary HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                       b"\r\n\r\n" + chunks + b"0\r\n\r\n", 1)
    head, body = got.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and body == payload


def test_chunked_and_close_delimited_responses_are_relayed_whole(start_watchdog):
    wd = start_http(start_watchdog)
    payload = os.urandom(200_000)
    resp = wd.request("POST", "/chunked", payload)
    assert resp.status == 200 and resp.body == payload
    assert "transfer-encoding" not in resp.headers
    assert int(resp.headers["content-length"]) == len(payload)
    resp = wd.request("POST", "/close-delimited", b"to the end")
    assert resp.status == 200 and resp.body == b"to the end"
    assert "x-duration-seconds" in resp.headers


def test_large_bodies_are_byte_exact_both_ways(start_watchdog):
    wd = start_http(start_watchdog)
    for size in (65_535, 65_537, 5 * 1024 * 1024 + 3):
        payload = os.urandom(size)
        resp = wd.request("POST", "/binary", payload)
        assert resp.status == 200 and resp.body == payload, size


def test_upstream_closing_mid_response_is_a_marked_502(start_watchdog):
    wd = start_http(start_watchdog)
    resp = wd.request("GET", "/half", headers={"X-Call-Id": "c-half"})
    assert resp.status == 502 and resp.headers["x-swarmfaas-internal"] == "watchdog"
    doc = resp.json()
    assert doc["error"] == "upstream_unavailable" and doc["component"] == "watchdog"
    assert doc["call_id"] == "c-half"
    assert wd.request("GET", "/").status == 200


def test_body_over_limit_is_413_before_the_upstream_sees_anything(start_watchdog):
    wd = start_http(start_watchdog, request_limit="1KiB")
    resp = wd.request("POST", "/too-big", b"x" * 2048)
    assert resp.status == 413 and resp.json()["error"] == "request_too_large"
    body = b"800\r\n" + b"y" * 2048 + b"\r\n0\r\n\r\n"
    chunked = raw_exchange(wd.port, b"POST /too-big-chunked HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n" + body, 1)
    assert chunked.startswith(b"HTTP/1.1 413")
    assert wd.request("POST", "/fits", b"x" * 1024).status == 200
    seen = json.loads(wd.request("GET", "/log").body)
    assert "/fits" in seen and not any(p.startswith("/too-big") for p in seen)


def test_upstream_headers_policy(start_watchdog):
    wd = start_http(start_watchdog, content_type="text/x-set")
    resp = wd.request("GET", "/own-headers", headers={"X-Call-Id": "from-client"})
    assert resp.status == 200
    assert resp.headers["x-duration-seconds"] != "999"  # ours replaces the upstream's
    assert resp.headers["x-call-id"] == "from-upstream"
    assert resp.headers["content-type"] == "application/json"  # the upstream's wins
    assert "connection" not in resp.headers  # its Connection: close is hop-by-hop
    resp = wd.request("GET", "/close-delimited", headers={"X-Call-Id": "k9"})
    assert resp.headers["content-type"] == "text/plain" and resp.headers["x-call-id"] == "k9"


def test_client_disconnect_mid_request_is_counted_and_spoils_nothing(start_watchdog):
    wd = start_http(start_watchdog)
    with socket.create_connection(("127.0.0.1", wd.port)) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
    assert wait_for(lambda: wd.metric('fwatchdog_requests_total{status="499"}') == 1, 5)
    assert wd.metric("fwatchdog_inflight_requests") == 0
    assert wd.request("GET", "/").status == 200


def test_client_gone_while_a_large_response_is_written(start_watchdog):
    wd = start_http(start_watchdog)
    with socket.create_connection(("127.0.0.1", wd.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        body = os.urandom(8 * 1024 * 1024)
        sock.sendall(b"POST /binary HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                     % len(body) + body)
        sock.recv(1000)  # the response has started; leave without reading the rest
    assert wd.request("GET", "/").status == 200
    assert wd.proc.poll() is None


def test_max_inflight_429_in_http_mode(start_watchdog):
    wd = start_http(start_watchdog, max_inflight="1")
    with socket.create_connection(("127.0.0.1", wd.port)) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wait_for(lambda: wd.metric("fwatchdog_inflight_requests") == 1, 5)
        resp = wd.request("GET", "/")
        assert resp.status == 429 and resp.headers["retry-after"] == "1"
        assert resp.json()["component"] == "watchdog"


def test_exec_timeouts_are_504_each_and_the_relay_recovers(start_watchdog):
    wd = start_http(start_watchdog, exec_timeout="400ms")
    started = time.monotonic()
    results = []

    def one() -> None:
        results.append(wd.request("GET", "/slow").status)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    for t in threads:
        t.join()
    assert results == [504, 504, 504]
    assert time.monotonic() - started < 3  # each at ~0.4 s, not at the upstream's 5 s
    assert wd.request("GET", "/").status == 200
    assert wd.metric('fwatchdog_requests_total{status="504"}') == 3


def test_request_naming_private_hop_fields_goes_the_general_way(start_watchdog):
    wd = start_http(start_watchdog)
    resp = wd.request("POST", "/general", b"abc", {"Connection": "keep-alive, X-Private",
                                                     "X-Private": "secret", "X-Kept": "k"})
    seen = json.loads(resp.body)
    assert resp.status == 200 and seen["body_len"] == 3 and seen["headers"]["x-kept"] == "k"
    assert "x-private" not in seen["headers"] and "connection" not in seen["headers"]
    got = raw_exchange(wd.port, b"GET /no-host HTTP/1.0\r\n\r\n", 1)  # Host added for it
    assert got.startswith(b"HTTP/1.1 200") and b'"host": "127.0.0.1:' in got
