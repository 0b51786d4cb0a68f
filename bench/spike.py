"""A spike (issue 15): a function with max_inflight=4 per replica and
swarmfaas.scale.max=8 takes 1 connection, then a step to 32 connections for
--seconds (60), through the sidecar, with the real scaler deciding; the same
load then runs on the same function pre-scaled to 8 (min = max = 8), in the
same run. Each request is /sleep/--work (0.2 s of the function's time).

Reported, per side: requests and failed requests (target 0: anything but a 200
whose body is the echo), the p50/p99 latency in the first 10 s of the step and
after 30 s; for the autoscaled side, the time from the step until Docker's
count reaches the bound and until the sidecar routes to 8 ready replicas; then,
after the load stops, the time until the count is back at the minimum
(SCALER_DOWN_WINDOW is --window, 20 s by default, rather than the deployed 60 s,
so the bench ends in minutes).

    flock /tmp/swarmfaas-docker.lock .venv/bin/python bench/spike.py
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import Counter

import docker as docker_py
import httpx
from report import write_result
from scale_world import create_service, metric, scale_world
from sidecar_swarm import wait_until

MAX_INFLIGHT, BOUND, TARGET = 4, 8, 4


class StepLoad:
    """``low`` clients from the start, ``high`` from ``step_at`` (monotonic) on,
    each sending requests back to back until ``stop_at``; every request's start,
    latency and outcome are kept."""

    def __init__(self, url: str, low: int, high: int, step_at: float, stop_at: float) -> None:
        self.url, self.low, self.high = url, low, high
        self.step_at, self.stop_at = step_at, stop_at
        self.samples: list[tuple[float, float, str]] = []  # (start, seconds, outcome)
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(high)]

    def _run(self, index: int) -> None:
        if index >= self.low:
            time.sleep(max(0.0, self.step_at - time.monotonic()))
        with httpx.Client(timeout=60) as client:
            i = 0
            while (now := time.monotonic()) < self.stop_at:
                i += 1
                body = f"{index}-{i}"
                try:
                    r = client.post(self.url, content=body)
                    ok = r.status_code == 200 and json.loads(r.text)["body"] == body
                    outcome = "ok" if ok else str(r.status_code)
                    detail = "" if ok else r.text[:200]
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    outcome, detail = type(exc).__name__, str(exc)[:200]
                took = time.monotonic() - now
                with self._lock:
                    self.samples.append((now, took, outcome))
                    if outcome != "ok":
                        self.failures.append(f"{outcome}: {detail}")

    def __enter__(self) -> StepLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for thread in self._threads:
            thread.join(120)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def summary(load: StepLoad) -> dict[str, object]:
    def window(low: float, high: float) -> dict[str, float | int | None]:
        took = [s for start, s, _ in load.samples
                if low <= start - load.step_at < high]
        return {"requests": len(took),
                "p50_ms": _ms(percentile(took, 50)), "p99_ms": _ms(percentile(took, 99))}
    outcomes = Counter(outcome for _, _, outcome in load.samples)
    return {"requests": len(load.samples), "outcomes": dict(outcomes),
            "failed": sum(n for o, n in outcomes.items() if o != "ok"),
            "failures_sample": load.failures[:5],
            "first_10s": window(0, 10), "after_30s": window(30, 1e9)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


class Watch:
    """Docker's count of a service and the sidecar's ready replicas of it, every
    0.2 s, with the time since ``origin``."""

    def __init__(self, api: docker_py.APIClient, service: str, sidecar: str) -> None:
        self.api, self.service, self.sidecar = api, service, sidecar
        self.seen: list[tuple[float, int, float | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                count = self.api.inspect_service(self.service)["Spec"]["Mode"][
                    "Replicated"]["Replicas"]
            except docker_py.errors.APIError:
                count = None
            try:
                ready = metric(f"{self.sidecar}/metrics", "gateway_service_count",
                               f'function_name="{self.service}"')
            except httpx.HTTPError:
                ready = None
            if count is not None:
                self.seen.append((time.monotonic(), count, ready))
            self._stop.wait(0.2)

    def first(self, after: float, test) -> float | None:
        for when, count, ready in list(self.seen):
            if when >= after and test(count, ready):
                return when - after
        return None

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def run_side(world, api: docker_py.APIClient, service: str, args, *, autoscaled: bool
             ) -> dict[str, object]:
    url = f"{world.base_url}/function/{service}/sleep/{args.work:g}"
    start = time.monotonic()
    step_at = start + args.before
    stop_at = step_at + args.seconds
    with Watch(api, service, world.base_url) as watch:
        with StepLoad(url, 1, 32, step_at, stop_at) as load:
            pass
        stopped = time.monotonic()
        result = summary(load)
        result["max_count_seen"] = max((c for w, c, _ in watch.seen if w >= step_at),
                                       default=None)
        if autoscaled:
            result["count_at_bound_s"] = watch.first(step_at, lambda c, r: c >= BOUND)
            result["ready_at_bound_s"] = watch.first(
                step_at, lambda c, r: r is not None and r >= BOUND)
            try:
                wait_until(lambda: watch.seen and watch.seen[-1][1] == 1,
                           args.window + 90, "back at the minimum", interval=0.2)
            except TimeoutError as exc:
                print(exc)
            result["back_at_min_after_stop_s"] = _round(
                watch.first(stopped, lambda c, r: c == 1))
            result["ready_back_at_min_after_stop_s"] = _round(
                watch.first(stopped, lambda c, r: c == 1 and r == 1))
    for key in ("count_at_bound_s", "ready_at_bound_s"):
        if key in result:
            result[key] = _round(result[key])
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="the step's length")
    parser.add_argument("--before", type=float, default=5.0, help="seconds at 1 connection")
    parser.add_argument("--work", type=float, default=0.2, help="each request's sleep, s")
    parser.add_argument("--window", type=float, default=20.0, help="SCALER_DOWN_WINDOW, s")
    parser.add_argument("--prefix", default="scale-sp")
    parser.add_argument("--port", type=int, default=18471)
    args = parser.parse_args()
    scaler_env = {"SCALER_DOWN_WINDOW": f"{args.window:g}", "SCALER_INTERVAL": "1",
                  "LOG_LEVEL": "DEBUG"}
    load_before = os.getloadavg()
    env = {"max_inflight": str(MAX_INFLIGHT)}
    common = {"swarmfaas.function": "true", "swarmfaas.scale.type": "inflight",
              "swarmfaas.scale.target": str(TARGET)}
    with scale_world(args.prefix, args.port, scaler_env=scaler_env) as world:
        auto, pre = world.name("auto"), world.name("pre")
        create_service(world, auto, replicas=1, env=env, health_interval=2,
                       labels={**common, "swarmfaas.scale.min": "1",
                               "swarmfaas.scale.max": str(BOUND)})
        create_service(world, pre, replicas=BOUND, env=env, health_interval=2,
                       labels={**common, "swarmfaas.scale.min": str(BOUND),
                               "swarmfaas.scale.max": str(BOUND)})
        api = docker_py.APIClient(version="1.41", timeout=30)
        try:
            for name, count in ((auto, 1), (pre, BOUND)):
                wait_until(lambda n=name, c=count: metric(
                    f"{world.base_url}/metrics", "gateway_service_count",
                    f'function_name="{n}"') == c, 180, f"{name} ready at {count}",
                    interval=0.5)
            sides = {"autoscaled": run_side(world, api, auto, args, autoscaled=True),
                     "prescaled": run_side(world, api, pre, args, autoscaled=False)}
        finally:
            api.close()
        decisions = {reason: metric(world.metrics_url, "swarmfaas_scaler_decisions_total",
                                    f'function_name="{auto}",reason="{reason}"')
                     for reason in ("scale_up", "scale_down")}
    doc = {"seconds": args.seconds, "before_s": args.before, "work_s": args.work,
           "down_window_s": args.window, "max_inflight": MAX_INFLIGHT, "max": BOUND,
           "target": TARGET, "load_average_before": load_before,
           "load_average_after": os.getloadavg(), "decisions": decisions, **sides}
    for side, result in sides.items():
        print(f"{side}: {result['requests']} requests, {result['failed']} failed "
              f"{result['outcomes']}; first 10 s p50/p99 {result['first_10s']['p50_ms']}/"
              f"{result['first_10s']['p99_ms']} ms; after 30 s "
              f"{result['after_30s']['p50_ms']}/{result['after_30s']['p99_ms']} ms")
    a = sides["autoscaled"]
    print(f"autoscaled: count at {BOUND} after {a['count_at_bound_s']} s, {BOUND} ready in the "
          f"sidecar after {a['ready_at_bound_s']} s; back at 1 {a['back_at_min_after_stop_s']} s "
          f"after the load stopped (window {args.window:g} s); decisions {decisions}")
    p99 = {s: r["first_10s"]["p99_ms"] for s, r in sides.items()}
    late = {s: r["after_30s"]["p99_ms"] for s, r in sides.items()}
    if all(p99.values()) and all(late.values()):
        doc["p99_ratio_first_10s"] = round(p99["autoscaled"] / p99["prescaled"], 2)
        doc["p99_ratio_after_30s"] = round(late["autoscaled"] / late["prescaled"], 2)
        print(f"p99 autoscaled/prescaled: first 10 s {doc['p99_ratio_first_10s']}x, "
              f"after 30 s {doc['p99_ratio_after_30s']}x")
    print(f"load average before {load_before}, after {doc['load_average_after']}")
    write_result(
        "spike", subject=f"1 -> 32 connections on a function autoscaled 1..{BOUND}",
        baseline=f"the same load on the function pre-scaled to {BOUND}",
        ratio=doc.get("p99_ratio_after_30s"), metric="p99 after 30 s",
        target=f"0 failed; {BOUND} replicas within a stated time",
        summary=(f"failed {a['failed']}; {BOUND} replicas counted after {a['count_at_bound_s']} s, "
                 f"ready after {a['ready_at_bound_s']} s; p99 first 10 s "
                 f"{doc.get('p99_ratio_first_10s')}x; back at 1 after "
                 f"{a['back_at_min_after_stop_s']} s (window {args.window:g} s)"),
        figures=doc)


if __name__ == "__main__":
    main()
