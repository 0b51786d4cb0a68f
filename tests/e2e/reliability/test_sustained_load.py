"""Sustained load over HTTPS through nginx: 64 connections on a warm function
(echo-http, the watchdog's http mode) and on a fork-mode one (echo, `cat` per
request). Every answer must be a 2xx: 0 failed. p50 and p99 are printed and
written to bench/results/reliability-sustained-<epoch>.json.

The function is held at one replica for the run (the label
swarmfaas.scale.max=1, put back after): the figures are one replica's, and
the autoscaler does not start 16 replicas (64 in flight / 4 per replica) of
each function on the 2-core single-node test machine, which starved every
container there of CPU (docs/reliability.md).

wrk makes the load (a Python client on 2 cores could not keep 64 connections
busy and would measure itself). It does not check bodies; the fault tests'
SteadyLoad does. Full form 60 s per function, reduced form (make test)
RELIABILITY_LOAD_SECONDS, 10 s by default (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import httpx
import pytest

from faas_sidecar.labels import SCALE_MAX

from ..conftest import ROOT, Platform
from .clients import wrk_socket_errors
from .conftest import FULL

sys.path.insert(0, str(ROOT / "bench"))

from report import write_json
from watchdog_common import cpu_model, wrk

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.slow]

CONNECTIONS = 64
SECONDS = int(os.environ.get("RELIABILITY_LOAD_SECONDS", "60" if FULL else "10"))
FUNCTIONS = {"echo-http": "http", "echo": "fork"}

# wrk: every connection POSTs the same small body.
POST_SCRIPT = 'wrk.method = "POST"\nwrk.body = "sustained load"\n' \
              'wrk.headers["Content-Type"] = "text/plain"\n'


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    found: dict[str, dict] = {}
    yield found
    if found:
        write_json("reliability-sustained", {
            "connections": CONNECTIONS, "seconds": SECONDS, "full": FULL,
            "machine": f"{cpu_model()}, load {os.getloadavg()[0]:.1f}",
            "functions": found,
        })


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr.strip()}"
    return done.stdout.strip()


@contextlib.contextmanager
def one_replica(service: str) -> Iterator[None]:
    """The service at one replica, the autoscaler held off by its max label."""
    labels = json.loads(docker("service", "inspect", service, "--format",
                               "{{json .Spec.Labels}}")) or {}
    before = labels.get(SCALE_MAX)
    docker("service", "update", "--quiet", "--label-add", f"{SCALE_MAX}=1", service)
    docker("service", "scale", "--detach=false", f"{service}=1")
    try:
        yield
    finally:
        if before is None:
            docker("service", "update", "--quiet", "--label-rm", SCALE_MAX, service)
        else:
            docker("service", "update", "--quiet", "--label-add", f"{SCALE_MAX}={before}", service)


@pytest.mark.timeout(SECONDS * 3 + 240)
@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_64_connections_sustained_with_no_failure(platform: Platform, results: dict[str, dict],
                                                  function: str) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is missing: scripts/test.sh installs it (apt wrk)")
    url = f"{platform.base_url}/function/{function}"
    # warm: a first call may wait for a replica
    with one_replica(f"{platform.stack}_{function}"), platform.client() as c:
        r = c.post(f"/function/{function}", content=b"warm")
        assert r.status_code == 200 and r.content == b"warm", r.text[:300]
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            script.write(POST_SCRIPT)
            script.flush()
            got = wrk(url, CONNECTIONS, SECONDS, threads=2, script=script.name)
    failed = got["non2xx"] + wrk_socket_errors(got["socket_errors"])
    got["failed"] = failed
    got["mode"] = FUNCTIONS[function]
    results[function] = got
    print(f"\n{function} ({FUNCTIONS[function]} mode), {CONNECTIONS} connections, {SECONDS} s: "
          f"{got['requests']} requests, {got['rps']:.0f} req/s, {failed} failed, "
          f"p50 {got['p50_ms']:.1f} ms, p99 {got['p99_ms']:.1f} ms")
    assert got["requests"] and got["requests"] >= SECONDS, got
    assert failed == 0, f"{got['non2xx']} non-2xx, socket errors {got['socket_errors']}"
    # wrk counts statuses only: one last call checks the function still echoes.
    with httpx.Client(base_url=platform.base_url, verify=platform.verify, timeout=30) as c:
        assert c.post(f"/function/{function}", content=b"after").content == b"after"
