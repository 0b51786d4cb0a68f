"""The sidecar hop (issue 4): sidecar -> watchdog against the watchdog hit directly.

The function is the real watchdog (swarmfaas/watchdog, HTTP mode) in front of
a tiny asyncio upstream (tests/sidecar/images/hopfn). wrk runs in a container
on the same overlay network (the only place task addresses are reachable);
rounds of "direct" and "via sidecar" alternate, each bounded in time.

Targets: added median latency < 0.5 ms at 1 connection; >= 0.5x the direct
throughput at 32 connections.

    .venv/bin/python bench/sidecar_hop.py [--rounds 5] [--duration 5] [--workers 1]

Resource names, the host port and the image tags are options, so two helpers
sharing the Docker daemon do not collide (--prefix sh-hop --port 18801).
SC_SIDECAR_IMAGE names a prebuilt sidecar image; SC_MOUNT_SOURCE=1 mounts the
working tree's package over the image's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sidecar"))

from sidecar_swarm import (  # noqa: E402
    WRK_IMAGE,
    build_images,
    build_wrk_image,
    create_function,
    docker,
    remove,
    start_sidecar,
    swarm_ready,
    task_ips,
    wait_until,
)

PORT = 18203
PREFIX = "sc-hop"
NETWORK = f"{PREFIX}-net"
SIDECAR = f"{PREFIX}-sidecar"
FUNCTION = f"{PREFIX}-fn"
WRK = f"{PREFIX}-wrk"
FN_IMAGE = "sc-hopfn:test"


def use_prefix(prefix: str, port: int, fn_image: str) -> None:
    global PORT, PREFIX, NETWORK, SIDECAR, FUNCTION, WRK, FN_IMAGE
    PORT, PREFIX, FN_IMAGE = port, prefix, fn_image
    NETWORK, SIDECAR = f"{prefix}-net", f"{prefix}-sidecar"
    FUNCTION, WRK = f"{prefix}-fn", f"{prefix}-wrk"
WATCHDOG_IMAGE = os.environ.get("SC_WATCHDOG_IMAGE", "swarmfaas/watchdog:dev")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url: str, connections: int, duration: float) -> dict[str, float]:
    threads = 1 if connections == 1 else 2
    out = docker("exec", WRK, "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s",
                 "--timeout", "5s",
                 "--latency", url, timeout=duration + 60)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out).groups()
        return float(value) * UNITS[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99"),
            "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def setup(workers: int, build: bool, env: dict[str, str] | None = None) -> tuple[str, str]:
    if build:
        build_images()
        build_wrk_image()
        if not docker("images", "-q", WATCHDOG_IMAGE):
            docker("build", "-q", "-f", str(ROOT / "watchdog/Dockerfile"), "-t", WATCHDOG_IMAGE,
                   str(ROOT), timeout=600)
        docker("build", "-q", "--build-arg", f"WATCHDOG_IMAGE={WATCHDOG_IMAGE}", "-t", FN_IMAGE,
               str(ROOT / "tests/sidecar/images/hopfn"), timeout=600)
    teardown()
    docker("network", "create", "--driver", "overlay", "--attachable", NETWORK)
    create_function(FUNCTION, NETWORK, image=FN_IMAGE, env={"healthcheck_interval": "1s"},
                    extra=["--health-interval", "1s", "--health-timeout", "10s",
                           "--health-retries", "10"])
    start_sidecar(SIDECAR, NETWORK, PORT, docker_dir="/var/run",
                  env={"SIDECAR_WORKERS": str(workers), **(env or {})})
    docker("run", "-d", "--name", WRK, "--network", NETWORK, WRK_IMAGE)
    client = httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=10)
    wait_until(lambda: client.get(f"/function/{FUNCTION}").status_code == 200, 120,
               "function routable through the sidecar", interval=0.2)
    client.close()
    (fn_ip,) = task_ips(FUNCTION, NETWORK)
    (sidecar_ip,) = task_ips(SIDECAR, NETWORK)
    return f"http://{fn_ip}:8080/", f"http://{sidecar_ip}:8080/function/{FUNCTION}/"


def teardown() -> None:
    docker("rm", "-f", WRK, check=False)
    remove(SIDECAR, FUNCTION)
    for _ in range(20):
        if not docker("network", "ls", "-q", "--filter", f"name=^{NETWORK}$", check=False):
            return
        if docker("network", "rm", NETWORK, check=False) != "":
            return
        time.sleep(0.5)


def median(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--prefix", default=PREFIX, help="name prefix of every resource")
    parser.add_argument("--port", type=int, default=PORT, help="host port of the sidecar")
    parser.add_argument("--fn-image", default=FN_IMAGE, help="tag of the function image")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the sidecar, e.g. FAST_PATH=false")
    args = parser.parse_args()
    sidecar_env = dict(item.split("=", 1) for item in args.env)
    use_prefix(args.prefix, args.port, args.fn_image)
    why = swarm_ready()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    direct_url, sidecar_url = setup(args.workers, not args.no_build, sidecar_env)
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        str(c): {"direct": [], "sidecar": []} for c in (1, 32)}
    try:
        for _ in range(2):  # warm both paths
            wrk(direct_url, 32, 1)
            wrk(sidecar_url, 32, 1)
        for index in range(args.rounds):
            order = [("direct", direct_url), ("sidecar", sidecar_url)]
            if index % 2:
                order.reverse()  # interleave: neither side always runs first
            for connections in (1, 32):
                for label, url in order:
                    r = wrk(url, connections, args.duration)
                    results[str(connections)][label].append(r)
                    errors = (f"  non-2xx {r['non_2xx']}" if r["non_2xx"] else "") + (
                        f"  socket errors {r['socket_errors']}" if r["socket_errors"] else "")
                    print(f"round {index + 1} c={connections:2d} {label:7s} {r['rps']:9.0f} req/s"
                          f"  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms{errors}",
                          flush=True)
    finally:
        teardown()
    summary = {}
    for connections, sides in results.items():
        d, s = sides["direct"], sides["sidecar"]
        summary[connections] = {
            "direct": {k: median(d, k) for k in ("rps", "p50_ms", "p99_ms")},
            "sidecar": {k: median(s, k) for k in ("rps", "p50_ms", "p99_ms")},
            "throughput_ratio": median(s, "rps") / median(d, "rps"),
            "added_p50_ms": median(s, "p50_ms") - median(d, "p50_ms"),
            "round_ratios": [b["rps"] / a["rps"] for a, b in zip(d, s, strict=True)],
        }
        # Paired estimate: each round's two runs are adjacent in time, so the
        # median of per-round ratios is less exposed to the shared machine's
        # load swings than the ratio of the two medians.
        summary[connections]["median_round_ratio"] = statistics.median(
            summary[connections]["round_ratios"])
    print(f"\nmedians of {args.rounds} rounds, {args.duration:g} s each; sidecar workers "
          f"{args.workers}, uvloop (Sanic default); wrk in a container on the overlay; "
          f"settings {sidecar_env or 'default'}; load average {os.getloadavg()[0]:.1f}")
    for connections, s in summary.items():
        print(f"  c={connections:>2}: direct {s['direct']['rps']:8.0f} req/s p50 "
              f"{s['direct']['p50_ms']:.3f} p99 {s['direct']['p99_ms']:.3f} ms | sidecar "
              f"{s['sidecar']['rps']:8.0f} req/s p50 {s['sidecar']['p50_ms']:.3f} p99 "
              f"{s['sidecar']['p99_ms']:.3f} ms | ratio {s['throughput_ratio']:.2f}x, "
              f"added p50 {s['added_p50_ms']:.3f} ms | per round "
              f"{', '.join(f'{r:.2f}' for r in s['round_ratios'])} (median "
              f"{s['median_round_ratio']:.2f})")
    print(f"  target: added p50 at c=1 < 0.5 ms -> {summary['1']['added_p50_ms']:.3f} ms; "
          f"ratio at c=32 >= 0.5 -> {summary['32']['throughput_ratio']:.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"sidecar_hop-w{args.workers}-{int(time.time())}.json"
    path.write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                "workers": args.workers, "settings": sidecar_env,
                                "loadavg": os.getloadavg(), "rounds": results,
                                "summary": summary}, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
