"""Operations on a running stack under a steady load: 0 failed requests.

A few connections (SteadyLoad, LOAD_THREADS) post to echo over HTTPS through
nginx while one of these happens, and every answer must be the echo of what
was sent, from echo:
- `docker service update --force` of the function (a rolling restart);
- scaling it 1 -> 5 -> 1;
- an nginx reload onto a new certificate, with idle HTTP/1.1 keep-alive and
  HTTP/2 connections held open across it and used again afterwards;
- a rolling update onto a new image tag, as `make up` rolls one (the same
  image under a new tag: the service's own update_config does the roll).
Each test leaves the stack as it found it (replicas, image, certificate).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import ROOT, Platform, wait_for
from .clients import SteadyLoad, percentile

sys.path.insert(0, str(ROOT / "certs"))
sys.path.insert(0, str(ROOT / "tests" / "nginx"))

import dev_cert
from ng_harness import served_serial

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]

LOAD_THREADS = 4
FUNCTION = "echo"
IDLE_CONNECTIONS = 4  # of each protocol, held across the nginx reload


def docker(*args: str, timeout: float = 240) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def replicas(service: str) -> int:
    return int(docker("service", "inspect", service, "--format",
                      "{{.Spec.Mode.Replicated.Replicas}}"))


def image(service: str) -> str:
    return docker("service", "inspect", service, "--format",
                  "{{.Spec.TaskTemplate.ContainerSpec.Image}}")


def running(service: str) -> int:
    """Tasks of the service that run now."""
    out = docker("service", "ps", service, "--filter", "desired-state=running",
                 "--format", "{{.CurrentState}}")
    return sum(1 for line in out.splitlines() if line.startswith("Running"))


@pytest.fixture
def load(platform: Platform) -> Iterator[SteadyLoad]:
    """The steady load, started on a warm function, judged at the end."""
    with platform.client() as c:
        assert c.post(f"/function/{FUNCTION}", content=b"warm").status_code == 200
    with SteadyLoad(platform.base_url, platform.verify, threads=LOAD_THREADS,
                    path=f"/function/{FUNCTION}") as steady:
        time.sleep(1.0)  # a moment of load before the fault
        yield steady
        time.sleep(2.0)  # and after it
    assert steady.failures == [], f"{len(steady.failures)} failed: {steady.failures[:10]}"
    assert steady.ok >= 20, f"the steady load made only {steady.ok} requests"
    p50, p99 = (percentile(steady.latencies, p) * 1000 for p in (50, 99))
    print(f"\n  steady load: {steady.ok} good, 0 failed, p50 {p50:.1f} ms, p99 {p99:.1f} ms")


def test_service_update_force_under_load(platform: Platform, load: SteadyLoad) -> None:
    service = f"{platform.stack}_{FUNCTION}"
    started = time.monotonic()
    docker("service", "update", "--force", "--detach=false", "--quiet", service)
    print(f"\nservice update --force of {service}: {time.monotonic() - started:.1f} s")


def test_scaling_1_to_5_to_1_under_load(platform: Platform, load: SteadyLoad) -> None:
    service = f"{platform.stack}_{FUNCTION}"
    before = replicas(service)
    try:
        for count in (1, 5, 1):
            docker("service", "scale", "--detach=false", f"{service}={count}")
            wait_for(lambda count=count: running(service) == count, timeout=120, interval=0.5)
            time.sleep(2.0)  # the sidecar sees the new set while the load runs
    finally:
        if replicas(service) != before:
            docker("service", "scale", "--detach=false", f"{service}={before}")


# -- nginx reload onto a new certificate --------------------------------------

# Run inside the nginx container: put a certificate where nginx reads it and
# reload nginx gracefully, as its supervisor does when certbot renews (install,
# then SIGHUP). With no pair on stdin, the supervisor's own pair goes back.
INSTALL = """
import json, os, signal, sys
from swarmfaas_nginx import tls
from swarmfaas_nginx.settings import load_settings
s = load_settings(os.environ)
doc = sys.stdin.read()
if doc:
    d = json.loads(doc)
    source = tls.CertSource("reload-test", "", "")
    pair = tls.CertPair(source, d["cert"].encode(), d["key"].encode())
else:
    pair = tls.read_best(tls.cert_sources(s))
