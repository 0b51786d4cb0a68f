"""Graceful reloads: the sidecar appears after nginx, and a new certificate is
picked up with no restart and no failed request."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import time
from pathlib import Path

import httpx
import pytest
from ng_harness import (
    Front,
    SteadyLoop,
    need_binary,
    served_serial,
    tls_context,
    world_readable_dir,
)

from swarmfaas_nginx import upstream as upstream_mod
from swarmfaas_nginx.settings import load_settings
from swarmfaas_nginx.supervisor import Supervisor

pytestmark = pytest.mark.slow


def test_sidecar_that_resolves_later_is_picked_up_by_a_reload(
    monkeypatch, dev_ca, upstream, start_front
):
    start_front  # noqa: B018 - needs nginx (skips without it)
    answers: list[tuple[str, ...]] = [()]
    # The one narrow fake: DNS (the real swarm DNS is exercised by the image test).
    monkeypatch.setattr(upstream_mod, "resolve", lambda host, port: answers[0])
    base = world_readable_dir("ng-late-")
    settings = load_settings(
        {
            "DOMAIN": "localhost",
            "SIDECAR_UPSTREAM": "sidecar:8080",
            "NGINX_STATE_DIR": str(base / "state"),
            "ACME_WEBROOT": str(base / "www"),
            "LETSENCRYPT_DIR": str(base / "le"),
            "TLS_CERT_FILE": str(dev_ca / "cert.pem"),
            "TLS_KEY_FILE": str(dev_ca / "key.pem"),
            "LISTEN_HTTPS_PORT": "18525",
            "LISTEN_HTTP_PORT": "18526",
            "NGINX_BIND": "loopback",
            "NGINX_ACCESS_LOG": "off",
        }
    )
    sup = Supervisor(settings)
    sup.start()
    try:
        from ng_harness import wait_port

        wait_port(18525)
        url = "https://localhost:18525/function/echo"
        verify = tls_context(dev_ca / "ca.pem")
        first = httpx.get(url, verify=verify)
        assert first.status_code == 502 and first.json()["error"] == "sidecar_unreachable"
        pid = int((base / "state" / "nginx.pid").read_text())

        answers[0] = ("127.0.0.1:18503",)
        assert sup.check_once() is True
        time.sleep(0.5)
        assert httpx.get(url, verify=verify).status_code == 200

        answers[0] = ()  # the name vanished for a moment: keep the last addresses
        assert sup.check_once() is False
        assert httpx.get(url, verify=verify).status_code == 200
        assert int((base / "state" / "nginx.pid").read_text()) == pid
        assert sup.process.poll() is None
    finally:
        sup.stop()
        sup.process.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def test_new_certificate_is_served_after_a_graceful_reload(start_front, dev_ca, upstream):
    import dev_cert

    front = start_front(18527, 18528, DOMAIN="localhost")
    other_ca = world_readable_dir("ng-ca2-")
    try:
        dev_cert.ensure(str(other_ca), ("localhost",))
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(str(dev_ca / "ca.pem"))
        ctx.load_verify_locations(str(other_ca / "ca.pem"))
        first = served_serial(front.https_port, ctx, "localhost")
        pid = front.nginx_pid()
        live = front.letsencrypt / "live" / "localhost"
        live.mkdir(parents=True)
        with SteadyLoop(front.https_port, ctx, "localhost") as loop:
            time.sleep(0.5)
            # A mismatched pair (certbot mid-swap) is never installed.
            (live / "privkey.pem").write_bytes((dev_ca / "key.pem").read_bytes())
            (live / "fullchain.pem").write_bytes((other_ca / "cert.pem").read_bytes())
            time.sleep(1.0)
            assert loop.serials[-1] == first
            (live / "privkey.pem").write_bytes((other_ca / "key.pem").read_bytes())
            assert loop.wait_for_serial_change(first, timeout=5)
            time.sleep(0.5)
        assert loop.failures == []
        assert loop.ok > 20
        assert front.nginx_pid() == pid  # reloaded, not restarted
        assert "now serving the acme certificate" in front.log.read_text()
        assert served_serial(front.https_port, tls_context(other_ca / "ca.pem"), "localhost")
    finally:
        shutil.rmtree(other_ca, ignore_errors=True)


def test_idle_keepalive_and_http2_connections_are_served_again_after_a_certificate_reload(
        start_front, dev_ca, upstream):
    """Idle HTTP/1.1 keep-alive and HTTP/2 connections opened before a reload
    and used again after it: nginx's old workers close them (HTTP/2 with a
    GOAWAY), and a client that keeps to the protocol reconnects with no
    failed request. The deployed stack's form is
    tests/e2e/reliability/test_faults_under_load.py."""
    import dev_cert

    front = start_front(18541, 18542, DOMAIN="localhost")
    other_ca = world_readable_dir("ng-ca3-")
    idle: list[httpx.Client] = []
    try:
        dev_cert.ensure(str(other_ca), ("localhost",))

        def trust() -> ssl.SSLContext:
            # One each: httpx sets ALPN (h2) on the context it is given.
            ctx = ssl.create_default_context()
            ctx.load_verify_locations(str(dev_ca / "ca.pem"))
            ctx.load_verify_locations(str(other_ca / "ca.pem"))
            return ctx

        ctx = trust()
        first = served_serial(front.https_port, ctx, "localhost")
        url = f"https://localhost:{front.https_port}"
        idle += [httpx.Client(base_url=url, verify=trust(), timeout=10, http2=h2)
                 for h2 in (False, False, False, True, True, True)]
        for client in idle:
            r = client.get("/function/echo")
            assert r.status_code == 200
        assert [c.get("/function/echo").http_version for c in idle] == \
            ["HTTP/1.1"] * 3 + ["HTTP/2"] * 3
        live = front.letsencrypt / "live" / "localhost"
        live.mkdir(parents=True)
        with SteadyLoop(front.https_port, ctx, "localhost") as loop:
            (live / "privkey.pem").write_bytes((other_ca / "key.pem").read_bytes())
            (live / "fullchain.pem").write_bytes((other_ca / "cert.pem").read_bytes())
            assert loop.wait_for_serial_change(first, timeout=30), \
                (loop.ok, len(loop.serials), loop.failures[-3:], front.log.read_text()[-2000:])
            time.sleep(1.0)  # the old workers have ended what was idle
            failures = []
            for n, client in enumerate(idle):
                try:
                    r = client.get("/function/echo")
                    if r.status_code != 200:
                        failures.append(f"{n}: {r.status_code}")
                except httpx.HTTPError as exc:
                    failures.append(f"{n} ({'h2' if n >= 3 else 'h1'}): {exc!r}")
        assert failures == []
        assert loop.failures == []
    finally:
        for client in idle:
            client.close()
        shutil.rmtree(other_ca, ignore_errors=True)


def test_a_broken_acme_certificate_does_not_stop_nginx_from_starting(start_front, dev_ca):
    base_le = world_readable_dir("ng-broken-le-")
    live = base_le / "live" / "localhost"
    live.mkdir(parents=True)
    (live / "fullchain.pem").write_text("not a certificate")
    (live / "privkey.pem").write_text("not a key")
    try:
        front = start_front(18529, 18530, DOMAIN="localhost", LETSENCRYPT_DIR=str(base_le))
        resp = httpx.get(
            f"https://localhost:{front.https_port}/function/echo",
            verify=tls_context(dev_ca / "ca.pem"),
        )
        assert resp.status_code == 200  # served with the default (development) certificate
        assert "serving the default certificate" in front.log.read_text()
    finally:
        shutil.rmtree(base_le, ignore_errors=True)


def nginx_masters_under(state: Path) -> list[int]:
    """PIDs of nginx processes whose command line names this state directory."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if cmdline.startswith(b"nginx") and str(state).encode() in cmdline:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.6])
def test_a_stop_while_starting_leaves_no_nginx_behind(dev_ca, upstream, delay):
    need_binary("nginx")
    front = Front(18527, 18528, world_readable_dir("ng-stop-"), {
        "TLS_CERT_FILE": str(dev_ca / "cert.pem"),
        "TLS_KEY_FILE": str(dev_ca / "key.pem"),
        "SIDECAR_UPSTREAM": f"127.0.0.1:{upstream.port}",
    })
    front.launch()
    try:
        time.sleep(delay)  # somewhere in start-up: imports, nginx -t, nginx starting
        front.process.send_signal(signal.SIGTERM)
        front.process.wait(15)
        deadline = time.monotonic() + 5
        while nginx_masters_under(front.state) and time.monotonic() < deadline:
            time.sleep(0.1)  # SIGQUIT is a graceful stop: give it a moment
        assert nginx_masters_under(front.state) == [], front.log.read_text()
    finally:
        for pid in nginx_masters_under(front.state):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(front.base, ignore_errors=True)
