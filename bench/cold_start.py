"""Cold start (issue 15): a request to a function at zero replicas until its answer,
against the platform's limit, the same image going from a scale to 1 until its
healthcheck passes.

Two services of one image (the real watchdog in HTTP mode, its own healthcheck
every --health-interval s, as the system API deploys functions):

- ``<prefix>-base``: no function label. Per round: scaled to 1 through the
  Engine API (what ``docker service scale name=1`` sends), timed until Docker's
  ``health_status: healthy`` event for its new container.
- ``<prefix>-fn``: a function that opted into zero (swarmfaas.scale.zero=true).
  Per round: at 0 (by hand; SCALER_HUMAN_HOLD=0 so the scaler does not hold
  that), one GET through the sidecar timed until its answer. The sidecar holds
  it, the scaler (a host process, SCALER_INTERVAL as deployed) sees it and
  scales to 1, the sidecar routes once the task is ready.

The two sides alternate (the order swaps every round). The cold side is also
broken down from Docker's events: request -> the scaler's service update ->
the container started -> healthy -> the answer.

Target: cold <= 1.2 x base + 100 ms (medians).

    flock /tmp/swarmfaas-docker.lock .venv/bin/python bench/cold_start.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import docker as docker_py
import httpx
from report import write_result
from scale_world import (
    Events,
    create_service,
    live_containers,
    metric,
    replicas,
    scale,
    scale_world,
)
from sidecar_swarm import wait_until


def to_zero(api: docker_py.APIClient, service: str) -> None:
    scale(api, service, 0)
    wait_until(lambda: live_containers(service) == 0, 60, f"{service} at zero", interval=0.1)


def base_round(api: docker_py.APIClient, events: Events, service: str) -> dict[str, float]:
    to_zero(api, service)
    started = time.time()
    scale(api, service, 1)
    healthy = events.wait(service, "health_status: healthy", started, 120)
    began = events.first(service, "start", started)
    return {"total_s": healthy - started,
            "to_container_start_s": (began or healthy) - started}


def table_count(client: httpx.Client, function: str) -> float | None:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'gateway_service_count{{function_name="{function}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return None


def cold_round(api: docker_py.APIClient, events: Events, client: httpx.Client,
               function: str) -> dict[str, float]:
    to_zero(api, function)
    wait_until(lambda: table_count(client, function) == 0, 30, "the sidecar's table at zero",
               interval=0.1)
    time.sleep(0.5)  # the scaler's rounds see the function idle at 0
    started = time.time()
    answer = client.get(f"/function/{function}/", timeout=120)
    answered = time.time()
    if answer.status_code != 200:
        raise RuntimeError(f"cold request answered {answer.status_code}: {answer.text[:300]}")
    updated = events.first(function, "update", started, kind="service")
    began = events.first(function, "start", started)
    healthy = events.first(function, "health_status: healthy", started)
    parts = {"total_s": answered - started}
    if updated and began and healthy:
        parts.update(to_scaler_update_s=updated - started,
                     update_to_container_start_s=began - updated,
                     start_to_healthy_s=healthy - began,
                     healthy_to_answer_s=answered - healthy)
    return parts


def median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for r in rounds for k in r}
    return {k: round(statistics.median(r[k] for r in rounds if k in r), 4) for k in sorted(keys)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prefix", default="scale-cs")
    parser.add_argument("--port", type=int, default=18461)
    parser.add_argument("--health-interval", type=float, default=2.0,
                        help="the functions' healthcheck interval (SYSTEM_HEALTH_INTERVAL's "
                             "default is 2 s)")
    parser.add_argument("--scaler-interval", default="1",
                        help="SCALER_INTERVAL of the scaler (deployed default 1)")
    parser.add_argument("--no-nudge", action="store_true",
                        help="no SCALER_WAKE: the scaler sees a held call at its next round")
    args = parser.parse_args()
    scaler_env = {"SCALER_HUMAN_HOLD": "0", "SCALER_INTERVAL": args.scaler_interval,
                  "SCALER_DOWN_WINDOW": "3600"}
    load_before = os.getloadavg()
    # the sidecar nudges the scaler when a call starts waiting, as deployed
    with scale_world(args.prefix, args.port, scaler_env=scaler_env,
                     nudge=not args.no_nudge) as world:
        base_name, fn_name = world.name("base"), world.name("fn")
        create_service(world, base_name, replicas=0, labels={}, env={},
                       health_interval=args.health_interval)
        create_service(world, fn_name, replicas=1, health_interval=args.health_interval,
                       labels={"swarmfaas.function": "true", "swarmfaas.scale.zero": "true",
                               "swarmfaas.scale.zero_duration": "3600"}, env={})
        api = docker_py.APIClient(version="1.41", timeout=60)
        events = Events(args.prefix)
        client = httpx.Client(base_url=world.base_url, timeout=30)
        try:
            wait_until(lambda: client.get(f"/function/{fn_name}/").status_code == 200, 120,
                       "the function routable", interval=0.2)
            bases, colds = [], []
            for index in range(args.rounds):
                sides = [("base", lambda: base_round(api, events, base_name)),
                         ("cold", lambda: cold_round(api, events, client, fn_name))]
                for side, run in (sides if index % 2 == 0 else sides[::-1]):
                    result = run()
                    (bases if side == "base" else colds).append(result)
                    print(f"round {index + 1} {side}: " + ", ".join(
                        f"{k} {v:.3f}" for k, v in result.items()), flush=True)
            from_zero = metric(world.metrics_url, "swarmfaas_scaler_decisions_total",
                               f'function_name="{fn_name}",reason="from_zero"')
            assert replicas(fn_name) == 1
        finally:
            client.close()
            events.close()
            api.close()
    base, cold = median_of(bases), median_of(colds)
    limit = 1.2 * base["total_s"] + 0.1
    doc = {
        "rounds": args.rounds, "health_interval_s": args.health_interval,
        "scaler_interval_s": float(args.scaler_interval), "nudge": not args.no_nudge,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "base": bases, "cold": colds, "base_median": base, "cold_median": cold,
        "ratio": round(cold["total_s"] / base["total_s"], 3),
        # each round's cold over the same round's base: the load moves both alike
        "paired_ratio_median": round(statistics.median(
            c["total_s"] / b["total_s"] for c, b in zip(colds, bases, strict=True)), 3),
        "target_s": round(limit, 4), "met": cold["total_s"] <= limit,
        "from_zero_decisions": from_zero,
    }
    print(f"\nbase (scale to 1 -> healthy) median {base['total_s']:.3f} s; "
          f"cold (request at zero -> answer) median {cold['total_s']:.3f} s; "
          f"ratio {doc['ratio']}x (median of per-round ratios "
          f"{doc['paired_ratio_median']}x); target 1.2 x base + 0.1 = {limit:.3f} s: "
          f"{'met' if doc['met'] else 'MISSED'}")
    print("cold, median parts: " + ", ".join(f"{k} {v:.3f}" for k, v in cold.items()))
    print(f"load average before {load_before}, after {doc['load_average_after']}")
    write_result(
        "cold_start", subject="a request to a function at zero replicas until its answer",
        baseline="the same image from `docker service scale name=1` to healthy",
        ratio=doc["ratio"], metric="median time", target="<= 1.2 x baseline + 100 ms",
        round_ratios=[c["total_s"] / b["total_s"] for c, b in zip(colds, bases, strict=True)],
        summary=(f"cold {cold['total_s']:.2f} s vs {base['total_s']:.2f} s, median of "
                 f"{args.rounds}; limit {limit:.2f} s: {'met' if doc['met'] else 'MISSED'}"),
        figures=doc)


if __name__ == "__main__":
    main()
