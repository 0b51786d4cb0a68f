"""What the engine gate costs discovery: Engine calls through the gate against
the same calls on the socket, in alternating rounds.

- re-list: the sidecar's ``Engine.list_functions`` (GET /services with the
  function filter, then GET /tasks), the call behind every convergence;
- event: from calling ``docker service create`` (on the socket, both sides)
  to the create event read from the stream (the event often arrives before
  the create call has returned).

Target: the gate adds well under the 1 s convergence budget (issue 4); the
figures are medians of every round.

    .venv/bin/python bench/engine_gate.py [--rounds 5] [--calls 50]
"""

from __future__ import annotations

import argparse
import queue
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sidecar"))

import docker  # noqa: E402
from docker.types import ServiceMode  # noqa: E402
from report import write_result  # noqa: E402
from sidecar_swarm import engine_gate, swarm_ready  # noqa: E402

from faas_sidecar.engine import Engine  # noqa: E402

PORT = 18292
NETWORK = "bg-functions"
IMAGE = "swarmfaas/bg-idle:bench"


def relist_ms(engine: Engine, calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        engine.list_functions()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def event_ms(engine: Engine, admin: docker.DockerClient, name: str) -> float:
    """Milliseconds from calling service create to its event on the stream."""
    stream = engine.events()
    seen: queue.Queue[float] = queue.Queue()

    def read() -> None:
        for event in stream:
            if event.get("Actor", {}).get("Attributes", {}).get("name") == name:
                seen.put(time.perf_counter())
                return

    threading.Thread(target=read, daemon=True).start()
    time.sleep(0.2)  # the subscription is live once events() returned; settle anyway
    created = time.perf_counter()
    service = admin.services.create(IMAGE, name=name, labels={"swarmfaas.function": "true"},
                                    networks=[NETWORK], command=["sleep", "infinity"],
                                    mode=ServiceMode("replicated", replicas=0))
    try:
        return (seen.get(timeout=10) - created) * 1000
    finally:
        service.remove()
        stream.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50, help="re-lists per round and side")
    args = parser.parse_args()
    why = swarm_ready()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    admin = docker.from_env()
    admin.images.get("debian:bookworm-slim").tag(IMAGE)
    if not admin.networks.list(names=[NETWORK]):
        admin.networks.create(NETWORK, driver="overlay", attachable=True)
    results: dict[str, dict[str, list[float]]] = {
        side: {"relist_ms": [], "event_ms": []} for side in ("socket", "gate")}
    try:
        token = secrets.token_urlsafe(32)  # the gate requires one, as deployed
        with engine_gate(PORT, NETWORK, images="swarmfaas/bg-*", token=token) as url:
            engines = {"socket": Engine(None), "gate": Engine(url, token=token)}
            for engine in engines.values():
                relist_ms(engine, 5)  # warm
            for index in range(args.rounds):
                order = list(engines.items())
                if index % 2:
                    order.reverse()
                for side, engine in order:
                    r = relist_ms(engine, args.calls)
                    e = event_ms(engine, admin, f"bg-fn-{side}-{index}")
                    results[side]["relist_ms"].append(r)
                    results[side]["event_ms"].append(e)
                    print(f"round {index + 1} {side:6s} re-list {r:6.2f} ms  event {e:6.1f} ms",
                          flush=True)
    finally:
        for service in admin.services.list(filters={"name": "bg-fn-"}):
            service.remove()
        for network in admin.networks.list(names=[NETWORK]):
            network.remove()
        admin.images.remove(IMAGE)  # the tag only
    summary = {side: {k: statistics.median(v) for k, v in r.items()}
               for side, r in results.items()}
    s, g = summary["socket"], summary["gate"]
    print(f"\nmedians of {args.rounds} rounds ({args.calls} re-lists each):")
    print(f"  re-list: socket {s['relist_ms']:.2f} ms, gate {g['relist_ms']:.2f} ms "
          f"(+{g['relist_ms'] - s['relist_ms']:.2f} ms, {g['relist_ms'] / s['relist_ms']:.2f}x)")
    print(f"  event:   socket {s['event_ms']:.1f} ms, gate {g['event_ms']:.1f} ms "
          f"(+{g['event_ms'] - s['event_ms']:.1f} ms)")
    write_result(
        "engine_gate",
        subject="the sidecar's Engine calls through the engine gate: a re-list"
                f" (Engine.list_functions, {args.calls} per round) and a service event",
        baseline="the same calls on the Docker socket, alternating",
        metric="re-list ms, median, gate/socket (lower is better)",
        target="well under the 1 s convergence budget",
        ratio=g["relist_ms"] / s["relist_ms"],
        round_ratios=[a / b for a, b in zip(results["gate"]["relist_ms"],
                                            results["socket"]["relist_ms"], strict=True)],
        summary=f"re-list {g['relist_ms']:.2f} vs {s['relist_ms']:.2f} ms"
                f" ({g['relist_ms'] - s['relist_ms']:+.2f} ms); event {g['event_ms']:.1f} vs"
                f" {s['event_ms']:.1f} ms",
        figures={"rounds": results, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
