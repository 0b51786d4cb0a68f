"""Discovery convergence across nodes, on the multi-node swarm (issue 18):
median of N rounds, with the stack deployed by `make cluster-up`.

The function (the stack's echo image, by digest) has 2 replicas, placed on the
workers; the three sidecars run on the managers, each with its own discovery,
behind nginx on each manager. "Everywhere" means 3 answers in a row of the
expected kind through nginx on every manager (nginx takes the sidecars in turn).

- create: from the first task reaching ``running`` (the Engine's timestamp of
  that state) to answered everywhere; also from the create call.
- scale to 0: from the scale call to 503 (no ready replica) everywhere.
- rm: from the remove call to 404 everywhere.

    make cluster && make cluster-up
    .venv/bin/python bench/cluster_convergence.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import docker
import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sidecar"))

from report import write_result  # noqa: E402
from sidecar_convergence import running_since, scale  # noqa: E402

PREFIX = "sfcb"
IN_A_ROW = 3


def cluster_nodes() -> list[tuple[str, str, str]]:
    out = subprocess.run(
        ["bash", "-c", 'source scripts/cluster-env.sh; for n in $CLUSTER_NODES; do '
         'echo "$n $(node_addr $n) $(node_sock $n)"; done'],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [tuple(line.split()) for line in out.splitlines()]  # type: ignore[misc]


def everywhere(clients: list[httpx.Client], path: str, status: int) -> Callable[[], bool]:
    def check() -> bool:
        for client in clients:
            for _ in range(IN_A_ROW):
                try:
                    if client.post(path, content=b"x").status_code != status:
                        return False
                except httpx.HTTPError:
                    return False
        return True
    return check


def wait(check: Callable[[], bool], timeout: float, what: str) -> float:
    """The time at which ``check()`` first held."""
    deadline = time.time() + timeout
    while not check():
        if time.time() > deadline:
            raise TimeoutError(what)
        time.sleep(0.005)
    return time.time()


def one_round(api: docker.APIClient, clients: list[httpx.Client], image: str, network: str,
              index: int) -> dict[str, float]:
    name = f"{PREFIX}-fn{index}"
    task = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(image, env=["healthcheck_interval=1s"]),
        placement=docker.types.Placement(constraints=["node.role==worker"]))
    created = time.time()
    service = api.create_service(
        task, name=name, networks=[network], labels={"swarmfaas.function": "true"},
        endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
        mode=docker.types.ServiceMode("replicated", replicas=2))
    answered = wait(everywhere(clients, f"/function/{name}", 200), 90, "create")
    running = running_since(api, service["ID"])
    assert running is not None
    time.sleep(1)

    t0 = time.time()
    scale(api, service["ID"], 0)
    scaled = wait(everywhere(clients, f"/function/{name}", 503), 60, "scale to 0") - t0
    time.sleep(0.5)

    t0 = time.time()
    api.remove_service(service["ID"])
    removed = wait(everywhere(clients, f"/function/{name}", 404), 60, "rm") - t0
    return {"running_to_everywhere": answered - running, "create_to_everywhere":
            answered - created, "scale_to_0_to_503": scaled, "rm_to_404": removed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    stack = os.environ.get("STACK", "faas")
    port = int(os.environ.get("HTTPS_PORT", "8443"))
    pins = ROOT / ".state" / "cluster" / f"images-{stack}.yml"
    if not pins.is_file():
        print("cannot run: the stack is not on the cluster (make cluster && make cluster-up)",
              file=sys.stderr)
        return 2
    image = yaml.safe_load(pins.read_text())["services"]["echo"]["image"]
    nodes = cluster_nodes()
    managers = [(addr, sock) for name, addr, sock in nodes if name.startswith("m")]
    api = docker.APIClient(base_url=f"unix://{managers[0][1]}", version="1.41")
    tls = ssl.create_default_context(cafile=str(ROOT / ".state" / stack / "certs" / "ca.pem"))
    tls.check_hostname = False  # the development certificate names localhost
    clients = [httpx.Client(base_url=f"https://{addr}:{port}", verify=tls, timeout=10)
               for addr, _ in managers]
    rounds: list[dict[str, float]] = []
    try:
        for index in range(args.rounds):
            result = one_round(api, clients, image, f"{stack}_functions", index)
            rounds.append(result)
            print(f"round {index + 1}: " + ", ".join(f"{k} {v * 1000:.0f} ms"
                                                     for k, v in result.items()), flush=True)
    finally:
        for index in range(args.rounds):
            with contextlib.suppress(docker.errors.APIError):
                api.remove_service(f"{PREFIX}-fn{index}")
        for client in clients:
            client.close()
    summary = {}
    for key in rounds[0]:
        values = sorted(r[key] for r in rounds)
        summary[key] = {"median_ms": statistics.median(values) * 1000,
                        "min_ms": values[0] * 1000, "max_ms": values[-1] * 1000}
    print(f"\nmedian of {len(rounds)} rounds; 3 sidecars on managers, replicas on workers")
    for key, s in summary.items():
        print(f"  {key:24s} median {s['median_ms']:7.0f} ms  min {s['min_ms']:6.0f}  "
              f"max {s['max_ms']:6.0f}")
    write_result(
        "cluster_convergence",
        subject="discovery on the 5-node swarm (make cluster): create, scale to 0, rm, seen"
                " through every manager's nginx",
        baseline="none: absolute times, medians of the rounds", ratio=None,
        summary="; ".join(f"{k.replace('_', ' ')} {v['median_ms']:,.0f} ms"
                          for k, v in summary.items()),
        figures={"rounds": rounds, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
