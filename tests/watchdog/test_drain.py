"""A draining watchdog answers new requests 503 replica_draining, never runs them.

After SIGTERM and healthcheck_interval the watchdog drains: what is in flight
finishes, and each new request (on a new connection, or the next one on a
kept-alive connection) gets the platform's 503 marked X-Swarmfaas-Draining,
answered at its head, so that a sidecar whose routing table still has the
replica sends it to another one (docs/watchdog.md, "SIGTERM").
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from test_http_mode import start_http
from wdkit import Watchdog, wait_for

# One line per run in $TMPDIR/runs; a run of /slow takes 1.5 s. The tests use
# one worker: in a pool each worker drains on its own, and one with nothing in
# flight exits (closing its connections) while another still drains.
RECORDING = ("sh -c 'echo \"$Http_Path\" >> \"$TMPDIR/runs\"; "
             "if [ \"$Http_Path\" = /slow ]; then sleep 1.5; fi; echo done'")


def runs(wd: Watchdog) -> list[str]:
    path = wd.tmp / "runs"
    return path.read_text().split() if path.exists() else []


def assert_draining(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 503, body
    assert headers["x-swarmfaas-draining"] == "1"
    assert headers["x-swarmfaas-internal"] == "watchdog"
    assert headers["connection"] == "close"
    doc = json.loads(body)
    assert (doc["error"], doc["status"], doc["component"]) == ("replica_draining", 503,
                                                               "watchdog")


def draining_with_one_in_flight(wd: Watchdog, pool: ThreadPoolExecutor, path: str = "/slow"):
    """SIGTERM while a call of `path` runs; its future, once the drain began."""
    in_flight = pool.submit(wd.request, "GET", path)
    assert wait_for(lambda: wd.metric("fwatchdog_inflight_requests") == 1, 5)
    wd.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)  # healthcheck_interval is 0: the drain begins at once
    return in_flight


def test_a_new_request_while_draining_is_a_marked_503_and_never_runs(start_watchdog):
    wd = start_watchdog(fprocess=RECORDING, workers="1")
    with ThreadPoolExecutor(1) as pool:
        in_flight = draining_with_one_in_flight(wd, pool)
        resp = wd.request("POST", "/new", b"payload", {"X-Call-Id": "c-9"})
        assert_draining(resp.status, resp.headers, resp.body)
        assert json.loads(resp.body)["call_id"] == "c-9"
        assert wd.request("GET", "/_/health").status == 503  # system paths still answer
        done = in_flight.result()
    assert (done.status, done.body) == (200, b"done\n")
    assert runs(wd) == ["/slow"]  # /new never ran
    assert wd.proc.wait(10) == 0


def test_the_next_request_on_a_kept_alive_connection_is_a_marked_503(start_watchdog):
    wd = start_watchdog(fprocess=RECORDING, workers="1")
    conn = http.client.HTTPConnection("127.0.0.1", wd.port, timeout=10)
    conn.request("GET", "/before")
    first = conn.getresponse()
    assert (first.status, first.read()) == (200, b"done\n")
    with ThreadPoolExecutor(1) as pool:
        in_flight = draining_with_one_in_flight(wd, pool)
        conn.request("POST", "/after", body=b"x")  # the same, kept-alive, connection
        resp = conn.getresponse()
        assert_draining(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        assert in_flight.result().status == 200
    conn.close()
    assert runs(wd) == ["/before", "/slow"]
    assert wd.proc.wait(10) == 0


def test_a_draining_answer_comes_at_the_head_and_the_body_is_read_and_dropped(
        start_watchdog):
    wd = start_watchdog(fprocess=RECORDING, workers="1")
    body = b"b" * (4 << 20)
    with ThreadPoolExecutor(1) as pool:
        in_flight = draining_with_one_in_flight(wd, pool)
        with socket.create_connection(("127.0.0.1", wd.port), timeout=5) as sock:
            sock.sendall(b"POST /big HTTP/1.1\r\nHost: h\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body))
            answer = _read_until_closed(sock)  # before any byte of the body was sent
            sock.sendall(body)  # dropped by the watchdog, no reset
            assert sock.recv(1) == b""
        head, _, rest = answer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        assert_draining(int(lines[0].split()[1]), headers, rest)
        assert in_flight.result().status == 200
    assert runs(wd) == ["/slow"]
    assert wd.proc.wait(10) == 0


def _read_until_closed(sock: socket.socket) -> bytes:
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def test_the_port_stays_open_for_the_linger_then_closes(start_watchdog):
    # healthcheck_interval 1 s: serving for 1 s, then draining for drain_linger
    # (healthcheck_interval again) with nothing in flight, then the port closes.
    wd = start_watchdog(fprocess=RECORDING, workers="1", healthcheck_interval="1s")
    wd.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert wait_for(lambda: wd.request("GET", "/_/health").status == 503, 2)
    statuses = []
    while wd.proc.poll() is None and time.monotonic() - signalled < 5:
        try:
            statuses.append((time.monotonic() - signalled, wd.request("GET", "/").status))
        except OSError:
            break  # refused: the port closed
        time.sleep(0.05)
    assert wd.proc.wait(10) == 0
    served = [t for t, s in statuses if s == 200]
    draining = [t for t, s in statuses if s == 503]
    assert served and max(served) < 1.2
    assert draining and min(draining) > 0.9 and max(draining) > 1.7
    assert "/" in runs(wd) and len(runs(wd)) == len(served)


def test_http_mode_drains_relayed_requests_and_answers_new_ones_draining(start_watchdog):
    wd = start_http(start_watchdog, exec_timeout="20s", write_timeout="15s")
    results = []
    thread = threading.Thread(target=lambda: results.append(wd.request("GET", "/slow").status))
    thread.start()
    assert wait_for(lambda: wd.metric("fwatchdog_inflight_requests") == 1, 5)
    wd.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    resp = wd.request("POST", "/new", b"x" * 100)
    assert_draining(resp.status, resp.headers, resp.body)
    # A body still coming (the fast scan's path) is answered at its head too.
    with socket.create_connection(("127.0.0.1", wd.port), timeout=5) as sock:
        sock.sendall(b"POST /partial HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\nabc")
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 503")
    thread.join()
    assert results == [200]
    assert wd.proc.wait(15) == 0
