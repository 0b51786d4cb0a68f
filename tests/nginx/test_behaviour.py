"""The front door's behaviour: a real nginx (run by the real supervisor, with
the rendered configuration) in front of a small recording upstream."""

from __future__ import annotations

import json
import socket
import ssl
import time

import httpx
import pytest
from ng_harness import raw_https, tls_context

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(front, dev_ca):
    with httpx.Client(
        base_url=f"https://localhost:{front.https_port}",
        verify=tls_context(dev_ca / "ca.pem"),
        timeout=10,
    ) as c:
        yield c


def is_nginx_error(resp: httpx.Response, status: int, error: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["x-swarmfaas-internal"] == "nginx"
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["error"] == error and body["status"] == status and body["component"] == "nginx"
    assert body["call_id"]
    return body


def reached(upstream, path: str) -> bool:
    return any(s.path == path for s in upstream.seen)


# -- HTTP port -------------------------------------------------------------------
def test_http_redirects_to_https_with_308(front):
    resp = httpx.get(f"http://localhost:{front.http_port}/function/echo?x=1")
    assert resp.status_code == 308
    assert resp.headers["location"] == f"https://localhost:{front.https_port}/function/echo?x=1"
    post = httpx.post(f"http://localhost:{front.http_port}/alexa", content=b"{}")
    assert post.status_code == 308  # keeps the method: not a 301/302 that turns POST into GET


def test_http_serves_the_acme_challenge_from_the_webroot(front):
    challenge = front.webroot / ".well-known" / "acme-challenge"
    (challenge / "tok-123").write_text("tok-123.thumbprint")
    (challenge / "tok-123").chmod(0o644)
    resp = httpx.get(f"http://localhost:{front.http_port}/.well-known/acme-challenge/tok-123")
    assert resp.status_code == 200 and resp.text == "tok-123.thumbprint"
    missing = httpx.get(f"http://localhost:{front.http_port}/.well-known/acme-challenge/nope")
    is_nginx_error(missing, 404, "not_found")


def test_health_path_only_from_loopback_and_on_http(front):
    resp = httpx.get(f"http://127.0.0.1:{front.http_port}/.swarmfaas/nginx-health")
    assert resp.status_code == 200 and resp.json()["status"] == "ok"


def test_the_image_health_check_probes_that_path(front, monkeypatch, capsys):
    from swarmfaas_nginx.health import main as health_check

    monkeypatch.setenv("LISTEN_HTTP_PORT", str(front.http_port))
    assert health_check() == 0
    # The HTTPS port answers a plain-HTTP request with nginx's 400: not healthy.
    monkeypatch.setenv("LISTEN_HTTP_PORT", str(front.https_port))
    assert health_check() == 1
    assert "400" in capsys.readouterr().err
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        monkeypatch.setenv("LISTEN_HTTP_PORT", str(unused.getsockname()[1]))
        assert health_check() == 1  # nothing listens there


# -- routes ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/function/echo", {}),
        ("POST", "/function/echo/sub/path?q=1", {}),
        ("POST", "/async-function/echo/sub?q=1", {}),
        ("POST", "/alexa", {"Content-Type": "application/json"}),
        ("POST", "/", {"Content-Type": "application/json"}),  # Alexa skill endpoint at /
        ("GET", "/hooks/github", {"X-Function": "echo"}),
        ("PUT", "/", {"X-Function": "echo"}),
        ("GET", "/system/functions", {"Authorization": "Basic eDp5"}),
        ("GET", "/healthz", {}),
    ],
)
def test_routes_reach_the_sidecar(client, upstream, method, path, headers):
    resp = client.request(method, path, headers=headers, content=b'{"a": 1}')
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"from": "upstream", "path": path}
    seen = upstream.seen[-1]
    assert (seen.method, seen.path) == (method, path)
    assert seen.headers["host"] == "localhost"
    assert seen.headers["x-forwarded-proto"] == "https"
    assert resp.headers["strict-transport-security"] == "max-age=63072000"
    assert resp.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/", 404, "not_found"),
        ("GET", "/wp-login.php", 404, "not_found"),
        ("POST", "/somewhere", 404, "not_found"),
        ("GET", "/function", 404, "not_found"),
        ("POST", "/async-function", 404, "not_found"),
        ("POST", "/system", 404, "not_found"),
        ("GET", "/metrics", 404, "not_found"),
        ("GET", "/alexa", 405, "method_not_allowed"),
    ],
)
def test_everything_else_is_a_json_error_and_never_reaches_the_sidecar(
    client, upstream, method, path, status, error
):
    before = len(upstream.seen)
    is_nginx_error(client.request(method, path), status, error)
    assert len(upstream.seen) == before


