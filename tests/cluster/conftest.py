"""The multi-node swarm of scripts/cluster.sh, with stack.yml deployed on it
(scripts/cluster-test.sh does both, then runs this suite, then tears down)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from cluster_swarm import ROOT, Cluster, cluster_nodes


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    stack = os.environ.get("STACK", "faas")
    nodes = cluster_nodes()
    pins = ROOT / ".state" / "cluster" / f"images-{stack}.yml"
    if not pins.is_file() or not Path(nodes[0].socket).exists():
        pytest.fail("the multi-node swarm is not up with the stack on it: "
                    "run make cluster-test (or make cluster && make cluster-up).")
    images = {name: s["image"] for name, s in yaml.safe_load(pins.read_text())["services"].items()}
    return Cluster(nodes, stack, int(os.environ.get("HTTPS_PORT", "8443")),
                   str(ROOT / ".state" / stack / "certs" / "ca.pem"), images)


@pytest.fixture
def function_service(cluster: Cluster) -> Iterator[Callable[..., str]]:
    """Make echo functions (the stack's echo image, by digest) placed as asked;
    each is removed at the end of the test."""
    made: list[str] = []

    def make(name: str, replicas: int, *constraints: str, timeout: int = 5) -> str:
        full = f"sfct-{name}"
        cluster.docker("service", "rm", full, check=False)
        args = ["service", "create", "--detach", "--name", full,
                "--network", f"{cluster.stack}_functions", "--endpoint-mode", "dnsrr",
                "--replicas", str(replicas),
                "--label", "swarmfaas.function=true", "--label", f"swarmfaas.timeout={timeout}",
                # as stack.yml's functions: judged healthy within seconds, drained on stop
                "--env", "healthcheck_interval=1s", "--stop-grace-period", "20s",
                "--health-cmd", "fwatchdog --healthcheck", "--health-interval", "1s",
                "--health-timeout", "2s", "--health-retries", "3", "--health-start-period", "2s",
                "--update-order", "start-first"]
        for c in constraints:
            args += ["--constraint", c]
        cluster.docker(*args, cluster.images["echo"])
        made.append(full)
        return full

    yield make
    for name in made:
        cluster.docker("service", "rm", name, check=False)


