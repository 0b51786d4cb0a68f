"""The deployed stack's service tasks, through the docker CLI: kill a task's
container the way a crash would, and wait until Swarm has replaced it.
The end-to-end durability and schedule tests use these (single-node swarm:
every container is on this machine)."""

from __future__ import annotations

import json
import subprocess
import time


def docker(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def containers(service: str) -> list[str]:
    """The running containers of a service's tasks."""
    return docker("ps", "-q", "--no-trunc", "--filter",
                  f"label=com.docker.swarm.service.name={service}").split()


def ready(container: str) -> bool:
    """Running, and healthy when the image or service has a health check."""
    try:
        state = json.loads(docker("inspect", "--format", "{{json .State}}", container))
    except RuntimeError:
        return False
    health = state.get("Health")
    return state.get("Running", False) and (health is None or health["Status"] == "healthy")


def wait_replaced(service: str, gone: set[str], count: int, timeout: float = 120) -> float:
    """Wait until `count` ready containers run for the service, none of them in
    `gone`; return the time it was seen (time.monotonic())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = [c for c in containers(service) if c not in gone and ready(c)]
        if len(fresh) >= count:
            return time.monotonic()
        time.sleep(0.25)
    raise TimeoutError(f"{service}: {count} new ready task(s) not seen within {timeout} s")


def kill(service: str) -> tuple[set[str], float]:
    """SIGKILL every running container of the service (a crash of each task);
    return them and the time of the kill (time.monotonic())."""
    victims = set(containers(service))
    assert victims, f"{service} has no running task to kill"
    docker("kill", *victims)
    return victims, time.monotonic()


def scale(service: str, replicas: int) -> None:
    """Set the replica count and wait until Swarm has converged."""
    docker("service", "scale", f"{service}={replicas}", timeout=300)


def service_labels(service: str) -> dict[str, str]:
    return json.loads(docker("service", "inspect", "--format", "{{json .Spec.Labels}}", service))


def update_labels(service: str, add: dict[str, str], remove: tuple[str, ...] = ()) -> None:
    """Change the service's labels (not its tasks': no task is replaced)."""
    args = [a for k, v in add.items() for a in ("--label-add", f"{k}={v}")]
    args += [a for k in remove for a in ("--label-rm", k)]
    docker("service", "update", "--detach", *args, service)
