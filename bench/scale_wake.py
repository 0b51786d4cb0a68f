"""A held call wakes the scaler (issue 15): the time from the first call held for a
function at zero replicas to the scaler's scale call, with the sidecar's nudge
(SCALER_WAKE) against without it, alternating in the same run.

The world is bench/scale_world.py's: a sidecar service running this tree's code,
the real engine gate and the real scaler (a host process, ``SCALER_INTERVAL=1``
as deployed). The sidecar's nudges go to a UDP relay in this process, which
passes them on to the scaler's wake port in the "nudge" rounds and drops them in
the "no nudge" rounds, so both sides run with the same sidecar and scaler.

The function (scale to zero opted in) is placed on a node label no node has:
its tasks stay pending, so no container ever starts and a round costs only the
scale call. Per round: the function at zero (by hand; SCALER_HUMAN_HOLD=0) and
seen at zero by the scaler; a random pause (0 to 1 interval), so the call lands
anywhere in the scaler's round; one GET through the sidecar, held; the time to
Docker's ``update`` event of the service (the scaler's write); the call closed.

    flock /tmp/swarmfaas-docker.lock .venv/bin/python bench/scale_wake.py --rounds 10
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import threading
import time

import docker as docker_py
import httpx
from report import write_result
from scale_world import (
    Events,
    create_service,
    gateway_address,
    metric,
    replicas,
    scale,
    scale_world,
)
from sidecar_swarm import wait_until


class Relay:
    """UDP on 0.0.0.0:``port`` (the sidecar's SCALER_WAKE, through the host's
    docker_gwbridge address) -> the scaler's wake port, while ``on``."""

    def __init__(self, port: int, scaler_port: int) -> None:
        self.on = False
        self.passed = self.dropped = 0
        self._to = ("127.0.0.1", scaler_port)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("0.0.0.0", port))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self._sock.recv(100)
            except OSError:  # closed
                return
            if self.on:
                self.passed += 1
                self._sock.sendto(data, self._to)
            else:
                self.dropped += 1

    def close(self) -> None:
        self._sock.close()


def scaler_wakes(url: str) -> float | None:
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line.startswith("swarmfaas_scaler_wakes_total "):
            return float(line.split()[1])
    return None


def held_call(port: int, function: str) -> socket.socket:
    """One GET through the sidecar, left open (held until closed)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall(f"GET /function/{function}/ HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    return conn


def one_round(api: docker_py.APIClient, events: Events, world_port: int, metrics_url: str,
              function: str, interval: float) -> float:
    if replicas(function) != 0:
        scale(api, function, 0)
    wait_until(lambda: metric(metrics_url, "gateway_service_count",
                              f'function_name="{function}"') == 0, 30,
               "the scaler seeing the function at zero", interval=0.1)
    time.sleep(interval + random.uniform(0, interval))  # anywhere in the scaler's round
    if replicas(function) != 0:
        raise RuntimeError(f"{function} was scaled up with no call waiting")
    started = time.time()
    conn = held_call(world_port, function)
    try:
        updated = events.wait(function, "update", started, 10, kind="service")
    finally:
        conn.close()
    scale(api, function, 0)
    return updated - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds of each side")
    parser.add_argument("--prefix", default="scale-wk")
    parser.add_argument("--port", type=int, default=18471)
    parser.add_argument("--scaler-interval", type=float, default=1.0)
    args = parser.parse_args()
    wake_port, relay_port = args.port + 3, args.port + 4
    relay = Relay(relay_port, wake_port)
    scaler_env = {"SCALER_HUMAN_HOLD": "0", "SCALER_INTERVAL": f"{args.scaler_interval:g}",
                  "SCALER_DOWN_WINDOW": "3600"}
    # the sidecar's nudges go to the relay; it passes them on to the world's wake port
    sidecar_env = {"SCALER_WAKE": f"{gateway_address()}:{relay_port}"}
    sides: dict[str, list[float]] = {"nudge": [], "no nudge": []}
    try:
        with scale_world(args.prefix, args.port, scaler_env=scaler_env,
                         sidecar_env=sidecar_env) as world:
            function = world.name("fn")
            create_service(world, function, replicas=0, health_interval=2.0, env={},
                           labels={"swarmfaas.function": "true", "swarmfaas.scale.zero": "true",
                                   "swarmfaas.scale.zero_duration": "3600"},
                           extra=["--constraint", "node.labels.swarmfaas-bench-never==true"])
            api = docker_py.APIClient(version="1.41", timeout=60)
            events = Events(args.prefix)
            try:
                for index in range(args.rounds):
                    order = ["nudge", "no nudge"] if index % 2 == 0 else ["no nudge", "nudge"]
                    for side in order:
                        relay.on = side == "nudge"
                        took = one_round(api, events, args.port, world.metrics_url, function,
                                         args.scaler_interval)
                        sides[side].append(took)
                        print(f"round {index + 1} {side}: {took * 1000:.0f} ms", flush=True)
                wakes = scaler_wakes(world.metrics_url)
            finally:
                events.close()
                api.close()
    finally:
        relay.close()
    on, off = statistics.median(sides["nudge"]), statistics.median(sides["no nudge"])
    pairs = [a / b for a, b in zip(sides["nudge"], sides["no nudge"], strict=True)]
    doc = {"rounds": args.rounds, "scaler_interval_s": args.scaler_interval,
           "nudge_s": sides["nudge"], "no_nudge_s": sides["no nudge"],
           "nudge_median_s": round(on, 4), "no_nudge_median_s": round(off, 4),
           "nudge_max_s": round(max(sides["nudge"]), 4),
           "no_nudge_max_s": round(max(sides["no nudge"]), 4),
           "ratio": round(on / off, 3), "nudges_passed": relay.passed,
           "nudges_dropped": relay.dropped, "scaler_wakes": wakes}
    print(f"\nfirst held call -> scale call: with the nudge median {on * 1000:.0f} ms "
          f"(max {doc['nudge_max_s'] * 1000:.0f}), without {off * 1000:.0f} ms "
          f"(max {doc['no_nudge_max_s'] * 1000:.0f}); ratio {doc['ratio']}x; "
          f"nudges passed {relay.passed}, dropped {relay.dropped}, scaler wakes {wakes}")
    write_result(
        "scale_wake", subject="first held call -> the scaler's scale call, with the nudge",
        baseline="the same without the nudge (the scaler's next round)",
        ratio=doc["ratio"], metric="median time", target="scale-up within 2 s of the signal",
        round_ratios=pairs,
        summary=(f"{on * 1000:.0f} ms vs {off * 1000:.0f} ms, median of {args.rounds}; "
                 f"max {doc['nudge_max_s'] * 1000:.0f} vs {doc['no_nudge_max_s'] * 1000:.0f} ms"),
        figures=doc)


if __name__ == "__main__":
    main()
