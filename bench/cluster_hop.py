"""The sidecar hop across nodes against the same hop on one node (issue 18),
on the multi-node swarm with the stack deployed by `make cluster-up`.

Two echo functions (the stack's echo image, by digest): "local" placed on the
first manager, where the sidecar under test runs, and "remote" on a worker.
A client in a container on the first manager, on the functions overlay,
calls that sidecar's task address directly (no nginx, so no other sidecar):
rounds of N sequential calls to each function alternate in the same run, and
each round also calls both functions' task addresses directly, so the
overlay's own cost across nodes shows apart from the sidecar's. The figure
is the ratio of medians, remote over local, paired round by round.

    make cluster && make cluster-up
    .venv/bin/python bench/cluster_hop.py [--rounds 10] [--calls 300]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import docker
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from cluster_convergence import cluster_nodes  # noqa: E402
from report import write_result  # noqa: E402

PREFIX = "sfcb-hop"

# Runs in the client container: sequential POSTs on one kept-alive connection
# per target, the four targets in turn each round; one JSON line per round.
CLIENT = r"""
import http.client, json, sys, time
targets = json.loads(sys.argv[1]); rounds = int(sys.argv[2]); calls = int(sys.argv[3])
def conn(t):
    return http.client.HTTPConnection(t["host"], t["port"], timeout=10)
def median_us(t, n):
    c = conn(t); times = []
    for i in range(n):
        start = time.perf_counter()
        c.request("POST", t["path"], body=b"hop", headers={"Content-Type": "text/plain"})
        r = c.getresponse(); body = r.read()
        if r.status != 200 or body != b"hop":
            raise SystemExit(f"{t['name']}: {r.status} {body[:200]!r}")
        times.append(time.perf_counter() - start)
    c.close(); times.sort()
    return times[len(times) // 2] * 1e6
for t in targets:  # warm: every path answers, and pools are open
    deadline = time.time() + 90
    while True:
        try:
            median_us(t, 20); break
        except Exception as exc:
            if time.time() > deadline: raise SystemExit(f"{t['name']} never answered: {exc}")
            time.sleep(0.5)
for index in range(rounds):
    order = targets if index % 2 == 0 else targets[::-1]
    print(json.dumps({t["name"]: median_us(t, calls) for t in order}), flush=True)
"""


def task_address(api: docker.APIClient, service: str, network: str) -> str:
    for task in api.tasks({"service": service, "desired-state": "running"}):
        if task["Status"]["State"] != "running":
            continue
        for attachment in task.get("NetworksAttachments", []):
            if attachment["Network"]["Spec"]["Name"] == network:
                return attachment["Addresses"][0].split("/")[0]
    raise LookupError(f"no running task of {service} on {network}")


def wait_address(api: docker.APIClient, service: str, network: str) -> str:
    deadline = time.time() + 120
    while True:
        with contextlib.suppress(LookupError):
            return task_address(api, service, network)
        if time.time() > deadline:
            raise TimeoutError(f"{service} has no running task")
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=300, help="calls per target per round")
    args = parser.parse_args()
    stack = os.environ.get("STACK", "faas")
    pins = ROOT / ".state" / "cluster" / f"images-{stack}.yml"
    if not pins.is_file():
        print("cannot run: the stack is not on the cluster (make cluster && make cluster-up)",
              file=sys.stderr)
        return 2
    images = yaml.safe_load(pins.read_text())["services"]
    nodes = {name: (addr, sock) for name, addr, sock in cluster_nodes()}
    prefix = os.environ.get("CLUSTER_PREFIX", "sfc")
    m1_sock = nodes["m1"][1]
    api = docker.APIClient(base_url=f"unix://{m1_sock}", version="1.41")
    network = f"{stack}_functions"
    places = {"local": f"{prefix}-m1", "remote": f"{prefix}-w1"}
    try:
        for side, hostname in places.items():
            with contextlib.suppress(docker.errors.APIError):
                api.remove_service(f"{PREFIX}-{side}")
            task = docker.types.TaskTemplate(
                container_spec=docker.types.ContainerSpec(images["echo"]["image"]),
                placement=docker.types.Placement(constraints=[f"node.hostname=={hostname}"]))
            api.create_service(task, name=f"{PREFIX}-{side}", networks=[network],
                               labels={"swarmfaas.function": "true"},
                               endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"))
        sidecar = next(t for t in api.tasks({"service": f"{stack}_sidecar",
                                             "desired-state": "running"})
                       if api.inspect_node(t["NodeID"])["Description"]["Hostname"]
                       == places["local"])
        sidecar_ip = next(a["Addresses"][0].split("/")[0]
                          for a in sidecar["NetworksAttachments"]
                          if a["Network"]["Spec"]["Name"] == network)
        targets = []
        for side in places:
            addr = wait_address(api, f"{PREFIX}-{side}", network)
            targets.append({"name": f"sidecar_{side}", "host": sidecar_ip, "port": 8080,
                            "path": f"/function/{PREFIX}-{side}"})
            targets.append({"name": f"direct_{side}", "host": addr, "port": 8080, "path": "/"})
        client = subprocess.run(
            ["docker", "-H", f"unix://{m1_sock}", "run", "--rm", "--network", network,
             "--entrypoint", "/opt/sidecar/bin/python", images["sidecar"]["image"], "-c", CLIENT,
             json.dumps(targets), str(args.rounds), str(args.calls)],
            capture_output=True, text=True, timeout=1800)
        if client.returncode != 0:
            print(client.stdout, client.stderr, file=sys.stderr)
            return 1
    finally:
        for side in places:
            with contextlib.suppress(docker.errors.APIError):
                api.remove_service(f"{PREFIX}-{side}")
    rounds = [json.loads(line) for line in client.stdout.splitlines() if line.startswith("{")]
    for i, r in enumerate(rounds, 1):
        print(f"round {i}: " + ", ".join(f"{k} {v:.0f} us" for k, v in r.items()))
    ratio = [r["sidecar_remote"] / r["sidecar_local"] for r in rounds]
    added = [r["sidecar_remote"] - r["sidecar_local"] for r in rounds]
    overlay = [r["direct_remote"] - r["direct_local"] for r in rounds]
    summary = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    summary |= {"ratio_remote_over_local": statistics.median(ratio),
                "ratio_min": min(ratio), "ratio_max": max(ratio),
                "added_us": statistics.median(added),
                "overlay_added_us": statistics.median(overlay)}
    print(f"\nmedians of {len(rounds)} rounds of {args.calls} calls each (us): "
          + ", ".join(f"{k} {summary[k]:.0f}" for k in rounds[0]))
    print(f"sidecar hop to a replica on another node / on its own node: "
          f"{summary['ratio_remote_over_local']:.3f}x (rounds {min(ratio):.3f}-{max(ratio):.3f}); "
          f"+{summary['added_us']:.0f} us a call; the same without the sidecar: "
          f"+{summary['overlay_added_us']:.0f} us")
    write_result(
        "cluster_hop", subject="the sidecar hop to a replica on another node",
        baseline="the same hop to a replica on the sidecar's own node",
        ratio=summary["ratio_remote_over_local"], metric="time per call", round_ratios=ratio,
        summary=(f"+{summary['added_us']:.0f} us a call; without the sidecar the overlay "
                 f"adds +{summary['overlay_added_us']:.0f} us"),
        figures={"rounds": rounds, "summary": summary, "calls": args.calls})
    return 0


if __name__ == "__main__":
    sys.exit(main())
