"""The multi-node swarm of scripts/cluster.sh as the tests see it: its nodes,
nginx on each manager, the docker CLI against a node, waiting.

Requests go over HTTPS to nginx on a manager's veth address (10.77.0.1x by
default): the cluster's own private network, nothing else."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Node:
    name: str     # m1, w1 ...
    addr: str     # its veth address
    socket: str   # its dockerd's socket, as the host sees it

    @property
    def manager(self) -> bool:
        return self.name.startswith("m")

    @property
    def hostname(self) -> str:  # the swarm's node name (scripts/cluster.sh sets it)
        return f"{os.environ.get('CLUSTER_PREFIX', 'sfc')}-{self.name}"


@dataclass(frozen=True)
class Cluster:
    nodes: tuple[Node, ...]
    stack: str
    https_port: int
    ca_file: str
    images: dict[str, str]  # service -> image by registry and digest

    @property
    def managers(self) -> list[Node]:
        return [n for n in self.nodes if n.manager]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if not n.manager]

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def url(self, node: Node) -> str:
        return f"https://{node.addr}:{self.https_port}"

    @property
    def verify(self) -> ssl.SSLContext:
        # The development certificate names localhost: the chain is checked
        # against the stack's CA, the name (a veth address) is not.
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.check_hostname = False
        return ctx

    def client(self, node: Node, **kwargs: object) -> httpx.Client:
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.url(node), verify=self.verify, **kwargs)  # type: ignore[arg-type]

    def docker(self, *args: str, node: Node | None = None, check: bool = True) -> str:
        """The docker CLI against a node (a manager by default): its stdout."""
        return self._docker(args, node, check).stdout

    def logs(self, container: str, node: Node) -> tuple[str, str]:
        """A container's stdout and stderr, as it wrote them."""
        proc = self._docker(("logs", container), node, True)
        return proc.stdout, proc.stderr

    def _docker(self, args: tuple[str, ...], node: Node | None,
                check: bool) -> subprocess.CompletedProcess[str]:
        node = node or self.managers[0]
        proc = subprocess.run(["docker", "-H", f"unix://{node.socket}", *args],
                              capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} on {node.name}: {proc.stderr.strip()}")
        return proc

    def containers(self, node: Node, service: str) -> list[str]:
        """The ids of the stack service's containers running on ``node``."""
        return self.docker("ps", "-q", "--filter",
                           f"label=com.docker.swarm.service.name={self.stack}_{service}",
                           node=node).split()

    def container(self, node: Node, service: str) -> str:
        """The one container of the stack service on ``node``."""
        found = self.containers(node, service)
        assert len(found) == 1, f"{service} containers on {node.name}: {found}"
        return found[0]

    def script(self, *args: str) -> None:
        proc = subprocess.run(["bash", str(ROOT / "scripts/cluster.sh"), *args],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise AssertionError(f"cluster.sh {' '.join(args)}: {proc.stdout}{proc.stderr}")


def cluster_nodes() -> tuple[Node, ...]:
    out = subprocess.run(
        ["bash", "-c", 'source scripts/cluster-env.sh; for n in $CLUSTER_NODES; do '
         'echo "$n $(node_addr $n) $(node_sock $n)"; done'],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return tuple(Node(*line.split()) for line in out.splitlines())


def cluster_registry() -> str:
    """The registry's address as the nodes pull from it (host:port)."""
    return subprocess.run(["bash", "-c", 'source scripts/cluster-env.sh; echo "$CLUSTER_REGISTRY"'],
                          cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def running_nodes(cluster: Cluster, service: str) -> list[str]:
    """The node names of the service's tasks that run now."""
    out = cluster.docker("service", "ps", service, "--filter", "desired-state=running",
                         "--format", "{{.Node}} {{.CurrentState}}")
    return sorted(line.split()[0] for line in out.splitlines() if " Running " in f" {line} ")


def routable_everywhere(cluster: Cluster, service: str, in_a_row: int = 9,
                        managers: list[Node] | None = None,
                        timeout: float = 10) -> Callable[[], bool]:
    """Answers through nginx on every manager (or on ``managers``), ``in_a_row``
    times each, so every sidecar replica behind each nginx has it in its table.
    The last miss is kept in ``check.last_miss`` (``wait_for`` reports it)."""
    def check() -> bool:
        for node in cluster.managers if managers is None else managers:
            with cluster.client(node, timeout=timeout) as c:
                for i in range(in_a_row):
                    try:
                        r = c.post(f"/function/{service}", content=f"probe-{i}".encode())
                    except httpx.HTTPError as e:
                        check.last_miss = f"{node.name}: {type(e).__name__}: {e}"
                        return False
                    if r.status_code != 200 or r.text != f"probe-{i}":
                        check.last_miss = f"{node.name}: {r.status_code} {r.text[:300]!r}"
                        return False
        return True
    check.last_miss = ""
    return check


def wait_for(what: str, check: Callable[[], bool], timeout: float, every: float = 0.25) -> float:
    """Seconds until ``check()`` holds; fails the test, naming ``what``, after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            miss = getattr(check, "last_miss", "")
            pytest.fail(f"{what}: not within {timeout} s" + (f"; last: {miss}" if miss else ""))
        time.sleep(every)
    return time.monotonic() - start
