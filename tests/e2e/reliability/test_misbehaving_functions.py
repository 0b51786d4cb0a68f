"""Misbehaving functions under the platform's containment defaults.

One service of the stock watchdog image, deployed through the system API as a
user would (so: user 10001, no capabilities, no-new-privileges, a read-only
root with a tmpfs /tmp, 1 CPU, 512 MiB, 512 processes), runs misbehave.py in
fork mode; the path says how it misbehaves. For each behaviour:

- the documented status and error code (docs/reliability.md, "Misbehaving
  functions"), within a bound of the function's timeout;
- no process left in the container: only the watchdog's own, the same PIDs as
  before the suite (a restarted worker would show as a new one);
- the container is the same one, never restarted;
- and over the whole suite, a steady probe of echo: 0 failures, and its p50
  and p99 against a probe of the same length before the suite.

Part of `make test`; on its own against a deployed stack: `make misbehaving`
(E2E_STACK/E2E_HTTPS_PORT/E2E_DEPLOYED as in tests/e2e/conftest.py).
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ..conftest import ROOT, Platform, wait_for
from .clients import SteadyLoad

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

TIMEOUT = 2  # swarmfaas.timeout and exec_timeout, seconds
BASELINE_SECONDS = 6.0
# What the probe's latency may become while the functions misbehave, against
# the probe before (docs/reliability.md gives the figures this comes from).
P50_BOUND = 3.0
P99_BOUND = 10.0

# The stack's own watchdog image; MISBEHAVE_IMAGE tries another (e.g. one
# built from a changed watchdog, without rolling the whole stack).
IMAGE = os.environ.get("MISBEHAVE_IMAGE")
SOURCE = (Path(__file__).parent / "misbehave.py").read_bytes()
FPROCESS = shlex.join(["python3", "-c",
                       "import base64,os;exec(base64.b64decode(os.environ['MISBEHAVE_SOURCE']))"])

# Lists the container's processes from inside: pid, ppid, state, command line.
PS = """
import os
me = os.getpid()
for p in os.listdir('/proc'):
    if not p.isdigit() or int(p) == me:
        continue
    try:
        stat = open(f'/proc/{p}/stat').read()
        cmd = open(f'/proc/{p}/cmdline', 'rb').read().replace(b'\\0', b' ').strip()
    except OSError:
        continue
    state, ppid = stat.rsplit(')', 1)[1].split()[:2]
    print(p, ppid, state, cmd.decode(errors='replace'), sep='\\t')
