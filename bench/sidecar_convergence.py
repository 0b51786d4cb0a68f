"""Discovery convergence on the real swarm (issue 4): median of N rounds.

- create: from the new function's first task reaching ``running`` (the
  Engine's own timestamp of that state) to the first successful call through
  the sidecar (polled every 5 ms). Also printed: ``docker service create`` to
  first successful call (includes scheduling and container start).
- scale-down: from the scale API call (2 -> 1) to the replica leaving the
  rotation (``gateway_service_count`` == 1 in the sidecar's /metrics).
- rm: from the remove API call to the function answering 404.

Target: under 1 s each. The sidecar runs as a swarm service on an overlay
network of its own (sc-bench-*), published on 127.0.0.1:18202. With
``--via-gate`` it reaches the Engine through the engine gate on a network of
their own, as in stack.yml; without, on the socket.

    .venv/bin/python bench/sidecar_convergence.py [--rounds 10] [--via-gate]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import docker
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sidecar"))

from report import write_result  # noqa: E402
from sidecar_swarm import (  # noqa: E402
    ECHO_IMAGE,
    build_images,
    gate_token_dir,
    gate_token_settings,
    remove,
    service_count,
    start_engine_gate_service,
    start_sidecar,
    swarm_ready,
    wait_until,
)
from sidecar_swarm import docker as docker_cli  # noqa: E402

PORT = 18202
PREFIX = "sc-bench"
NETWORK = f"{PREFIX}-net"
SIDECAR = f"{PREFIX}-sidecar"
GATE = f"{PREFIX}-gate"
GATE_NETWORK = f"{PREFIX}-engine"


def engine_time(stamp: str) -> float:
    # "2026-11-27T00:40:03.123456789Z": keep microseconds for fromisoformat
    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()


def running_since(api: docker.APIClient, service: str) -> float | None:
    for task in api.tasks(filters={"service": service, "desired-state": "running"}):
        if task["Status"]["State"] == "running":
            return engine_time(task["Status"]["Timestamp"])
    return None


def spec_kwargs(name: str, replicas: int) -> dict:
    return dict(
        name=name, networks=[NETWORK], labels={"swarmfaas.function": "true"},
        endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
        mode=docker.types.ServiceMode("replicated", replicas=replicas),
    )


def scale(api: docker.APIClient, service_id: str, replicas: int) -> None:
    """What ``docker service scale`` does: the same spec with a new count (docker-py's
    update_service rewrites other fields, which rolls every task)."""
    inspect = api.inspect_service(service_id)
    spec = inspect["Spec"]
    spec["Mode"]["Replicated"]["Replicas"] = replicas
    response = api._post_json(api._url("/services/{0}/update", service_id), data=spec,
                              params={"version": inspect["Version"]["Index"]})
    api._raise_for_status(response)


def relist_ms(client: httpx.Client) -> tuple[float, int]:
    """Mean re-list time (ms) and count so far, from the sidecar's own histogram."""
    total = count = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("swarmfaas_discovery_relist_seconds_sum "):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith("swarmfaas_discovery_relist_seconds_count "):
            count = float(line.rsplit(" ", 1)[1])
    return (total / count * 1000 if count else 0.0), int(count)


