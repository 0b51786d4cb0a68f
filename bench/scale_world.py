"""The autoscaling benches' world: a sidecar service running this tree's code,
the real engine gate and the real scaler as host processes (as in
tests/sidecar/scaler/test_scaler_swarm.py), and one function image: the real
watchdog (HTTP mode) in front of the sidecar tests' echo upstream, so
``max_inflight`` and the healthcheck are the watchdog's own.

Everything is named ``<prefix>-*`` and removed at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker as docker_py
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sidecar"))

from sidecar_swarm import (  # noqa: E402
    docker,
    engine_gate,
    remove,
    start_sidecar,
    wait_port,
    wait_until,
)

WATCHDOG_IMAGE = os.environ.get("SC_WATCHDOG_IMAGE", "swarmfaas/watchdog:dev")
SIDECAR_IMAGE = os.environ.get("SC_SIDECAR_IMAGE", "swarmfaas/sidecar:latest")
FN_DOCKERFILE = ROOT / "bench" / "fixtures" / "scalefn.Dockerfile"
ECHO_DIR = ROOT / "tests" / "sidecar" / "images" / "echo"
SCALER_TOKEN = "scale-bench-scaler-token-0123456789"


@dataclass(frozen=True)
class World:
    prefix: str
    network: str
    base_url: str       # the sidecar, published on 127.0.0.1
    metrics_url: str    # the scaler's /metrics
    fn_image: str
    scaler_log: Path

    def name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"


def gateway_address() -> str:
    """The host as a service's container reaches it (docker_gwbridge): where the
    sidecar sends its nudges to the scaler, a host process here."""
    config = json.loads(docker("network", "inspect", "docker_gwbridge", "--format",
                               "{{json .IPAM.Config}}"))
    return str(config[0]["Gateway"])


def build_function_image(tag: str) -> None:
    docker("build", "-q", "--build-arg", f"WATCHDOG_IMAGE={WATCHDOG_IMAGE}",
           "-f", str(FN_DOCKERFILE), "-t", tag, str(ECHO_DIR), timeout=600)


def cleanup(prefix: str) -> None:
    names = docker("service", "ls", "--format", "{{.Name}}", check=False).split()
    ours = [n for n in names if n.startswith(f"{prefix}-")]
    remove(*ours)
    for _ in range(40):
        if not docker("network", "ls", "-q", "--filter", f"name=^{prefix}-net$", check=False):
            return
        docker("network", "rm", f"{prefix}-net", check=False)
        time.sleep(0.5)


@contextmanager
def scale_world(prefix: str, port: int, *, scaler_env: dict[str, str],
                sidecar_env: dict[str, str] | None = None, nudge: bool = True
                ) -> Iterator[World]:
    """The world on ports ``port`` (sidecar), +1 (gate), +2 (scaler metrics),
    +3 (UDP: the scaler's wake port, which the sidecar nudges as deployed
    unless ``nudge`` is False)."""
    wake = {"SCALER_WAKE": f"{gateway_address()}:{port + 3}"} if nudge else {}
    sidecar_env = {**wake, **(sidecar_env or {})}
    scaler_env = {"SCALER_WAKE_PORT": str(port + 3) if nudge else "0", **scaler_env}
    fn_image = f"{prefix}-fn:bench"
    build_function_image(fn_image)
    cleanup(prefix)
    network = f"{prefix}-net"
    docker("network", "create", "--driver", "overlay", "--attachable", network)
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    token = workdir / "scaler-token"
    token.write_text(SCALER_TOKEN)
    start_sidecar(f"{prefix}-sidecar", network, port, docker_dir="/var/run",
                  image=SIDECAR_IMAGE, mount_source=True, env=sidecar_env,
                  # on the shared machine a busy minute must not get it killed
                  extra=["--health-timeout", "10s", "--health-retries", "10"])
    log_path = ROOT / ".build" / f"{prefix}-scaler.log"
    log_path.parent.mkdir(exist_ok=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with engine_gate(port + 1, network, env={"ENGINE_GATE_SCALER_TOKEN_FILE": str(token)},
                         token="scale-bench-sidecar-token-0123456789") as gate, \
                open(log_path, "wb") as log:
            env = {**os.environ, "FUNCTIONS_NETWORK": network, "DOCKER_HOST": gate,
                   "ENGINE_GATE_TOKEN_FILE": str(token),
                   "SCALER_SIDECARS": f"127.0.0.1:{port}",
                   "SCALER_METRICS_PORT": str(port + 2), **scaler_env}
            scaler = subprocess.Popen([sys.executable, "-m", "faas_sidecar.scaler"], env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_until(lambda: httpx.get(f"{base}/healthz").status_code == 200, 120,
                           "the sidecar healthy", interval=0.2)
                wait_port(port + 2)
                yield World(prefix, network, base, f"http://127.0.0.1:{port + 2}/metrics",
                            fn_image, log_path)
            finally:
                scaler.terminate()
                scaler.wait(10)
    finally:
        cleanup(prefix)


def create_service(world: World, name: str, *, replicas: int, labels: dict[str, str],
                   env: dict[str, str], health_interval: float,
                   extra: tuple[str, ...] | list[str] = ()) -> None:
    """A function-shaped service of the world's image (the watchdog's healthcheck,
    run every ``health_interval`` s, as the system API deploys functions)."""
    args = ["service", "create", "--detach", "--name", name, "--network", world.network,
            "--endpoint-mode", "dnsrr", "--replicas", str(replicas),
            "--stop-grace-period", "5s", "--update-delay", "0s",
            "--health-interval", f"{health_interval:g}s", "--health-timeout", "5s",
            "--health-retries", "3"]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    docker(*args, *extra, world.fn_image)


def scale(api: docker_py.APIClient, service: str, count: int) -> None:
    """What ``docker service scale`` sends: the spec with another count."""
    info = api.inspect_service(service)
    spec = info["Spec"]
    spec["Mode"]["Replicated"]["Replicas"] = count
    api.update_service(service, version=info["Version"]["Index"], task_template=spec[
        "TaskTemplate"], name=spec["Name"], labels=spec.get("Labels"), mode=spec["Mode"],
        update_config=spec.get("UpdateConfig"), networks=spec["TaskTemplate"].get("Networks"),
        endpoint_spec=spec.get("EndpointSpec"), fetch_current_spec=False)


def replicas(name: str) -> int:
    return int(docker("service", "inspect", "--format",
                      "{{.Spec.Mode.Replicated.Replicas}}", name))


def live_containers(name: str) -> int:
    """Containers of ``name`` that exist at all (running, stopping or created)."""
    return len(docker("ps", "-aq", "--filter", f"label=com.docker.swarm.service.name={name}",
                      "--filter", "status=running", "--filter", "status=created",
                      "--filter", "status=restarting", check=False).split())


def metric(url: str, name: str, labels: str) -> float | None:
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line.startswith(f"{name}{{{labels}}}"):
            return float(line.rsplit(" ", 1)[1])
    return None


class Events:
    """Docker events of the world's services, with the daemon's timestamps, read in
    a thread: container health, container start, and service updates."""

    def __init__(self, prefix: str) -> None:
        self._client = docker_py.APIClient(version="1.41", timeout=None)
        self._prefix = prefix
        self._lock = threading.Lock()
        self.seen: list[tuple[float, str, str, str]] = []  # (time, type, action, service)
        self._stream = self._client.events(decode=True, filters={
            "type": ["container", "service"]})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                attrs = event.get("Actor", {}).get("Attributes", {})
                service = attrs.get("com.docker.swarm.service.name") or attrs.get("name", "")
                if not service.startswith(self._prefix):
                    continue
                with self._lock:
                    self.seen.append((event["timeNano"] / 1e9, event["Type"],
                                      event["Action"], service))
        except Exception:  # the stream closed at the end
            return

    def first(self, service: str, action: str, after: float, kind: str = "container"
              ) -> float | None:
        with self._lock:
            for when, type_, what, name in self.seen:
                if name == service and type_ == kind and what == action and when >= after:
                    return when
        return None

    def wait(self, service: str, action: str, after: float, timeout: float,
             kind: str = "container") -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            when = self.first(service, action, after, kind)
            if when is not None:
                return when
            time.sleep(0.01)
        raise TimeoutError(f"no {kind} {action} of {service} within {timeout} s")

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._client.close()
