"""In a real swarm: nginx starts before the sidecar exists, finds it through
Docker's DNS when it appears, and follows it when its task moves (dnsrr)."""

from __future__ import annotations

import hashlib
import time
import uuid

import httpx
import pytest
from ng_harness import tls_context
from test_image import TAG, build, docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HTTPS, HTTP = 18581, 18582
STAND_IN = (
    "mkdir -p /srv/function && hostname > /srv/function/echo"
    " && exec python3 -m http.server 8080 --directory /srv"
)


@pytest.fixture
def swarm(have_docker):
    info = docker("info", "-f", "{{.Swarm.ControlAvailable}}").stdout.strip()
    if info != "true":
        pytest.skip("this Docker Engine is not a swarm manager (scripts/engine.sh makes it one)")
    made: list[tuple[str, str]] = []
    yield made
    services = [name for kind, name in made if kind == "service"]
    for name in services:
        docker("service", "rm", name)
    # Tasks stop asynchronously; the network and secrets go once they are gone.
    deadline = time.monotonic() + 30
    label = "label=com.docker.swarm.service.name={}"
    while time.monotonic() < deadline and any(
        docker("ps", "-aq", "--filter", label.format(name)).stdout.strip() for name in services
    ):
        time.sleep(0.5)
    for kind, name in made:
        if kind != "service":
            docker(kind, "rm", name)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"{what}: still {last!r} after {timeout} s")


def test_nginx_finds_a_sidecar_that_starts_later_and_follows_it(swarm, dev_ca):
    image = f"swarmfaas/nginx:{TAG}"
    build("nginx/Dockerfile", image)
    run = uuid.uuid4().hex[:6]
    net, front, sidecar = f"ng-edge-{run}", f"ng-front-{run}", f"ng-sidecar-{run}"
    assert docker("network", "create", "-d", "overlay", net).returncode == 0
    swarm.append(("network", net))
    digest = hashlib.sha256((dev_ca / "cert.pem").read_bytes()).hexdigest()[:8]
    secrets = {}
    for target, src in (("tls_cert", "cert.pem"), ("tls_key", "key.pem")):
        name = f"ng-{target}-{run}-{digest}"
        assert docker("secret", "create", name, str(dev_ca / src)).returncode == 0
        swarm.append(("secret", name))
        secrets[target] = name
    created = docker(
        "service",
        "create",
        "-d",
        "--name",
        front,
        "--network",
        net,
        "--publish",
        f"mode=host,target=443,published={HTTPS}",
        "--publish",
        f"mode=host,target=80,published={HTTP}",
        "--secret",
        f"source={secrets['tls_cert']},target=tls_cert",
        "--secret",
        f"source={secrets['tls_key']},target=tls_key",
        "-e",
        f"SIDECAR_UPSTREAM={sidecar}:8080",
        "-e",
        f"HTTPS_PORT={HTTPS}",
        "-e",
        "NGINX_WATCH_INTERVAL=0.5",
        image,
    )
    assert created.returncode == 0, created.stderr
    swarm.append(("service", front))
    client = httpx.Client(verify=tls_context(dev_ca / "ca.pem"), timeout=5)
    url = f"https://localhost:{HTTPS}/function/echo"

    first = wait_for(lambda: client.get(url), 60, "nginx answering before the sidecar exists")
    assert first.status_code == 502 and first.json()["error"] == "sidecar_unreachable"
    nginx_task = docker("service", "ps", "-q", front).stdout.split()

    created = docker(
        "service",
        "create",
        "-d",
        "--name",
        sidecar,
        "--network",
        net,
        "--endpoint-mode",
        "dnsrr",
        "--stop-signal",
        "SIGINT",  # python exits on SIGINT
        "debian:bookworm-slim",
        "sh",
        "-c",
        STAND_IN,
    )
    assert created.returncode == 0, created.stderr
    swarm.append(("service", sidecar))

    def answered():
        resp = client.get(url)
        return resp.text.strip() if resp.status_code == 200 else None

    first_task = wait_for(answered, 60, "the sidecar reached through nginx")
    # A new task (new address under dnsrr): the supervisor re-resolves and
    # nginx's workers take the new address, with no reload.
    assert docker("service", "update", "-d", "--force", sidecar).returncode == 0
    second_task = wait_for(
        lambda: (name := answered()) and name != first_task and name,
        60,
        "the moved sidecar reached through nginx",
    )
    assert second_task != first_task
    assert docker("service", "ps", "-q", front).stdout.split() == nginx_task  # never restarted
    logs = docker("service", "logs", "--raw", front).stderr
    assert "(no reload)" in logs and "reloaded" not in logs
    client.close()
