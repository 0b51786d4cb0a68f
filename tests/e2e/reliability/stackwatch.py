"""What the deployed stack looks like from outside, to tell whether a component
crashed: its tasks (a restart is a new task of the same service) and its logs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

# Lines that mean a process of the platform died or failed inside, whatever
# the client saw: nginx's worker crashes and alerts, Python's unhandled errors.
CRASH_MARKERS = (
    "exited on signal",
    "[alert]",
    "[emerg]",
    "Traceback (most recent call last)",
    "Fatal error: protocol",
    "Exception in callback",
)


@dataclass(frozen=True)
class Task:
    id: str
    service: str
    state: str
    error: str


def tasks(stack: str) -> list[Task]:
    """Every task of the stack, running or ended."""
    out = subprocess.run(
        ["docker", "stack", "ps", stack, "--no-trunc", "--format",
         "{{.ID}}\t{{.Name}}\t{{.CurrentState}}\t{{.Error}}"],
        check=True, capture_output=True, text=True,
    ).stdout
    found = []
    for line in out.splitlines():
        task_id, name, state, error = ([*line.split("\t"), "", "", ""])[:4]
        # "faastest_sidecar.1" or "faastest_echo.1" (a history row starts with "\_ ").
        service = name.strip().lstrip("\\_ ").split(".")[0]
        found.append(Task(task_id, service, state, error.strip()))
    return found


def restarts(stack: str, before: list[Task], functions: set[str]) -> list[str]:
    """What changed since `before` that means a crash: a new task of a platform
    service (it restarted), or any task that has failed since. A new task of a
    function that did not fail is the autoscaler adding a replica: allowed."""
    old = {t.id: t for t in before}
    found = []
    for task in tasks(stack):
        failed = task.state.startswith(("Failed", "Rejected"))
        was_failed = task.id in old and old[task.id].state.startswith(("Failed", "Rejected"))
        platform_restart = (task.id not in old
                            and task.service.removeprefix(f"{stack}_") not in functions)
        if (failed and not was_failed) or platform_restart:
            found.append(f"{task.service} task {task.id[:12]}: {task.state} {task.error}".strip())
    return found


def services(stack: str) -> list[str]:
    return subprocess.run(
        ["docker", "stack", "services", stack, "--format", "{{.Name}}"],
        check=True, capture_output=True, text=True,
    ).stdout.split()


def logs(service: str, since: float | None = None) -> str:
    """The service's log (stdout and stderr) from every container its tasks ran
    in, from `since` (a Unix time) if given.

    The containers' logs, not `docker service logs`: the same lines (the
    json-file driver), but `docker service logs` took over 200 s for nginx's
    9,800 lines on the 2-core machine, `docker logs` 0.3 s. This sees the
    containers of this node only, which is every one on a single-node swarm."""
    ids = subprocess.run(
        ["docker", "ps", "-a", "-q", "--no-trunc",
         "--filter", f"label=com.docker.swarm.service.name={service}"],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    since_args = ["--since", f"{since:.0f}"] if since is not None else []
    out = []
    for container in ids:
        proc = subprocess.run(["docker", "logs", *since_args, container], capture_output=True,
                              text=True, errors="replace", timeout=120)
        out.append(proc.stdout + proc.stderr)
    return "\n".join(out)


def crash_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(m in line for m in CRASH_MARKERS)]


def functions(stack: str) -> set[str]:
    """The stack's function services, by their short names (echo, relay...)."""
    out = subprocess.run(
        ["docker", "service", "ls", "--format", "{{.Name}}",
         "--filter", "label=swarmfaas.function=true",
         "--filter", f"label=com.docker.stack.namespace={stack}"],
        check=True, capture_output=True, text=True,
    ).stdout
    return {name.removeprefix(f"{stack}_") for name in out.split()}