assert tls.is_valid_pair(pair, s.tls_dir), "the pair does not match"
tls.install(pair, s.tls_dir)
with open(os.path.join(s.state_dir, "nginx.pid")) as f:
    os.kill(int(f.read()), signal.SIGHUP)
"""


def nginx_container(stack: str) -> str:
    ids = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack}_nginx")
    assert len(ids.split()) == 1, f"wanted one running nginx container, got {ids.split()}"
    return ids.split()[0]


def reload_onto(container: str, pair: dict[str, str] | None) -> None:
    done = subprocess.run(["docker", "exec", "-i", container, "python3", "-S", "-c", INSTALL],
                          input=json.dumps(pair) if pair else "", capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def new_leaf(platform: Platform) -> dict[str, str]:
    """A new certificate for the stack's names from the stack's own development
    CA, so every client that trusts the stack trusts it too."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    certs = Path(platform.ca_file or "").parent
    if not (certs / "ca-key.pem").exists():
        pytest.skip(f"{certs}/ca-key.pem is missing: the stack's certificate is not the "
                    "development CA's (a real one cannot be re-issued here)")
    ca = x509.load_pem_x509_certificate((certs / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((certs / "ca-key.pem").read_bytes(), None)
    cert, key = dev_cert.make_leaf(dev_cert.DEFAULT_NAMES, ca, ca_key)  # type: ignore[arg-type]
    return {"cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "key": dev_cert._pem_key(key).decode(), "serial": str(cert.serial_number)}


def client_port(response: httpx.Response) -> int:
    """The local port of the connection the response came on."""
    stream = response.extensions["network_stream"]
    return stream.get_extra_info("client_addr")[1]


def test_nginx_reload_onto_a_new_certificate_with_idle_connections_held(
        platform: Platform, load: SteadyLoad) -> None:
    ctx = ssl.create_default_context(cafile=platform.ca_file)
    first_serial = served_serial(platform.https_port, ctx, "localhost")
    leaf = new_leaf(platform)
    container = nginx_container(platform.stack)
    idle = [httpx.Client(base_url=platform.base_url, verify=platform.verify, timeout=30,
                         http2=h2) for h2 in [False] * IDLE_CONNECTIONS + [True] * IDLE_CONNECTIONS]
    try:
        before = []
        for n, client in enumerate(idle):
            r = client.post(f"/function/{FUNCTION}", content=f"before {n}".encode())
            assert r.status_code == 200 and r.text == f"before {n}"
            assert r.http_version == ("HTTP/2" if n >= IDLE_CONNECTIONS else "HTTP/1.1")
            before.append(client_port(r))
        reload_onto(container, leaf)
        new_serial = int(leaf["serial"])
        wait_for(lambda: served_serial(platform.https_port, ctx, "localhost") == new_serial,
                 timeout=20, interval=0.2)
        time.sleep(1.0)  # the old workers have closed what was idle
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
        print(f"\nnginx reload onto serial {leaf['serial'][:12]}...: {len(idle)} idle connections "
              f"used again, {len(failures)} failed, {reused} on their old connection")
        assert failures == []
        assert served_serial(platform.https_port, ctx, "localhost") != first_serial
    finally:
        for client in idle:
            client.close()
        reload_onto(container, None)  # the supervisor's own certificate again
        wait_for(lambda: served_serial(platform.https_port, ctx, "localhost") == first_serial,
                 timeout=20, interval=0.2)


def test_rolling_update_onto_a_new_tag_under_load(platform: Platform, load: SteadyLoad) -> None:
    service = f"{platform.stack}_{FUNCTION}"
    old = image(service).split("@", 1)[0]
    new = f"{old}-roll"  # the same image under a new tag: what a new build gives make up
    docker("tag", old, new)
    try:
        started = time.monotonic()
        # The service's own update_config rolls it, as `docker stack deploy` does.
        docker("service", "update", "--detach=false", "--quiet", "--image", new, service)
        print(f"\nrolled {service} onto {new} in {time.monotonic() - started:.1f} s")
        assert image(service).split("@", 1)[0] == new
    finally:
        if image(service).split("@", 1)[0] != old:
            docker("service", "update", "--detach=false", "--quiet", "--image", old, service)
        docker("rmi", new)  # the tag only: the image is still `old`
