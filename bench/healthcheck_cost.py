"""What one container health check costs: each image's own check against the
same image's check at a baseline tag, and against Docker's floor (``true``).

Docker runs a health check as an exec in the container: its own work (dockerd,
containerd, the shim, runc) plus the check process. Every replica of every
function runs one every few seconds (2 s for the stack's functions and for
deployed ones), so this is the platform's cost while idle.

For each image kind (watchdog, sidecar, nginx), in rounds, one container of
the image idles (``sleep``) for a window with, in turn: the image's own check,
the baseline tag's image with its check, ``true`` (Docker's floor), and no
check at all (the machine's background). Docker itself runs the checks, every
--interval; the window's exec_die events count them. Two figures per check:

- in-container CPU (the check process and runc's exec setup; cpuacct);
- machine CPU (every process, Docker's included: /proc/stat's busy time,
  minus the no-check window's).

The probes find no server in a ``sleep`` container and fail fast; what they
cost is the interpreter and its imports, which is what differs.

    .venv/bin/python bench/healthcheck_cost.py --tag TAG [--baseline-tag OLD] [--window 10]

Without --baseline-tag only the floor is the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import docker
from cpu import TICK, container_cpu_ns, machine_ticks
from report import write_result

KINDS = ("watchdog", "sidecar", "nginx")
NAME = "hc-bench"


def window(api: docker.DockerClient, image: str, test: list[str] | None, interval: float,
           seconds: float) -> dict[str, float]:
    """One container for ``seconds`` with health check ``test`` (None: none)."""
    healthcheck = {"test": test, "interval": int(interval * 1e9), "timeout": int(3e9),
                   "retries": 1000} if test else {"test": ["NONE"]}
    container = api.containers.run(image, ["3600"], entrypoint=["sleep"], detach=True,
                                   name=NAME, healthcheck=healthcheck)
    try:
        time.sleep(2)  # past the container's start
        since = time.time()
        inside, busy, started = container_cpu_ns(container.id), machine_ticks()[0], time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        inside = container_cpu_ns(container.id) - inside
        busy = machine_ticks()[0] - busy
        until = time.time()
    finally:
        container.remove(force=True)
    checks = sum(1 for _ in api.events(since=since, until=until, decode=True, filters={
        "container": container.id, "event": "exec_die"}))
    return {"checks": checks, "busy_cpu_s_per_s": busy / TICK / elapsed,
            "in_container_ms": inside / 1e6 / checks if checks else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="tag of the images to measure")
    parser.add_argument("--baseline-tag", help="tag of the images to compare with")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between checks")
    parser.add_argument("--window", type=float, default=10, help="seconds per side per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    api = docker.from_env()
    if api.containers.list(all=True, filters={"name": f"^{NAME}$"}):
        api.containers.get(NAME).remove(force=True)
    tags = {"current": args.tag, **({"baseline": args.baseline_tag} if args.baseline_tag else {})}
    results: dict[str, dict] = {}
    for kind in KINDS:
        images = {side: f"swarmfaas/{kind}:{tag}" for side, tag in tags.items()}
        sides = {side: (image, api.images.get(image).attrs["Config"]["Healthcheck"]["Test"])
                 for side, image in images.items()}
        sides["floor"] = (images["current"], ["CMD", "true"])
        sides["none"] = (images["current"], None)
        rows: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        for index in range(args.rounds):
            order = list(sides.items())
            order = order[index % len(order):] + order[:index % len(order)]
            for side, (image, test) in order:
                rows[side].append(window(api, image, test, args.interval, args.window))
        background = statistics.median(r["busy_cpu_s_per_s"] for r in rows["none"])
        summary: dict[str, dict[str, float]] = {}
        for side, runs in rows.items():
            if side == "none":
                continue
            # Machine CPU per check: the window's busy time above the no-check
            # windows', per check Docker ran.
            per_check = [(r["busy_cpu_s_per_s"] - background) * args.window * 1000 / r["checks"]
                         for r in runs if r["checks"]]
            summary[side] = {
                "checks_per_window": statistics.median(r["checks"] for r in runs),
                "in_container_ms": statistics.median(r["in_container_ms"] for r in runs),
                "machine_ms": statistics.median(per_check)}
        results[kind] = {"tests": {side: test for side, (_, test) in sides.items()},
                         "rounds": rows, "background_cpu_s_per_s": background,
                         "median": summary}
        print(f"{kind}: " + " | ".join(
            f"{side} {m['in_container_ms']:5.1f} ms in container, {m['machine_ms']:5.1f} ms "
            f"machine ({m['checks_per_window']:.0f} checks)" for side, m in summary.items()),
            flush=True)
        if "baseline" in summary:
            cur, base = summary["current"], summary["baseline"]
            print(f"  current/baseline: in container "
                  f"{cur['in_container_ms'] / base['in_container_ms']:.2f}x, machine "
                  f"{cur['machine_ms'] / base['machine_ms']:.2f}x", flush=True)
    # The headline: the watchdog's check (every function replica runs it) against
    # the baseline tag's, or against Docker's floor when no baseline tag is given.
    against = "baseline" if args.baseline_tag else "floor"
    wd = results["watchdog"]

    def machine_ms(run: dict) -> float:
        return ((run["busy_cpu_s_per_s"] - wd["background_cpu_s_per_s"]) * args.window * 1000
                / max(run["checks"], 1))

    write_result(
        "healthcheck_cost",
        subject=f"one container health check of the watchdog image ({args.tag}), machine CPU"
                " with Docker's exec; also the sidecar and nginx images",
        baseline=(f"the same image at {args.baseline_tag}" if args.baseline_tag
                  else "Docker's floor: a check that runs `true`"),
        metric="machine ms per check, medians, subject/baseline (lower is better)",
        ratio=wd["median"]["current"]["machine_ms"] / wd["median"][against]["machine_ms"],
        round_ratios=[machine_ms(a) / machine_ms(b) for a, b in zip(
            wd["rounds"]["current"], wd["rounds"][against], strict=True)],
        summary="; ".join(
            f"{kind} {r['median']['current']['machine_ms']:.0f} ms"
            f" ({r['median']['current']['in_container_ms']:.0f} in the container) vs"
            f" {r['median'][against]['machine_ms']:.0f} ms" for kind, r in results.items()),
        figures={"tags": tags, "interval": args.interval, "window": args.window,
                 "rounds": args.rounds, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