"""


@dataclass(frozen=True)
class Misbehaviour:
    how: str
    status: int
    error: str | None = None  # the platform's error code, None for the function's answer
    reason: str = ""  # a part of the error's reason
    body: bytes = b""  # the request body
    answer: bytes = b""  # the function's answer, for a 200


MISBEHAVIOURS = [
    Misbehaviour("hang", 504, "timeout"),
    Misbehaviour("crash", 500, "function_failed", "exited with code 3"),
    Misbehaviour("flood", 502, "response_too_large"),
    Misbehaviour("stderr", 504, "timeout"),
    Misbehaviour("forkbomb", 504, "timeout"),
    Misbehaviour("memhog", 500, "function_failed",
                 "killed by signal 9: it went over the container's memory limit"),
    Misbehaviour("setsid", 200, answer=b"left a setsid child"),
    Misbehaviour("daemon", 200, answer=b"left a daemon"),
    Misbehaviour("closestdin", 200, body=b"b" * (8 << 20), answer=b"closed stdin"),
]


@dataclass
class Suite:
    platform: Platform
    name: str
    container: str
    watchdog: dict[str, str]  # pid -> command line, before any misbehaviour
    baseline: list[float]
    probe: SteadyLoad


def _auth(platform: Platform) -> tuple[str, str]:
    state = ROOT / ".state" / platform.stack
    return ((state / "basic-auth-user").read_text().strip(),
            (state / "basic-auth-password").read_text().strip())


def _containers(name: str) -> list[str]:
    return subprocess.run(
        ["docker", "ps", "-q", "--no-trunc",
         "--filter", f"label=com.docker.swarm.service.name={name}"],
        check=True, capture_output=True, text=True).stdout.split()


# Docker's own visitors, not the function's: the health check (every 2 s) and
# the `runc init` that enters the container for it or for a `docker exec`.
VISITORS = ("--healthcheck", "runc init")


def processes(container: str) -> dict[str, str]:
    """pid -> command line of every process in the container but the lister
    itself and Docker's visitors. (Not the state: a worker is R or S by chance.)"""
    out = subprocess.run(["docker", "exec", container, "python3", "-c", PS],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    found = {}
    for line in out.splitlines():
        pid, _ppid, _state, cmd = (line.split("\t") + [""] * 4)[:4]
        if not any(visitor in cmd for visitor in VISITORS):
            found[pid] = cmd
    return found


def _log_bytes(container: str) -> int:
    """The size of the container's log file (json-file; 0 with another driver)."""
    path = subprocess.run(["docker", "inspect", "--format", "{{.LogPath}}", container],
                          check=True, capture_output=True, text=True).stdout.strip()
    return Path(path).stat().st_size if path and Path(path).exists() else 0


def _deployed(r: httpx.Response) -> httpx.Response | None:
    """The answer to the deployment, or None to ask again: a stack that is still
    settling (a sidecar restarting) answers 502/503 for a moment."""
    return None if r.status_code in (502, 503) else r


def _probe(platform: Platform) -> SteadyLoad:
    return SteadyLoad(platform.base_url, platform.verify, threads=1)


@pytest.fixture(scope="module")
def suite(platform: Platform) -> Iterator[Suite]:
    name = f"mb-{uuid.uuid4().hex[:8]}"
    try:
        with platform.client(auth=_auth(platform)) as c:
            deployment = {
                "service": name, "image": IMAGE or f"swarmfaas/watchdog:{platform.tag}",
                "envProcess": FPROCESS,
                "envVars": {"exec_timeout": f"{TIMEOUT}s",
                            "MISBEHAVE_SOURCE": base64.b64encode(SOURCE).decode()},
                "labels": {"swarmfaas.timeout": str(TIMEOUT)},
            }
            # Only the platform's defaults: no limits, user or filesystem asked for.
            r = wait_for(lambda: _deployed(c.post("/system/functions", json=deployment)), 120, 2)
            assert r.status_code == 202, r.text
            wait_for(lambda: c.post(f"/function/{name}/echo", content=b"up").content == b"up",
                     timeout=90, interval=0.5)
        (container,) = _containers(name)
        watchdog = processes(container)
        with _probe(platform) as before:
            time.sleep(BASELINE_SECONDS)
        assert before.failures == [], before.failures[:5]
        with _probe(platform) as probe:
            yield Suite(platform, name, container, watchdog, before.latencies, probe)
    finally:
        subprocess.run(["docker", "service", "rm", name], capture_output=True)


@pytest.mark.parametrize("case", MISBEHAVIOURS, ids=lambda m: m.how)
def test_misbehaviour_is_contained(suite: Suite, case: Misbehaviour) -> None:
    logged = _log_bytes(suite.container)
    started = time.monotonic()
    with suite.platform.client(timeout=60.0) as c:
        r = c.post(f"/function/{suite.name}/{case.how}", content=case.body)
    took = time.monotonic() - started
    assert r.status_code == case.status, (r.status_code, r.text[:500])
    if case.error is None:
        assert r.content == case.answer
        assert "x-swarmfaas-internal" not in r.headers
    else:
        doc = json.loads(r.content)
        assert (doc["error"], doc["status"]) == (case.error, case.status), doc
        assert case.reason in doc["reason"], doc
        assert r.headers["x-swarmfaas-internal"] == doc["component"]
    # Never a hang: the answer comes within the timeout and the sidecar's margin.
    assert took < TIMEOUT + 3, f"{case.how} took {took:.1f} s"
    print(f"\n{case.how}: {r.status_code} in {took:.2f} s, the container's log grew "
          f"{(_log_bytes(suite.container) - logged) / 2**20:.1f} MiB")

    def only_the_watchdog() -> bool:
        return processes(suite.container) == suite.watchdog

    # A timed-out group gets SIGTERM, then SIGKILL kill_grace (2 s) later.
    deadline = time.monotonic() + 10
    while not only_the_watchdog() and time.monotonic() < deadline:
        time.sleep(0.25)
    left = {p: c for p, c in processes(suite.container).items() if p not in suite.watchdog}
    assert left == {}, f"{case.how} left processes behind: {left}"
    assert processes(suite.container) == suite.watchdog  # no watchdog process replaced
    assert _containers(suite.name) == [suite.container], "the container was replaced"
    restarts = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Running}} {{.RestartCount}}", suite.container],
        check=True, capture_output=True, text=True).stdout.split()
    assert restarts == ["true", "0"]
    with suite.platform.client() as c:  # and it still serves
        assert c.post(f"/function/{suite.name}/echo", content=b"still").content == b"still"


def test_other_functions_keep_their_latency(suite: Suite) -> None:
    """Last: the probe of echo ran through every misbehaviour above."""
    probe = suite.probe
    probe.__exit__()
    assert probe.failures == [], probe.failures[:10]
    assert len(probe.latencies) >= 20 and len(suite.baseline) >= 20
    before = _percentiles(suite.baseline)
    during = _percentiles(probe.latencies)
    ratio = (during[0] / before[0], during[1] / before[1])
    print(f"\necho probe before: {len(suite.baseline)} calls, p50 {before[0]:.1f} ms, "
          f"p99 {before[1]:.1f} ms; during: {len(probe.latencies)} calls, 0 failed, "
          f"p50 {during[0]:.1f} ms, p99 {during[1]:.1f} ms; ratio p50 {ratio[0]:.2f}, "
          f"p99 {ratio[1]:.2f}")
    assert ratio[0] <= P50_BOUND and ratio[1] <= P99_BOUND, (before, during)


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    return (statistics.median(latencies) * 1000,
            statistics.quantiles(latencies, n=100)[98] * 1000)

