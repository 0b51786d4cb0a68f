"""stack.yml's functions are contained one from another: each task has its own
cgroup pids limit, so a function that uses up its processes stops in its own
container and never takes another function's. (The per-user nproc ulimit this
replaces counted every process of uid 10001 on the node: a fork bomb in one
function left the others unable to start a process.)"""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from faas_sidecar.containment import FUNCTION_LOG_DRIVER, FUNCTION_LOG_OPTIONS

from .conftest import Platform
from .tasks import containers, docker

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

PIDS = 512  # stack.yml's x-function-resources

# Run inside a function's container as its own user: start threads (each a
# task of the pids cgroup, and of the user's nproc count) until the kernel
# refuses one, print how many, and hold them all until stdin closes.
FILLER = r"""
import sys, threading
threading.stack_size(65536)
hold = threading.Event()
n = 0
try:
    while n < 20000:
        threading.Thread(target=hold.wait, daemon=True).start()
        n += 1
except RuntimeError:
    pass
print(n, flush=True)
sys.stdin.read()
hold.set()
"""


def _function_services(stack: str) -> list[str]:
    out = docker("service", "ls", "--format", "{{.Name}}", "--filter",
                 f"label=com.docker.stack.namespace={stack}",
                 "--filter", "label=swarmfaas.function=true")
    return sorted(out.split())


def test_every_stack_function_has_a_pids_limit_a_rotated_log_and_no_nproc(
    platform: Platform,
) -> None:
    services = _function_services(platform.stack)
    assert f"{platform.stack}_echo" in services, services
    for service in services:
        spec = json.loads(docker("service", "inspect", "--format",
                                 "{{json .Spec.TaskTemplate}}", service))
        limits = spec.get("Resources", {}).get("Limits", {})
        assert limits.get("Pids") == PIDS, (service, limits)
        ulimits = spec["ContainerSpec"].get("Ulimits") or []
        assert not [u for u in ulimits if u["Name"] == "nproc"], (service, ulimits)
        # The log a function writes is rotated, as the system API's functions' is.
        assert spec.get("LogDriver") == {"Name": FUNCTION_LOG_DRIVER,
                                         "Options": FUNCTION_LOG_OPTIONS}, service


def test_a_function_out_of_processes_leaves_the_others_running(platform: Platform) -> None:
    victim = containers(f"{platform.stack}_relay")[0]
    filler = subprocess.Popen(["docker", "exec", "-i", victim, "python3", "-c", FILLER],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        started = [""]
        assert filler.stdout is not None
        out = filler.stdout
        reader = threading.Thread(target=lambda: started.__setitem__(0, out.readline()))
        reader.start()
        reader.join(120)
        assert started[0].strip().isdigit(), (started[0], filler.poll())
        held = int(started[0])
        # The relay's own cgroup stopped it (its watchdog and workers hold a few).
        assert PIDS - 64 < held < PIDS, held
        # echo forks `cat` for each call: as user 10001 too, on the same node.
        with platform.client() as c:
            for i in range(5):
                r = c.post("/function/echo", content=f"still-{i}".encode())
                assert r.status_code == 200, (r.status_code, r.text[:300])
                assert r.text == f"still-{i}"
    finally:
        filler.communicate(timeout=60)
    assert filler.returncode == 0, filler.stderr[-2000:]