def test_unknown_host_gets_no_function(front, dev_ca, upstream):
    before = len(upstream.seen)
    # Right SNI, other Host header.
    with httpx.Client(verify=tls_context(dev_ca / "ca.pem")) as c:
        resp = c.get(
            f"https://localhost:{front.https_port}/function/echo",
            headers={"Host": "evil.example", "X-Function": "echo"},
        )
    is_nginx_error(resp, 421, "unknown_host")
    # An IP address as the host name (SNI absent).
    ctx = tls_context(dev_ca / "ca.pem")
    raw, _ = raw_https(
        front.https_port,
        ctx,
        "127.0.0.1",
        b"GET /function/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 421")
    assert len(upstream.seen) == before


def test_call_id_is_forwarded_made_and_logged(client, upstream, front):
    client.get("/function/echo", headers={"X-Call-Id": "abc-123"})
    assert upstream.seen[-1].headers["x-call-id"] == "abc-123"
    client.get("/function/echo")
    made = upstream.seen[-1].headers["x-call-id"]
    assert len(made) == 32 and int(made, 16) >= 0
    client.get("/function/echo", headers={"X-Call-Id": "no spaces allowed {}"})
    assert len(upstream.seen[-1].headers["x-call-id"]) == 32
    error = client.get("/nowhere", headers={"X-Call-Id": "err-1"}).json()
    assert error["call_id"] == "err-1"
    time.sleep(0.2)
    entries = {e["call_id"]: e for e in front.access_entries()}
    assert entries["abc-123"]["upstream_call_id"] == "up-abc-123"
    assert entries["abc-123"]["status"] == "200" and entries["abc-123"]["uri"] == "/function/echo"
    assert entries[made]["upstream_addr"] == "127.0.0.1:18503"
    assert entries["err-1"]["status"] == "404"


def test_client_cannot_spoof_forwarded_for(client, upstream):
    client.get("/function/echo", headers={"X-Forwarded-For": "203.0.113.9"})
    assert upstream.seen[-1].headers["x-forwarded-for"] == "127.0.0.1"
    assert upstream.seen[-1].headers["x-real-ip"] == "127.0.0.1"


# -- limits ----------------------------------------------------------------------
def test_body_over_the_limit_gets_413_from_nginx(client, upstream):
    before = len(upstream.seen)
    is_nginx_error(client.post("/function/echo", content=b"x" * 4096), 413, "body_too_large")
    assert len(upstream.seen) == before
    ok = client.post("/function/echo", content=b"x" * 1000)
    assert ok.status_code == 200 and upstream.seen[-1].body == b"x" * 1000


def test_slow_upstream_gets_504_after_the_proxy_timeout(client):
    started = time.monotonic()
    resp = client.get("/function/sleep", headers={"X-Sleep": "4"})
    took = time.monotonic() - started
    is_nginx_error(resp, 504, "gateway_timeout")
    assert 1.5 < took < 3.9  # NGINX_PROXY_TIMEOUT=2


def test_sidecar_down_is_a_json_502(start_front):
    # Nothing listens on 18599: nginx still starts and answers for the sidecar.
    other = start_front(18505, 18506, DOMAIN="localhost", SIDECAR_UPSTREAM="127.0.0.1:18599")
    with httpx.Client(verify=False) as c:
        resp = c.get(f"https://localhost:{other.https_port}/function/echo")
    is_nginx_error(resp, 502, "sidecar_unreachable")


def _time_until_closed(front, dev_ca, payload: bytes) -> tuple[float, bytes]:
    ctx = tls_context(dev_ca / "ca.pem")
    sock = socket.create_connection(("127.0.0.1", front.https_port), timeout=10)
    tls = ctx.wrap_socket(sock, server_hostname="localhost")
    tls.sendall(payload)
    started = time.monotonic()
    data = b""
    try:
        while chunk := tls.recv(4096):
            data += chunk
    except (ssl.SSLError, ConnectionResetError):
        pass
    took = time.monotonic() - started
    tls.close()
    return took, data


def test_slow_client_headers_are_timed_out(front, dev_ca, upstream):
    before = len(upstream.seen)
    took, _ = _time_until_closed(
        front, dev_ca, b"GET /function/echo HTTP/1.1\r\nHost: localhost\r\n"
    )
    assert 1.5 < took < 6  # NGINX_CLIENT_HEADER_TIMEOUT=2
    assert len(upstream.seen) == before


def test_slow_client_body_is_timed_out(front, dev_ca, upstream):
    before = len(upstream.seen)
    took, _ = _time_until_closed(
        front,
        dev_ca,
        b"POST /function/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789",
    )
    assert 1.5 < took < 6  # NGINX_CLIENT_BODY_TIMEOUT=2
    assert len(upstream.seen) == before
    time.sleep(0.2)
    assert any(e["status"] == "408" for e in front.access_entries())


