"""No reloads: the sidecar appears after nginx, moves, and is joined by
another, and a renewed certificate is served, all with the same nginx
workers and without closing a client's kept-alive connection."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest
from ng_harness import (
    Front,
    SteadyLoop,
    need_binary,
    served_serial,
    start_supervised,
    tls_context,
    world_readable_dir,
)

from swarmfaas_nginx.settings import load_settings
from swarmfaas_nginx.supervisor import Supervisor

pytestmark = pytest.mark.slow

REFUSING_PORT = 18527  # nothing listens here: a connect is refused at once


def test_sidecars_are_picked_up_without_a_reload_or_a_closed_connection(
    monkeypatch, dev_ca, upstream, start_front
):
    start_front  # noqa: B018 - needs nginx (skips without it)
    front = start_supervised(monkeypatch, dev_ca, "ng-late-", 18525, 18526)
    sup, base = front.supervisor, front.base
    # One kept-alive client connection through every change: a reload would
    # close it while idle (http.client then raises RemoteDisconnected).
    conn = http.client.HTTPSConnection("localhost", 18525, timeout=10,
                                       context=tls_context(dev_ca / "ca.pem"))

    def call() -> tuple[int, dict]:
        conn.request("POST", "/function/echo", body=b"x")
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    def changed_to(addresses: tuple[str, ...], status: int) -> None:
        front.sidecars(*addresses)
        deadline = time.monotonic() + 5  # the workers read the list every 0.25 s
        while call()[0] != status:
            assert time.monotonic() < deadline, f"still not {status} with {addresses}"
            time.sleep(0.05)

    try:
        from ng_harness import wait_port

        wait_port(18525)
        status, body = call()
        assert status == 502 and body["error"] == "sidecar_unreachable"
        pid = int((base / "state" / "nginx.pid").read_text())
        workers = worker_pids(pid)

        changed_to(("127.0.0.1:18503",), 200)
        # A sidecar that refuses next to one that answers: every call is
        # answered (nginx tries the other one), whichever nginx picks first.
        changed_to(("127.0.0.1:18503", f"127.0.0.1:{REFUSING_PORT}"), 200)
        assert all(call()[0] == 200 for _ in range(20))
        changed_to((f"127.0.0.1:{REFUSING_PORT}",), 502)
        assert call()[1]["error"] == "sidecar_unreachable"
        changed_to(("127.0.0.1:18503",), 200)

        front.answers[0] = ()  # the name vanished for a moment: keep the last addresses
        assert sup.check_once() is False
        assert call()[0] == 200
        assert sup.sidecar_changes == 4
        assert int((base / "state" / "nginx.pid").read_text()) == pid
        assert worker_pids(pid) == workers  # never reloaded
        assert sup.process.poll() is None
    finally:
        conn.close()
        front.stop()


def worker_pids(master: int) -> set[int]:
    """nginx's worker processes: the children of its master."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:  # fields: state, ppid, ...
            found.add(int(stat.parent.name))
    return found


def renewed(dev_ca: Path, other_ca: Path) -> bytes:
    """The development certificate renewed as certbot renews (--reuse-key): a
    new certificate, from another CA, for the same key."""
    import dev_cert
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = x509.load_pem_x509_certificate((other_ca / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((other_ca / "ca-key.pem").read_bytes(), None)
    key = serialization.load_pem_private_key((dev_ca / "key.pem").read_bytes(), None)
    cert, _ = dev_cert.make_leaf(("localhost",), ca, ca_key, key)  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM)


def test_a_mismatched_pair_is_never_installed(start_front, dev_ca, upstream):
    import dev_cert

    front = start_front(18527, 18528, DOMAIN="localhost")
    other_ca = world_readable_dir("ng-ca2-")
    try:
        dev_cert.ensure(str(other_ca), ("localhost",))
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(str(dev_ca / "ca.pem"))
        ctx.load_verify_locations(str(other_ca / "ca.pem"))
        first = served_serial(front.https_port, ctx, "localhost")
        live = front.letsencrypt / "live" / "localhost"
        live.mkdir(parents=True)
        with SteadyLoop(front.https_port, ctx, "localhost") as loop:
            time.sleep(0.5)
            # A mismatched pair (certbot mid-swap) is never installed.
            (live / "privkey.pem").write_bytes((dev_ca / "key.pem").read_bytes())
            (live / "fullchain.pem").write_bytes((other_ca / "cert.pem").read_bytes())
            time.sleep(1.0)
            assert loop.serials[-1] == first
            assert "do not load together" in front.log.read_text()
            (live / "fullchain.pem").write_bytes(renewed(dev_ca, other_ca))
            assert loop.wait_for_serial_change(first, timeout=5)
            time.sleep(0.5)
        assert loop.failures == []
        assert loop.ok > 20
        assert "now serving the acme certificate" in front.log.read_text()
    finally:
        shutil.rmtree(other_ca, ignore_errors=True)


class KeepAliveLoad:
    """POSTs back to back on one HTTP/1.1 keep-alive connection, in a thread:
    the traffic a reload breaks (the old worker closes the busy connection)."""

    def __init__(self, url: str, verify: ssl.SSLContext):
        self.client = httpx.Client(base_url=url, verify=verify, timeout=10)
        self.ok, self.failures, self.ports = 0, [], set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                r = self.client.post("/function/echo", content=b"busy")
                assert r.status_code == 200, r.status_code
                self.ports.add(r.extensions["network_stream"].get_extra_info("client_addr")[1])
                self.ok += 1
            except Exception as exc:  # every failure is the finding
                self.failures.append(repr(exc))

    def __enter__(self) -> KeepAliveLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)
        self.client.close()


