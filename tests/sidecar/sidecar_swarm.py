"""Helpers for the sidecar's tests and benches: docker CLI, images, load, waits.

Every Docker resource is named ``sc-t<pid>-...`` (this helper's prefix) and is
removed at the end of the session.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
ECHO_DIR = Path(__file__).parent / "images" / "echo"
WRK_DIR = Path(__file__).parent / "images" / "wrk"
ECHO_IMAGE = "sc-echo:test"
WRK_IMAGE = "sc-wrk:test"
SIDECAR_IMAGE = os.environ.get("SC_SIDECAR_IMAGE", "sc-sidecar:test")
SITE_PACKAGES = "/opt/sidecar/lib/python3.11/site-packages/faas_sidecar"


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def swarm_client_or_skip():
    """A docker-py client of a swarm manager, or pytest.skip saying why not."""
    import docker
    import docker.errors
    import pytest

    try:
        client = docker.from_env()
        if not client.info().get("Swarm", {}).get("ControlAvailable"):
            pytest.skip("this Docker Engine is not a swarm manager")
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker Engine: {exc}")
    return client


def swarm_ready() -> str | None:
    """None when a swarm manager answers, else why not."""
    try:
        state = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
                       timeout=20)
    except (RuntimeError, FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return f"no Docker Engine: {exc}"
    return None if state == "active true" else f"not a swarm manager ({state})"


def build_images(sidecar: bool = True) -> None:
    docker("build", "-q", "-t", ECHO_IMAGE, str(ECHO_DIR), timeout=600)
    if sidecar and not os.environ.get("SC_SIDECAR_IMAGE"):
        subprocess.run([str(ROOT / ".venv/bin/pip"), "wheel", "-q", "-w",
                        str(ROOT / ".build/wheels"), str(ROOT)], check=True, timeout=600)
        docker("build", "-q", "-f", str(ROOT / "sidecar/Dockerfile"), "-t", SIDECAR_IMAGE,
               str(ROOT), timeout=900)


def build_wrk_image() -> None:
    docker("build", "-q", "-t", WRK_IMAGE, str(WRK_DIR), timeout=600)


def create_function(name: str, network: str, *, replicas: int = 1,
                    labels: dict[str, str] | None = None, image: str = ECHO_IMAGE,
                    env: dict[str, str] | None = None, extra: list[str] | None = None,
                    wait: bool = False) -> None:
    args = ["service", "create", "--detach", "--name", name, "--network", network,
            "--endpoint-mode", "dnsrr", "--replicas", str(replicas),
            "--stop-grace-period", "10s", "--update-delay", "0s"]
    for key, value in ({"swarmfaas.function": "true"} if labels is None else labels).items():
        args += ["--label", f"{key}={value}"]
    for key, value in {"DRAIN_SECONDS": "2", **(env or {})}.items():
        args += ["--env", f"{key}={value}"]
    args += [*(extra or []), image]
    docker(*args)
    if wait:
        wait_running(name, replicas)


def running_tasks(service: str) -> int:
    out = docker("service", "ps", service, "--filter", "desired-state=running",
                 "--format", "{{.CurrentState}}", check=False)
    return sum(1 for line in out.splitlines() if line.startswith("Running"))


def wait_running(service: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_tasks(service) == count:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{service} did not reach {count} running tasks")


def remove(*names: str, kind: str = "service") -> None:
    for name in names:
        docker(kind, "rm", name, check=False)


def free_port_in(ports: range) -> int:
    """The first port of ``ports`` free on 127.0.0.1: each test part has its own
    share of the host's ports, so parts running side by side do not collide."""
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Return once something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def engine_gate(port: int, network: str, *, images: str = "", secrets: str = "",
                token: str | None = None, env: dict[str, str] | None = None,
                log_path: Path | None = None) -> Iterator[str]:
    """The real engine gate as a process on 127.0.0.1:``port`` in front of the host's
    Docker socket; yields its DOCKER_HOST URL. Its log is printed if it failed, and
    kept in ``log_path`` when given. With ``token``, it requires that token
    (ENGINE_GATE_TOKEN_FILE), as deployed."""
    env = {**os.environ, "FUNCTIONS_NETWORK": network, "SYSTEM_IMAGE_ALLOWLIST": images,
           "SYSTEM_SECRET_ALLOWLIST": secrets, "GATE_HOST": "127.0.0.1",
           "GATE_PORT": str(port), **(env or {})}
    opened = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    with opened as log, tempfile.NamedTemporaryFile("w") as token_file:
        if token is not None:
            token_file.write(token)
            token_file.flush()
            env["ENGINE_GATE_TOKEN_FILE"] = token_file.name
        proc = subprocess.Popen([sys.executable, "-m", "faas_sidecar.gate"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_port(port)
            yield f"tcp://127.0.0.1:{port}"
        finally:
            proc.terminate()
            code = proc.wait(10)
            if code != 0:
                log.seek(0)
                print(f"engine gate exited {code}:\n{log.read().decode(errors='replace')}")


def overlay_networks(dc, names: tuple[str, ...]) -> Iterator[None]:
    """Attachable overlay networks ``names`` (docker-py client ``dc``) for a test
    module, made if missing and removed after (once their tasks detached, 30 s)."""
    import docker.errors

    for name in names:
        if not dc.networks.list(names=[name]):
            dc.networks.create(name, driver="overlay", attachable=True)
    yield
    deadline = time.monotonic() + 30
    for name in names:
        # By name, a swarm network is found by list, not always by inspect.
        while (nets := dc.networks.list(names=[name])) and time.monotonic() < deadline:
            try:
                nets[0].remove()
            except docker.errors.APIError:
                time.sleep(0.5)  # tasks still detaching


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.02) -> float:
    """Seconds until predicate() held; TimeoutError naming ``what`` otherwise."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if predicate():
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


def hosts_seen(client: httpx.Client, path: str, n: int = 24) -> set[str]:
    seen = set()
    for _ in range(n):
        r = client.get(path)
        if r.status_code == 200:
            seen.add(r.headers.get("x-echo-host", ""))
    return seen


def service_count(client: httpx.Client, function: str) -> float | None:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'gateway_service_count{{function_name="{function}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return None


def echoed(body: bytes, response: httpx.Response) -> bool:
    """The echo image's answer to ``body``: 200 and the body back, in JSON."""
    return response.status_code == 200 and json.loads(response.text)["body"] == body.decode()


class SteadyLoad:
    """Threads sending requests back to back; counts every outcome, good when
    ``check(body, response)`` says so (default: the echo image's answer)."""

    def __init__(self, base_url: str, path: str, threads: int = 4,
                 check: Callable[[bytes, httpx.Response], bool] = echoed) -> None:
        self.base_url, self.path, self.threads = base_url, path, threads
        self.check = check
        self.outcomes: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def _run(self, index: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            i = 0
            while not self._stop.is_set():
                i += 1
                body = f"{index}-{i}".encode()
                try:
                    r = client.post(self.path, content=body)
                    ok = self.check(body, r)
                    outcome = "ok" if ok else str(r.status_code)
                    detail = "" if ok else r.text[:300]
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    outcome, detail = type(exc).__name__, str(exc)
                with self._lock:
                    self.outcomes[outcome] += 1
                    if outcome != "ok":
                        self.failures.append(f"{outcome}: {detail}")

    def __enter__(self) -> SteadyLoad:
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)


# Where a service started by these helpers finds the engine gate's token: a
# host directory holding the file ``token``, bind-mounted read-only (in
# stack.yml it is a Docker secret).
GATE_TOKEN_MOUNT = "/run/gate-token"


def gate_token_dir() -> str:
    """A new host directory with a random gate token in it (mode 600)."""
    path = Path(tempfile.mkdtemp(prefix="sc-gate-token-"))
    (path / "token").write_text(secrets.token_urlsafe(32))
    (path / "token").chmod(0o600)
    return str(path)


def gate_token_settings(token_dir: str) -> tuple[dict[str, str], list[str]]:
    """The env and ``docker service create`` mount arguments that give a service
    the token in ``token_dir``."""
    return ({"ENGINE_GATE_TOKEN_FILE": f"{GATE_TOKEN_MOUNT}/token"},
            ["--mount", f"type=bind,src={token_dir},dst={GATE_TOKEN_MOUNT},ro"])


def start_engine_gate_service(name: str, network: str, functions_network: str,
                              images: str, token_dir: str,
                              env: dict[str, str] | None = None,
                              timeout: float = 60) -> str:
    """The engine gate as a swarm service on ``network``, as in stack.yml (same
    image as the sidecar, the token in ``token_dir`` required); its DOCKER_HOST
    URL for the sidecar."""
    token_env, mount = gate_token_settings(token_dir)
    env = {**token_env, **(env or {})}
    docker("service", "create", "--detach", "--name", name, "--network", network,
           "--endpoint-mode", "dnsrr",
           "--mount", "type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock",
           *mount,
           "--env", f"FUNCTIONS_NETWORK={functions_network}",
           "--env", f"SYSTEM_IMAGE_ALLOWLIST={images}",
           *(arg for key, value in env.items() for arg in ("--env", f"{key}={value}")),
           "--health-cmd", "python3 -m faas_sidecar.healthcheck 2375 /_ping",
           "--health-interval", "1s", SIDECAR_IMAGE, "faas-engine-gate")
    wait_until(lambda: docker("service", "ls", "--filter", f"name={name}", "--format",
                              "{{.Replicas}}") == "1/1", timeout, f"{name} running",
               interval=0.2)
    return f"tcp://{name}:2375"


def start_sidecar(name: str, network: str, port: int, *, docker_dir: str,
                  socket_name: str = "docker.sock", auth_dir: str | None = None,
                  env: dict[str, str] | None = None, mount_source: bool | None = None,
                  extra: list[str] | None = None, image: str | None = None) -> None:
    """The sidecar as a swarm service on ``network``, published on 127.0.0.1:``port``
    (host mode), talking to dockerd through ``docker_dir``/``socket_name``; from
    ``image`` (default SIDECAR_IMAGE)."""
    mounts = [f"type=bind,src={docker_dir},dst=/relay"]
    if auth_dir:
        mounts.append(f"type=bind,src={auth_dir},dst=/run/sc-auth,ro")
    if mount_source is None:
        # SC_MOUNT_SOURCE=1: the working tree's package over the image's (fast
        # iteration without rebuilding); by default the image is tested as built.
        mount_source = os.environ.get("SC_MOUNT_SOURCE") == "1"
    if mount_source:
        mounts.append(f"type=bind,src={ROOT / 'sidecar/faas_sidecar'},dst={SITE_PACKAGES},ro")
    settings = {"DOCKER_HOST": f"unix:///relay/{socket_name}", "FUNCTIONS_NETWORK": network,
                **({"SYSTEM_AUTH_USER_FILE": "/run/sc-auth/user",
                    "SYSTEM_AUTH_PASSWORD_FILE": "/run/sc-auth/password"} if auth_dir else
                   {"SYSTEM_AUTH_DANGEROUSLY_DISABLE": "true"}),
                **(env or {})}
    args = ["service", "create", "--detach", "--name", name, "--network", network,
            "--publish", f"mode=host,target=8080,published={port}",
            # No IPVS here: service VIPs do not answer, so functions reach the
            # sidecar by DNS round robin over its task addresses.
            "--endpoint-mode", "dnsrr",
            "--health-interval", "1s", "--health-start-period", "2s"]
    for key, value in settings.items():
        args += ["--env", f"{key}={value}"]
    for mount in mounts:
        args += ["--mount", mount]
    docker(*args, *(extra or []), image or SIDECAR_IMAGE)


def task_ips(service: str, network: str) -> list[str]:
    """Overlay addresses of the service's running tasks on ``network``."""
    ids = docker("service", "ps", "-q", "--filter", "desired-state=running", service).split()
    ips = []
    for task_id in ids:
        raw = docker("inspect", "--format", "{{json .NetworksAttachments}}", task_id)
        for attachment in json.loads(raw) or []:
            if attachment["Network"]["Spec"]["Name"] == network:
                ips.append(attachment["Addresses"][0].split("/")[0])
    return ips
