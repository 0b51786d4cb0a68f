"""A certificate renewal under a steady load, with idle HTTP/1.1 keep-alive
and HTTP/2 connections held open across it and used again afterwards: 0 failed.

This was an nginx reload (SIGHUP), and the busy keep-alive connections of the
steady load lost 5 POSTs to it (RemoteProtocolError: server disconnected
without a response: an old worker closes a keep-alive connection between two
requests). Now nginx loads the certificate at every handshake and a renewal is
one rename, with no reload: the same workers serve on (their PIDs are checked),
every connection open before the renewal is still the same connection after it,
and new connections get the new certificate (docs/https.md).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import ROOT, Platform, wait_for

# The steady load (judged at the end) and the function it posts to: the same
# as for the other faults under load.
from .test_faults_under_load import FUNCTION, docker, load  # noqa: F401 - load: a fixture

sys.path.insert(0, str(ROOT / "certs"))
sys.path.insert(0, str(ROOT / "tests" / "nginx"))

import dev_cert
from ng_harness import served_serial

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]

IDLE_CONNECTIONS = 4  # of each protocol, held across the renewal


# -- a certificate renewal -----------------------------------------------------

# Run inside the nginx container: the supervisor's own renewal step (the pair
# checked, then installed with one rename; no signal to nginx), as its watch
# loop takes it when certbot renews. The stack's default certificate is a
# Docker secret and cannot change in place, so the test hands the pair in.
# With no pair on stdin, the supervisor's own pair goes back. Prints the PIDs
# of nginx's master and workers after it.
RENEW = """
import json, os, sys
from pathlib import Path
from swarmfaas_nginx import tls
from swarmfaas_nginx.settings import load_settings
from swarmfaas_nginx.supervisor import Supervisor
s = load_settings(os.environ)
doc = sys.stdin.read()
if doc:
    d = json.loads(doc)
    source = tls.CertSource("renewal-test", "", "")
    pair = tls.CertPair(source, d["cert"].encode(), d["key"].encode())
else:
    pair = tls.read_best(tls.cert_sources(s))
assert tls.is_valid_pair(pair, s.tls_dir), "the pair does not match"
Supervisor(s).install_cert(pair)
master = int(Path(s.state_dir, "nginx.pid").read_text())
workers = sorted(int(p.parent.name) for p in Path("/proc").glob("[0-9]*/stat")
                 if int(p.read_text().rsplit(")", 1)[1].split()[1]) == master)
print(json.dumps([master, workers]))
"""


def nginx_container(stack: str) -> str:
    ids = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack}_nginx")
    assert len(ids.split()) == 1, f"wanted one running nginx container, got {ids.split()}"
    return ids.split()[0]


def renew_onto(container: str, pair: dict[str, str] | None) -> tuple[int, list[int]]:
    """Install `pair` (None: the supervisor's own) as a renewal does; nginx's
    master and worker PIDs afterwards."""
    done = subprocess.run(["docker", "exec", "-i", container, "python3", "-S", "-c", RENEW],
                          input=json.dumps(pair) if pair else "", capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    master, workers = json.loads(done.stdout)
    return master, workers


def new_leaf(platform: Platform) -> dict[str, str]:
    """A new certificate for the stack's names from the stack's own development
    CA (every client that trusts the stack trusts it too), for the served key,
    as certbot renews (--reuse-key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    certs = Path(platform.ca_file or "").parent
    if not (certs / "ca-key.pem").exists():
        pytest.skip(f"{certs}/ca-key.pem is missing: the stack's certificate is not the "
                    "development CA's (a real one cannot be re-issued here)")
    ca = x509.load_pem_x509_certificate((certs / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((certs / "ca-key.pem").read_bytes(), None)
    served_key = serialization.load_pem_private_key((certs / "key.pem").read_bytes(), None)
    cert, key = dev_cert.make_leaf(dev_cert.DEFAULT_NAMES, ca, ca_key,  # type: ignore[arg-type]
                                   served_key)  # type: ignore[arg-type]
    return {"cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode(),
            "serial": str(cert.serial_number)}


def client_port(response: httpx.Response) -> int:
    """The local port of the connection the response came on."""
    stream = response.extensions["network_stream"]
    return stream.get_extra_info("client_addr")[1]


@pytest.mark.usefixtures("load")
def test_certificate_renewal_under_load_with_idle_connections_held(platform: Platform) -> None:
    ctx = ssl.create_default_context(cafile=platform.ca_file)
    first_serial = served_serial(platform.https_port, ctx, "localhost")
    leaf = new_leaf(platform)
    container = nginx_container(platform.stack)
    # httpx drops a connection idle for 5 s itself: held longer here, so that
    # only nginx could close one.
    held = httpx.Limits(keepalive_expiry=300)
    idle = [httpx.Client(base_url=platform.base_url, verify=platform.verify, timeout=30,
                         http2=h2, limits=held)
            for h2 in [False] * IDLE_CONNECTIONS + [True] * IDLE_CONNECTIONS]
    try:
        before = []
        for n, client in enumerate(idle):
            r = client.post(f"/function/{FUNCTION}", content=f"before {n}".encode())
            assert r.status_code == 200 and r.text == f"before {n}"
            assert r.http_version == ("HTTP/2" if n >= IDLE_CONNECTIONS else "HTTP/1.1")
            before.append(client_port(r))
        master_before, workers_before = renew_onto(container, None)  # as it is
        master, workers = renew_onto(container, leaf)
        new_serial = int(leaf["serial"])
        wait_for(lambda: served_serial(platform.https_port, ctx, "localhost") == new_serial,
                 timeout=20, interval=0.2)
        time.sleep(1.0)  # what a reload would have closed by now
        failures, reused = [], 0
        for n, client in enumerate(idle):
            try:
                r = client.post(f"/function/{FUNCTION}", content=f"after {n}".encode())
                if r.status_code != 200 or r.text != f"after {n}":
                    failures.append(f"{n}: {r.status_code} {r.text[:200]}")
                reused += client_port(r) == before[n]
            except httpx.HTTPError as exc:
                failures.append(f"{n} ({'h2' if n >= IDLE_CONNECTIONS else 'h1'}): "
                                f"{type(exc).__name__}: {exc}")
        print(f"\ncertificate renewal onto serial {leaf['serial'][:12]}...: {len(idle)} idle "
              f"connections used again, {len(failures)} failed, {reused} on their old connection; "
              f"nginx workers {workers_before} -> {workers}")
        assert failures == []
        assert reused == len(idle), "a connection open before the renewal was closed"
        assert (master, workers) == (master_before, workers_before), \
            "nginx's workers changed: it was reloaded"
        assert served_serial(platform.https_port, ctx, "localhost") == new_serial
    finally:
        for client in idle:
            client.close()
        renew_onto(container, None)  # the supervisor's own certificate again
        wait_for(lambda: served_serial(platform.https_port, ctx, "localhost") == first_serial,
                 timeout=20, interval=0.2)
