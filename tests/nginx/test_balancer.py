"""nginx's balancer (sidecars.lua) rests a sidecar whose connect timed out:
a sidecar on a node gone silent costs one request a connect timeout, not
every n-th request until Docker's DNS drops it. Real nginx, a real silent
listener (its accept queue full, so the kernel drops new connects)."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator

import pytest
from ng_harness import start_supervised, tls_context, wait_port

pytestmark = pytest.mark.slow

HTTPS, HTTP, SILENT = 18591, 18592, 18593
CONNECT_TIMEOUT = 1  # NGINX_PROXY_CONNECT_TIMEOUT, seconds


@pytest.fixture
def silent_sidecar() -> Iterator[str]:
    """An address whose connects time out: a listener that never accepts, its
    queue filled, so the kernel drops every new SYN (as a node that lost power
    does not answer them)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", SILENT))
    listener.listen(0)
    fill = []
    for _ in range(3):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", SILENT))
        fill.append(client)
    time.sleep(0.2)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        with pytest.raises(TimeoutError):  # the premise: connects time out
            probe.connect(("127.0.0.1", SILENT))
        yield f"127.0.0.1:{SILENT}"
    finally:
        for s in (probe, *fill, listener):
            s.close()


def test_a_sidecar_whose_connect_timed_out_rests(monkeypatch, dev_ca, upstream,
                                                 start_front, silent_sidecar):
    start_front  # noqa: B018 - needs nginx (skips without it)
    # One worker: the rest is each worker's own, and the count below is one worker's.
    front = start_supervised(monkeypatch, dev_ca, "ng-rest-", HTTPS, HTTP,
                             NGINX_PROXY_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
                             NGINX_WORKER_PROCESSES="1")
    conn = http.client.HTTPSConnection("localhost", HTTPS, timeout=10,
                                       context=tls_context(dev_ca / "ca.pem"))
    try:
        wait_port(HTTPS)
        front.sidecars("127.0.0.1:18503", silent_sidecar)
        time.sleep(0.6)  # the worker reads the list every 0.25 s
        took = []
        for _ in range(12):
            started = time.monotonic()
            conn.request("POST", "/function/echo", body=b"x")
            response = conn.getresponse()
            body = response.read()
            took.append(time.monotonic() - started)
            assert response.status == 200, body
        slow = [t for t in took if t >= CONNECT_TIMEOUT * 0.9]
        # Round robin without the rest: every second request waits out the
        # connect timeout on the silent sidecar (6 of 12). With it: at most the first.
        assert len(slow) <= 1, took
        assert max(took) < CONNECT_TIMEOUT + 1.0, took  # the slow one went on to the other

        # Only the silent sidecar left: it is still tried (a resting sidecar is
        # a last resort, never a refusal of nginx's own), and times out: 504.
        front.sidecars(silent_sidecar)
        time.sleep(0.6)
        started = time.monotonic()
        conn.request("POST", "/function/echo", body=b"x")
        response = conn.getresponse()
        body = json.loads(response.read())
        assert response.status == 504 and body["error"] == "gateway_timeout", body
        assert time.monotonic() - started >= CONNECT_TIMEOUT * 0.9
    finally:
        conn.close()
        front.stop()
