"""dockerd itself restarts under the sidecar: the table survives, discovery comes back.

Restarts the shared Docker daemon, so it runs only in CI (CI=true) or with
SC_DISRUPTIVE=1, never while other work uses the daemon. The sidecar runs on
the host here (a container would stop with the daemon: no live-restore), so
the table is observed through /metrics and /healthz rather than by calling
replicas on the overlay.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sidecar_swarm import create_function, docker, remove, swarm_ready, wait_running, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.disruptive,
              pytest.mark.timeout(600)]

PORT = 18204
PREFIX = f"sc-d{os.getpid()}"
NETWORK = f"{PREFIX}-net"
ROOT = Path(__file__).resolve().parents[2]


def restart_dockerd() -> None:
    if shutil.which("systemctl") and subprocess.run(
            ["systemctl", "is-active", "--quiet", "docker"]).returncode == 0:
        subprocess.run(["systemctl", "restart", "docker"], check=True, timeout=120)
        return
    pid = int(Path("/var/run/docker.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    with open("/var/log/dockerd.log", "ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)


def gauge(client: httpx.Client, line_start: str) -> float | None:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return None


def restart_figures(marks: dict[str, float], looks: int) -> dict[str, float | int]:
    """The restart's durations in seconds from the monotonic marks (pure)."""
    return {
        "noticed_after_s": round(marks["noticed"] - marks["restart"], 2),
        "dockerd_away_s": round(marks["dockerd_back"] - marks["restart"], 2),
        "resync_after_dockerd_back_s": round(marks["resynced"] - marks["dockerd_back"], 2),
        "new_function_listed_after_running_s":
            round(marks["later_listed"] - marks["later_running"], 2),
        "looks_served_from_the_last_table": looks,
    }


def report_restart(marks: dict[str, float], looks: int) -> None:
    """Print the figures and keep them in bench/results/ (docs/reliability.md)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from report import write_json

    figures = restart_figures(marks, looks)
    print(f"\ndockerd restart: {figures}")
    write_json("reliability-dockerd-restart", figures)


def test_restart_figures_are_durations_between_the_marks():
    marks = {"restart": 100.0, "noticed": 100.5, "dockerd_back": 103.0, "resynced": 104.25,
             "later_running": 110.0, "later_listed": 110.75}
    assert restart_figures(marks, 12) == {
        "noticed_after_s": 0.5, "dockerd_away_s": 3.0, "resync_after_dockerd_back_s": 1.25,
        "new_function_listed_after_running_s": 0.75, "looks_served_from_the_last_table": 12}


@pytest.fixture
def disruptive_ok():
    if not (os.environ.get("CI") == "true" or os.environ.get("SC_DISRUPTIVE") == "1"):
        pytest.skip("restarts the shared dockerd: CI only (or SC_DISRUPTIVE=1)")
    why = swarm_ready()
    if why:
        pytest.skip(why)


def test_dockerd_restart_keeps_the_table_and_relists(disruptive_ok):
    docker("build", "-q", "-t", "sc-echo:test", str(Path(__file__).parent / "images/echo"))
    docker("network", "create", "--driver", "overlay", "--attachable", NETWORK)
    name = f"{PREFIX}-fn"
    create_function(name, NETWORK, wait=True)
    env = {**os.environ, "FUNCTIONS_NETWORK": NETWORK, "SIDECAR_PORT": str(PORT),
           "SYSTEM_AUTH_DANGEROUSLY_DISABLE": "true", "RELIST_INTERVAL": "2",
           "PYTHONPATH": str(ROOT / "sidecar")}
    env.pop("DOCKER_HOST", None)
    sidecar = subprocess.Popen([sys.executable, "-m", "faas_sidecar"], env=env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=10)
    later = f"{PREFIX}-later"
    try:
        count = f'gateway_service_count{{function_name="{name}"}}'
        wait_until(lambda: gauge(client, count) == 1, 30, "function in the table")
        marks = {"restart": time.monotonic()}
        restart_dockerd()
        # While the daemon is away the last good table keeps serving: the
        # function stays listed on every look (counted, for the figure).
        down_seen = False
        looks = 0
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if swarm_ready() is None and down_seen:
                break
            health = client.get("/healthz")
            assert health.status_code == 200
            if '"events_stream": false' in health.text:
                if not down_seen:
                    marks["noticed"] = time.monotonic()
                down_seen = True
                assert gauge(client, count) == 1
                looks += 1
            time.sleep(0.2)
        assert down_seen, "the sidecar never noticed the daemon going away"
        wait_until(lambda: swarm_ready() is None, 60, "dockerd back")
        marks["dockerd_back"] = time.monotonic()
        wait_until(lambda: '"events_stream": true' in client.get("/healthz").text, 30,
                   "events stream reconnected")
        marks["resynced"] = time.monotonic()
        assert gauge(client, "swarmfaas_discovery_reconnects_total ") >= 1
        create_function(later, NETWORK)  # seen only if discovery really came back
        wait_running(later, 1, timeout=120)
        marks["later_running"] = time.monotonic()
        wait_until(lambda: gauge(client, f'gateway_service_count{{function_name="{later}"}}')
                   == 1, 30, "new function discovered after the restart")
        marks["later_listed"] = time.monotonic()
        wait_until(lambda: gauge(client, count) == 1, 60, "old function's task back")
        report_restart(marks, looks)
    finally:
        client.close()
        sidecar.send_signal(signal.SIGINT)
        sidecar.wait(20)
        remove(name, later)
        time.sleep(2)
        docker("network", "rm", NETWORK, check=False)
