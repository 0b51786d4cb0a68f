"""A bad setting never takes the platform down: the whole stack.yml deployed
for real (scripts/build.sh and scripts/deploy.sh, stack `ngbad`, ports of
this suite's range), then deployed again with bad settings while a steady
loop calls a function over HTTPS. The deploy fails naming the setting, the old
tasks serve throughout, and the stack is left exactly as it was.

Also measures how long HTTPS is down while nginx's task is replaced: its
host-mode ports make that update stop-first on one node (docs/https.md)."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from ng_harness import REPO, SteadyLoop, tls_context
from test_image import docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

STACK = "ngbad"
HTTPS, HTTP = 18587, 18588


def run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "STACK": STACK, "HTTPS_PORT": str(HTTPS), "HTTP_PORT": str(HTTP), **env}
    return subprocess.run(
        ["bash", f"scripts/{script}"], cwd=REPO, env=full, capture_output=True, text=True,
        timeout=600,
    )


def specs() -> dict[str, tuple[int, str]]:
    """Each service's spec version and its running tasks: what a deploy would change."""
    out = {}
    for name in docker("stack", "services", STACK, "--format", "{{.Name}}").stdout.split():
        version = json.loads(docker("service", "inspect", "-f", "{{json .Version}}", name).stdout)
        tasks = docker("service", "ps", "-q", "--filter", "desired-state=running", name).stdout
        out[name] = (version["Index"], " ".join(sorted(tasks.split())))
    return out


@pytest.fixture(scope="module")
def stack(have_docker):
    if docker("info", "-f", "{{.Swarm.ControlAvailable}}").stdout.strip() != "true":
        pytest.skip("this Docker Engine is not a swarm manager (scripts/engine.sh makes it one)")
    built = run("build.sh")
    assert built.returncode == 0, built.stderr[-3000:]
    up = run("deploy.sh")
    try:
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
        yield tls_context(REPO / ".state" / STACK / "certs" / "ca.pem")
    finally:
        run("down.sh")  # keeps volumes (user data), so this test removes its own
        for _ in range(40):
            left = docker("volume", "ls", "-q", "--filter", f"name={STACK}_").stdout.split()
            if not left or docker("volume", "rm", *left).returncode == 0:
                break
            time.sleep(0.5)  # a volume is in use until its last container is gone


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"NGINX_RATE_LIMIT": "lots"}, "NGINX_RATE_LIMIT"),
        ({"NGINX_TRUSTED_PROXIES": "10.0.0.1/8"}, "NGINX_TRUSTED_PROXIES"),
        ({"ALEXA_CERT_MIRROR": "ftp://mirror.example.com/"}, "ALEXA_CERT_MIRROR"),
    ],
)
def test_a_bad_setting_fails_the_deploy_and_leaves_the_stack_serving(stack, settings, named):
    before = specs()
    with SteadyLoop(HTTPS, stack, "localhost") as loop:
        time.sleep(1)
        bad = run("deploy.sh", **settings)
        time.sleep(1)
    assert bad.returncode != 0
    assert named in bad.stderr and "nothing was deployed" in bad.stderr, bad.stderr
    assert loop.failures == [] and loop.ok > 0
    assert specs() == before


def test_the_off_switch_deploys_and_keeps_serving(stack):
    """NGINX_RATE_LIMIT=0 (docs/https.md's off switch) and NGINX_RATE_BURST=0
    made nginx exit at start-up, which took HTTPS down."""
    for settings in ({"NGINX_RATE_LIMIT": "0"}, {"NGINX_RATE_BURST": "0"}):
        done = run("deploy.sh", **settings)
        assert done.returncode == 0, done.stderr[-3000:]
    with SteadyLoop(HTTPS, stack, "localhost") as loop:
        time.sleep(1)
    assert loop.failures == [] and loop.ok > 0


def test_how_long_https_is_down_while_nginx_is_replaced(stack, capsys):
    """Measured, not bounded: printed for docs/https.md (`-s` shows it)."""
    with SteadyLoop(HTTPS, stack, "localhost") as loop:
        time.sleep(1)
        started = time.monotonic()
        docker("service", "update", "--detach", "--force", f"{STACK}_nginx")
        first_failure = last_failure = None
        deadline = started + 120
        while time.monotonic() < deadline:
            failed = len(loop.failures)
            time.sleep(0.05)
            now = time.monotonic()
            if len(loop.failures) > failed:
                first_failure = first_failure or now
                last_failure = now
            elif last_failure and now - last_failure > 3:
                break
    with capsys.disabled():
        gap = (last_failure - first_failure) if first_failure else 0.0
        print(f"\nnginx stop-first update: HTTPS down about {gap:.1f} s "
              f"({len(loop.failures)} failed connections, {loop.ok} served)")
    assert loop.ok > 0