def test_over_the_rate_limit_gets_429(start_front, dev_ca, upstream):
    limited = start_front(
        18511, 18512, DOMAIN="localhost", NGINX_RATE_LIMIT="1", NGINX_RATE_BURST="2"
    )
    statuses = []
    with httpx.Client(verify=tls_context(dev_ca / "ca.pem")) as c:
        for _ in range(8):
            resp = c.get(f"https://localhost:{limited.https_port}/function/echo")
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                body = is_nginx_error(resp, 429, "rate_limited")
                assert resp.headers["retry-after"] == "1" and body["reason"]
        assert statuses.count(200) in (3, 4)  # 1 + burst 2 (+1 if a second ticked over)
        assert statuses.count(429) >= 4
        # /healthz is not rate limited (load balancers and monitors poll it).
        assert c.get(f"https://localhost:{limited.https_port}/healthz").status_code == 200
    # Every refusal is counted in the access log: limit_req REJECTED, status 429.
    rejected = [e for e in limited.access_entries() if e["limit_req"] == "REJECTED"]
    assert len(rejected) == statuses.count(429)
    assert {e["status"] for e in rejected} == {"429"}


def test_the_default_front_door_takes_a_burst_from_one_address(start_front, dev_ca, upstream):
    """Per-client limiting is opt-in: one address may be many senders."""
    from concurrent.futures import ThreadPoolExecutor

    default = start_front(18531, 18532, DOMAIN="localhost")
    url = f"https://localhost:{default.https_port}/function/echo"
    with httpx.Client(verify=tls_context(dev_ca / "ca.pem"), timeout=10) as c:

        def calls(_: int) -> list[int]:
            return [c.post(url, content=b"x").status_code for _ in range(25)]

        with ThreadPoolExecutor(16) as pool:
            statuses = [s for batch in pool.map(calls, range(16)) for s in batch]
    assert statuses == [200] * 400  # the old default (20 r/s, burst 40) refused most
    assert "limit_req " not in (default.state / "nginx.conf").read_text()


def test_trusted_proxies_give_the_client_address(start_front, dev_ca, upstream):
    behind = start_front(
        18533,
        18534,
        DOMAIN="localhost",
        NGINX_TRUSTED_PROXIES="127.0.0.1,198.51.100.0/24",
        NGINX_RATE_LIMIT="1",
        NGINX_RATE_BURST="1",
    )
    url = f"https://localhost:{behind.https_port}/function/echo"

    def call(forwarded_for: str) -> int:
        resp = c.get(url, headers={"X-Forwarded-For": forwarded_for})
        return resp.status_code

    with httpx.Client(verify=tls_context(dev_ca / "ca.pem")) as c:
        assert call("203.0.113.5") == 200
        assert upstream.seen[-1].headers["x-forwarded-for"] == "203.0.113.5"
        # The last address not from a trusted proxy: what the client put in
        # front of the chain is not believed.
        assert call("192.0.2.66, 203.0.113.6, 198.51.100.7") == 200
        assert upstream.seen[-1].headers["x-real-ip"] == "203.0.113.6"
        # The rate limit is per client behind the proxy, not per proxy.
        a = [call("203.0.113.10") for _ in range(4)]
        assert a.count(429) >= 1
        assert call("203.0.113.11") == 200
    entry = next(e for e in behind.access_entries() if e["remote_addr"] == "203.0.113.5")
    assert entry["peer_addr"] == "127.0.0.1"


# -- development mode --------------------------------------------------------------
def test_development_mode_serves_any_host_without_hsts(start_front, dev_ca, upstream):
    dev = start_front(18521, 18522, METRICS_PUBLIC="true")
    with httpx.Client(verify=tls_context(dev_ca / "ca.pem")) as c:
        resp = c.get(f"https://127.0.0.1:{dev.https_port}/function/echo")
        assert resp.status_code == 200
        assert "strict-transport-security" not in resp.headers
        metrics = c.get(f"https://localhost:{dev.https_port}/metrics")
        assert metrics.status_code == 200 and upstream.seen[-1].path == "/metrics"
        # The certificate covers ::1 too.
        v6 = c.get(f"https://[::1]:{dev.https_port}/function/echo")
        assert v6.status_code == 200


def test_http2_is_negotiated(front, dev_ca):
    ctx = tls_context(dev_ca / "ca.pem")
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", front.https_port)) as sock,
        ctx.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.3", "TLSv1.2")


def test_access_log_lines_are_json(front):
    time.sleep(0.2)
    lines = front.access_log.read_text().splitlines()
    assert lines
    for line in lines:
        json.loads(line)


def test_a_real_http2_client_gets_answers(front, dev_ca, upstream):
    import shutil
    import subprocess

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--http2",
            "--cacert",
            str(dev_ca / "ca.pem"),
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            "-H",
            "X-Function: echo",
            f"https://localhost:{front.https_port}/anything",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.stdout == "2 200", done.stderr
    assert upstream.seen[-1].path == "/anything"