def test_renewed_certificate_is_served_to_new_connections_without_a_reload(
        start_front, dev_ca, upstream):
    """certbot renews (same key, --reuse-key): new connections get the new
    certificate within a watch interval, with no reload. The same nginx
    workers serve on (their PIDs are unchanged); idle HTTP/1.1 keep-alive and
    HTTP/2 connections opened before go on, on the very same connection, with
    the certificate they shook hands with; and a busy keep-alive connection
    loses nothing (a reload closed it)."""
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
        # httpx drops a connection idle for 5 s itself: held longer here, so
        # that only nginx could close one.
        held = httpx.Limits(keepalive_expiry=300)
        idle += [httpx.Client(base_url=url, verify=trust(), timeout=10, http2=h2, limits=held)
                 for h2 in (False, False, True, True)]

        def port_of(r: httpx.Response) -> int:
            return r.extensions["network_stream"].get_extra_info("client_addr")[1]

        before = []
        for client in idle:
            r = client.get("/function/echo")
            assert r.status_code == 200
            before.append(port_of(r))
        assert [c.get("/function/echo").http_version for c in idle] == \
            ["HTTP/1.1"] * 2 + ["HTTP/2"] * 2
        master = front.nginx_pid()
        workers = worker_pids(master)
        assert workers, "no nginx worker found"
        live = front.letsencrypt / "live" / "localhost"
        live.mkdir(parents=True)
        with (SteadyLoop(front.https_port, ctx, "localhost") as loop,
              KeepAliveLoad(url, trust()) as busy):
            time.sleep(0.5)
            (live / "privkey.pem").write_bytes((dev_ca / "key.pem").read_bytes())
            (live / "fullchain.pem").write_bytes(renewed(dev_ca, other_ca))
            assert loop.wait_for_serial_change(first, timeout=30), \
                (loop.ok, len(loop.serials), loop.failures[-3:], front.log.read_text()[-2000:])
            time.sleep(1.0)
        # New connections: the new certificate, from the same nginx.
        assert served_serial(front.https_port, tls_context(other_ca / "ca.pem"), "localhost")
        assert front.nginx_pid() == master
        assert worker_pids(master) == workers, "nginx's workers changed: it was reloaded"
        assert "installed, no reload" in front.log.read_text()
        assert "reloaded nginx" not in front.log.read_text()
        # The busy keep-alive connection never broke.
        assert busy.failures == [] and busy.ok > 20, (busy.ok, busy.failures[:3])
        assert len(busy.ports) == 1, f"the busy connection was replaced: {busy.ports}"
        assert loop.failures == []
        # The idle connections: untouched, still on their first handshake.
        for n, client in enumerate(idle):
            r = client.get("/function/echo")
            assert r.status_code == 200
            assert port_of(r) == before[n], f"connection {n} was closed and opened again"
            ssl_object = r.extensions["network_stream"].get_extra_info("ssl_object")
            from cryptography import x509

            cert = x509.load_der_x509_certificate(ssl_object.getpeercert(True))
            assert cert.serial_number == first
    finally:
        for client in idle:
            client.close()
        shutil.rmtree(other_ca, ignore_errors=True)


def test_served_key_is_readable_by_the_workers_only(start_front, dev_ca):
    """The workers (www-data) read the key at each handshake: the file is the
    workers' group's, never the world's, and the directory lists for no one."""
    front = start_front(18543, 18544)
    served = front.state / "tls" / "served.pem"
    if os.geteuid() != 0:
        pytest.skip("nginx switches to its worker user only when started as root")
    import grp

    gid = grp.getgrnam("www-data").gr_gid
    assert served.stat().st_gid == gid and served.stat().st_mode & 0o777 == 0o640
    tls_dir = served.parent
    assert tls_dir.stat().st_gid == gid and tls_dir.stat().st_mode & 0o777 == 0o710
    assert b"PRIVATE KEY" in served.read_bytes()


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


def test_a_worker_user_without_its_group_is_named_at_start_up(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the group matters only when nginx starts as root")
    settings = load_settings({"NGINX_STATE_DIR": str(tmp_path), "NGINX_USER": "nobody-sfx"})
    with pytest.raises(RuntimeError, match="NGINX_USER: no group named 'nobody-sfx'"):
        Supervisor(settings).prepare_dirs()