def one_round(api: docker.APIClient, client: httpx.Client, index: int) -> dict[str, float]:
    name = f"{PREFIX}-fn{index}"
    task = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(ECHO_IMAGE, env=["DRAIN_SECONDS=2"],
                                                  stop_grace_period=10 * 10**9))
    created = time.time()
    service = api.create_service(task, **spec_kwargs(name, 2))
    wait_until(lambda: client.get(f"/function/{name}").status_code == 200, 60,
               "first call", interval=0.005)
    first_ok = time.time()
    running = running_since(api, service["ID"])
    assert running is not None
    wait_until(lambda: service_count(client, name) == 2, 60, "two replicas", interval=0.02)
    time.sleep(0.5)

    t0 = time.time()
    scale(api, service["ID"], 1)
    wait_until(lambda: service_count(client, name) == 1, 30, "scale-down", interval=0.005)
    scale_down = time.time() - t0
    time.sleep(0.5)

    t0 = time.time()
    api.remove_service(service["ID"])
    wait_until(lambda: client.get(f"/function/{name}").status_code == 404, 30, "rm",
               interval=0.005)
    rm = time.time() - t0
    return {"running_to_first_call": first_ok - running, "create_to_first_call":
            first_ok - created, "scale_down_to_out": scale_down, "rm_to_404": rm}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--via-gate", action="store_true",
                        help="the sidecar reaches the Engine through the engine gate")
    args = parser.parse_args()
    why = swarm_ready()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    if not args.no_build:
        build_images()
    api = docker.APIClient(version="1.41")
    remove(SIDECAR, GATE)
    docker_cli("network", "create", "--driver", "overlay", "--attachable", NETWORK, check=False)
    if args.via_gate:
        docker_cli("network", "create", "--driver", "overlay", "--internal", GATE_NETWORK,
                   check=False)
        token_dir = gate_token_dir()  # the gate requires the sidecar's token, as deployed
        url = start_engine_gate_service(GATE, GATE_NETWORK, NETWORK, "sc-*", token_dir)
        token_env, token_mount = gate_token_settings(token_dir)
        # No socket for the sidecar: an empty directory where it would be.
        start_sidecar(SIDECAR, NETWORK, PORT, docker_dir=tempfile.mkdtemp(prefix="sc-bench-"),
                      env={"DOCKER_HOST": url, **token_env},
                      extra=["--network", GATE_NETWORK, *token_mount])
    else:
        # The sidecar gets the Engine socket's directory (not a relay): no added hop.
        start_sidecar(SIDECAR, NETWORK, PORT, docker_dir="/var/run")
    client = httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=10)
    rounds: list[dict[str, float]] = []
    try:
        wait_until(lambda: client.get("/healthz").status_code == 200, 90, "sidecar healthy",
                   interval=0.2)
        for index in range(args.rounds):
            result = one_round(api, client, index)
            rounds.append(result)
            print(f"round {index + 1}: " + ", ".join(f"{k} {v * 1000:.0f} ms"
                                                     for k, v in result.items()), flush=True)
        relist_mean, relists = relist_ms(client)
    finally:
        client.close()
        remove(SIDECAR, GATE, *(f"{PREFIX}-fn{i}" for i in range(args.rounds)))
        time.sleep(2)
        docker_cli("network", "rm", NETWORK, GATE_NETWORK, check=False)
    summary = {}
    for key in rounds[0]:
        values = sorted(r[key] for r in rounds)
        summary[key] = {"median_ms": statistics.median(values) * 1000,
                        "min_ms": values[0] * 1000, "max_ms": values[-1] * 1000}
    print("\nmedian of", len(rounds), "rounds (target < 1000 ms for the first, third, fourth);",
          "Engine through the gate" if args.via_gate else "Engine on the socket")
    for key, s in summary.items():
        print(f"  {key:24s} median {s['median_ms']:7.0f} ms  min {s['min_ms']:6.0f}  "
              f"max {s['max_ms']:6.0f}")
    print(f"  the sidecar's re-lists: {relists}, {relist_mean:.1f} ms on average")
    summary["relist_mean_ms"] = relist_mean
    write_result(
        "sidecar_convergence",
        subject="discovery on the real swarm: task running -> first call; scale 2 -> 1 -> out"
                " of rotation; rm -> 404; Engine " + ("through the engine gate" if args.via_gate
                                                      else "on the socket"),
        baseline="none: absolute times, medians of the rounds", ratio=None,
        target="< 1 s each",
        summary="; ".join(f"{k.replace('_', ' ')} {v['median_ms']:,.0f} ms"
                          for k, v in summary.items() if isinstance(v, dict))
                + f"; mean re-list {relist_mean:.1f} ms",
        figures={"via_gate": args.via_gate, "rounds": rounds, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
