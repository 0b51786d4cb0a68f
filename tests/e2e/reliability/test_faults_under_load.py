"""Operations on a running stack under a steady load: 0 failed requests.

A few connections (SteadyLoad, LOAD_THREADS) post to echo over HTTPS through
nginx while one of these happens, and every answer must be the echo of what
was sent, from echo:
- `docker service update --force` of the function (a rolling restart);
- scaling it 1 -> 5 -> 1;
- a rolling update onto a new image tag, as `make up` rolls one (the same
  image under a new tag: the service's own update_config does the roll).
Each test leaves the stack as it found it (replicas, image). A certificate
renewal under load is test_cert_renewal_under_load.py.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from ..conftest import Platform, wait_for
from .clients import SteadyLoad, percentile

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]

LOAD_THREADS = 4
FUNCTION = "echo"


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
