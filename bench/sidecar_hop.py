"""The sidecar hop (issue 4): sidecar -> watchdog against the watchdog hit directly.

The function is the real watchdog (swarmfaas/watchdog, HTTP mode) in front of
a tiny asyncio upstream (tests/sidecar/images/hopfn). wrk runs in a container
on the same overlay network (the only place task addresses are reachable);
rounds of "direct" and "via sidecar" alternate, each bounded in time.

Targets: added median latency < 0.5 ms at 1 connection; >= 0.5x the direct
throughput at 32 connections.

A third side puts plain nginx (C, one worker, keep-alive upstream, the
nginx of our own front-door image) where the sidecar stands: what any proxy
hop costs on this machine, so the sidecar's figure can be read against it.

    .venv/bin/python bench/sidecar_hop.py [--rounds 5] [--duration 5] [--workers 1]

Resource names, the host port and the image tags are options, so two helpers
sharing the Docker daemon do not collide (--prefix sh-hop --port 18801).
SC_SIDECAR_IMAGE names a prebuilt sidecar image; SC_MOUNT_SOURCE=1 mounts the
working tree's package over the image's.

``--baseline-source DIR`` adds a fourth side, "base": a second sidecar from the
same image with the ``sidecar/faas_sidecar`` package of another checkout (e.g.
main's) mounted, in front of the same function, alternating in the same
rounds: the cost of a change to the sidecar as a paired ratio (sidecar/base).
``--fn-env max_inflight=1000`` gives the function a concurrency limit that
c=32 never reaches: the sidecar's queue is on but never used (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sidecar"))

from cpu import TICK, container_cpu_ns, machine_times  # noqa: E402
from report import write_result  # noqa: E402
from sidecar_swarm import (  # noqa: E402
    SITE_PACKAGES,
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


NGINX = f"{PREFIX}-nginx"
BASE = f"{PREFIX}-base"


def use_prefix(prefix: str, port: int, fn_image: str) -> None:
    global PORT, PREFIX, NETWORK, SIDECAR, FUNCTION, WRK, FN_IMAGE, NGINX, BASE
    PORT, PREFIX, FN_IMAGE = port, prefix, fn_image
    NETWORK, SIDECAR = f"{prefix}-net", f"{prefix}-sidecar"
    FUNCTION, WRK, NGINX = f"{prefix}-fn", f"{prefix}-wrk", f"{prefix}-nginx"
    BASE = f"{prefix}-base"
WATCHDOG_IMAGE = os.environ.get("SC_WATCHDOG_IMAGE", "swarmfaas/watchdog:dev")
NGINX_IMAGE = os.environ.get("SC_NGINX_IMAGE", "swarmfaas/nginx:dev")
# The reference proxy: as close to the sidecar's job as nginx gets (one worker,
# HTTP/1.1 keep-alive pool to the replica, no logging).
NGINX_CONF = """worker_processes 1; pid /tmp/nginx.pid; error_log stderr warn;
events { worker_connections 4096; }
http { access_log off;
  upstream fn { server %s:8080; keepalive 64; }
  server { listen 8080;
    location / { proxy_pass http://fn; proxy_http_version 1.1;
                 proxy_set_header Connection ""; } } }
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
# --pin: which CPU each container may use (docker update --cpuset-cpus)
PINNED = {"sidecar": "1", "nginx": "1", "function": "0", "wrk": "0"}


def wrk(url: str, connections: int, duration: float) -> dict[str, float]:
    threads = 1 if connections == 1 else 2
    out = docker("exec", WRK, "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s",
                 "--timeout", "5s",
                 "--latency", url, timeout=duration + 60)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out).groups()
        return float(value) * UNITS[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": requests, "p50_ms": pct("50"), "p99_ms": pct("99"),
            "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def answers(url: str) -> bool:
    try:
        r = wrk(url, 1, 1)
    except (RuntimeError, AttributeError):  # refused: wrk fails, or prints no figures
        return False
    return r["rps"] > 0 and not r["socket_errors"] and not r["non_2xx"]


def setup(workers: int, build: bool, env: dict[str, str] | None = None,
          fn_env: dict[str, str] | None = None, baseline: Path | None = None) -> dict[str, str]:
    """Start everything; the URL of each side: direct, sidecar, nginx (and base)."""
    if build:
        build_images()
        build_wrk_image()
        for image, dockerfile in ((WATCHDOG_IMAGE, "watchdog"), (NGINX_IMAGE, "nginx")):
            if not docker("images", "-q", image):
                docker("build", "-q", "-f", str(ROOT / dockerfile / "Dockerfile"), "-t", image,
                       str(ROOT), timeout=600)
        docker("build", "-q", "--build-arg", f"WATCHDOG_IMAGE={WATCHDOG_IMAGE}", "-t", FN_IMAGE,
               str(ROOT / "tests/sidecar/images/hopfn"), timeout=600)
    teardown()
    docker("network", "create", "--driver", "overlay", "--attachable", NETWORK)
    create_function(FUNCTION, NETWORK, image=FN_IMAGE,
                    env={"healthcheck_interval": "1s", **(fn_env or {})},
                    extra=["--health-interval", "1s", "--health-timeout", "10s",
                           "--health-retries", "10"])
    start_sidecar(SIDECAR, NETWORK, PORT, docker_dir="/var/run",
                  env={"SIDECAR_WORKERS": str(workers), **(env or {})})
    if baseline is not None:
        package = baseline.resolve() / "sidecar" / "faas_sidecar"
        start_sidecar(BASE, NETWORK, PORT + 1, docker_dir="/var/run", mount_source=False,
                      env={"SIDECAR_WORKERS": str(workers), **(env or {})},
                      extra=["--mount", f"type=bind,src={package},dst={SITE_PACKAGES},ro"])
    docker("run", "-d", "--name", WRK, "--network", NETWORK, WRK_IMAGE)
    client = httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=10)
    wait_until(lambda: client.get(f"/function/{FUNCTION}").status_code == 200, 120,
               "function routable through the sidecar", interval=0.2)
    client.close()
    if baseline is not None:
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT + 1}", timeout=10) as base:
            wait_until(lambda: base.get(f"/function/{FUNCTION}").status_code == 200, 120,
                       "function routable through the baseline sidecar", interval=0.2)
    (fn_ip,) = task_ips(FUNCTION, NETWORK)
    (sidecar_ip,) = task_ips(SIDECAR, NETWORK)
    docker("run", "-d", "--name", NGINX, "--network", NETWORK, "--env",
           f"NGINX_CONF={NGINX_CONF % fn_ip}", "--entrypoint", "sh", NGINX_IMAGE, "-c",
           'printf %s "$NGINX_CONF" > /tmp/nginx.conf && exec nginx -c /tmp/nginx.conf '
           '-g "daemon off;"')
    nginx_ip = docker("inspect", "--format",
                      f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}', NGINX)
    sides = {"direct": f"http://{fn_ip}:8080/",
             "sidecar": f"http://{sidecar_ip}:8080/function/{FUNCTION}/",
             "nginx": f"http://{nginx_ip.strip()}:8080/"}
    if baseline is not None:
        (base_ip,) = task_ips(BASE, NETWORK)
        sides["base"] = f"http://{base_ip}:8080/function/{FUNCTION}/"
    wait_until(lambda: answers(sides["nginx"]), 30, "nginx answering on the overlay",
               interval=0.5)
    return sides


def container_ids() -> dict[str, str]:
    """Full IDs of the containers whose CPU each round reads."""
    def task_container(service: str) -> str:
        return docker("ps", "-q", "--no-trunc", "--filter",
                      f"label=com.docker.swarm.service.name={service}").split()[0]
    ids = {"sidecar": task_container(SIDECAR), "function": task_container(FUNCTION),
           "nginx": docker("inspect", "-f", "{{.Id}}", NGINX),
           "wrk": docker("inspect", "-f", "{{.Id}}", WRK)}
    if docker("service", "ls", "-q", "--filter", f"name={BASE}"):
        ids["base"] = task_container(BASE)
    return ids


def teardown() -> None:
    docker("rm", "-f", WRK, NGINX, check=False)
    remove(SIDECAR, BASE, FUNCTION)
    for _ in range(20):
        if not docker("network", "ls", "-q", "--filter", f"name=^{NETWORK}$", check=False):
            return
        if docker("network", "rm", NETWORK, check=False) != "":
            return
        time.sleep(0.5)


def median(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def summarize(rounds: dict[str, list[dict[str, float]]]) -> dict:
    d, s, n = rounds["direct"], rounds["sidecar"], rounds["nginx"]
    summary: dict = {side: {k: median(r, k) for k in ("rps", "p50_ms", "p99_ms")}
                     for side, r in rounds.items()}
    # Paired estimate: each round's runs are adjacent in time, so the median of
    # per-round ratios is less exposed to the shared machine's load swings
    # than the ratio of the two medians.
    round_ratios = [b["rps"] / a["rps"] for a, b in zip(d, s, strict=True)]
    for side, r in rounds.items():
        for field in ("cpu_us", "machine_us"):
            summary[side][field] = {k: statistics.median(x[field][k] for x in r)
                                    for k in r[0][field]}
    summary.update(
        throughput_ratio=median(s, "rps") / median(d, "rps"),
        added_p50_ms=median(s, "p50_ms") - median(d, "p50_ms"),
        round_ratios=round_ratios,
        median_round_ratio=statistics.median(round_ratios),
        nginx_ratio=median(n, "rps") / median(d, "rps"),
        sidecar_vs_nginx=statistics.median(
            b["rps"] / a["rps"] for a, b in zip(n, s, strict=True)))
    if "base" in rounds:
        base_ratios = [b["rps"] / a["rps"] for a, b in zip(rounds["base"], s, strict=True)]
        summary.update(base_round_ratios=base_ratios,
                       sidecar_vs_base=statistics.median(base_ratios),
                       added_p50_vs_base_ms=median(s, "p50_ms") - median(rounds["base"],
                                                                         "p50_ms"))
    return summary


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
    parser.add_argument("--fn-env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the function's watchdog, e.g. max_inflight=1000")
    parser.add_argument("--baseline-source", type=Path, metavar="DIR",
                        help="a checkout whose sidecar package runs as the side 'base'")
    parser.add_argument("--pin", action="store_true",
                        help="the proxies (sidecar, nginx) on CPU 1, wrk and the function "
                             "on CPU 0: a proxy with a core of its own, as on another node")
    args = parser.parse_args()
    sidecar_env = dict(item.split("=", 1) for item in args.env)
    fn_env = dict(item.split("=", 1) for item in args.fn_env)
    use_prefix(args.prefix, args.port, args.fn_image)
    why = swarm_ready()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    try:
        urls = setup(args.workers, not args.no_build, sidecar_env, fn_env,
                     args.baseline_source)
    except BaseException:
        teardown()  # what setup started before it failed
        raise
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        str(c): {side: [] for side in urls} for c in (1, 32)}
    try:
        for _ in range(2):  # warm every path
            for url in urls.values():
                wrk(url, 32, 1)
        sides = list(urls.items())
        containers = container_ids()
        if args.pin:
            for name, cpu in PINNED.items():
                docker("update", "--cpuset-cpus", cpu, containers[name])
        for index in range(args.rounds):
            # Rotate the order: no side always runs first, or right after another.
            order = sides[index % len(sides):] + sides[:index % len(sides)]
            for connections in (1, 32):
                for label, url in order:
                    before = {k: container_cpu_ns(c) for k, c in containers.items()}
                    machine_before = machine_times()
                    r = wrk(url, connections, args.duration)
                    # CPU per request of each container (us): which process
                    # pays for the hop (docs/sidecar.md); and the machine's,
                    # by kind, which also shows the kernel's network work
                    # (softirq) and any idle time.
                    per_request = 1e6 / TICK / max(r["requests"], 1)
                    machine = {k: (v - machine_before[k]) * per_request
                               for k, v in machine_times().items()}
                    r["cpu_us"] = {k: (container_cpu_ns(c) - before[k]) / 1e3
                                   / max(r["requests"], 1) for k, c in containers.items()}
                    r["machine_us"] = {
                        "user": machine["user"] + machine["nice"],
                        "system": machine["system"] + machine["irq"],
                        "softirq": machine["softirq"], "idle": machine["idle"]}
                    results[str(connections)][label].append(r)
                    errors = (f"  non-2xx {r['non_2xx']}" if r["non_2xx"] else "") + (
                        f"  socket errors {r['socket_errors']}" if r["socket_errors"] else "")
                    print(f"round {index + 1} c={connections:2d} {label:7s} {r['rps']:9.0f} req/s"
                          f"  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms{errors}",
                          flush=True)
    finally:
        teardown()
    summary = {c: summarize(rounds) for c, rounds in results.items()}
    print(f"\nmedians of {args.rounds} rounds, {args.duration:g} s each; sidecar workers "
          f"{args.workers}, uvloop (Sanic default); nginx 1 worker; wrk in a container on the "
          f"overlay; settings {sidecar_env or 'default'}; "
          f"{'pinned ' + str(PINNED) if args.pin else 'not pinned'}; "
          f"load average {os.getloadavg()[0]:.1f}")
    for connections, s in summary.items():
        line = " | ".join(f"{side} {s[side]['rps']:8.0f} req/s p50 {s[side]['p50_ms']:.3f} "
                          f"p99 {s[side]['p99_ms']:.3f} ms" for side in urls)
        print(f"  c={connections:>2}: {line}")
        print(f"        sidecar/direct {s['throughput_ratio']:.2f}x (per round "
              f"{', '.join(f'{r:.2f}' for r in s['round_ratios'])}; median "
              f"{s['median_round_ratio']:.2f}), added p50 {s['added_p50_ms']:.3f} ms | "
              f"nginx/direct {s['nginx_ratio']:.2f}x | sidecar/nginx "
              f"{s['sidecar_vs_nginx']:.2f}x")
        if "sidecar_vs_base" in s:
            print(f"        sidecar/base {s['sidecar_vs_base']:.3f}x (median of per-round "
                  f"{', '.join(f'{r:.3f}' for r in s['base_round_ratios'])}), added p50 "
                  f"vs base {s['added_p50_vs_base_ms']:.3f} ms")
    print("  CPU per request at c=32 (us, medians; a container idle on that side shows ~0): "
          + " | ".join(f"{side}: " + ", ".join(
              f"{k} {v:.0f}" for k, v in summary["32"][side]["cpu_us"].items())
                       for side in urls))
    print("  machine time per request at c=32 (us, medians; every process, wrk's "
          "included): " + " | ".join(f"{side}: " + ", ".join(
              f"{k} {v:.0f}" for k, v in summary["32"][side]["machine_us"].items())
                       for side in urls))
    print(f"  target: added p50 at c=1 < 0.5 ms -> {summary['1']['added_p50_ms']:.3f} ms; "
          f"ratio at c=32 >= 0.5 -> {summary['32']['throughput_ratio']:.2f}")
    s32, s1 = summary["32"], summary["1"]
    base = (f"; sidecar/base {s32['sidecar_vs_base']:.3f}x" if "sidecar_vs_base" in s32 else "")
    write_result(
        "sidecar_hop",
        subject=f"wrk -> sidecar ({args.workers} worker) -> watchdog (http mode) -> tiny upstream,"
                " on the overlay, 32 connections (1 for latency)",
        baseline="wrk -> the same watchdog directly; plain nginx in the sidecar's place as the"
                 " reference hop",
        metric="req/s at 32 connections, median of per-round ratios",
        target=">= 0.5x; added p50 at 1 connection < 0.5 ms",
        ratio=s32["median_round_ratio"], round_ratios=s32["round_ratios"],
        summary=f"{s32['sidecar']['rps']:,.0f} vs {s32['direct']['rps']:,.0f} req/s; nginx/direct"
                f" {s32['nginx_ratio']:.2f}x, sidecar/nginx {s32['sidecar_vs_nginx']:.2f}x;"
                f" added p50 at 1 connection {s1['added_p50_ms']:+.3f} ms{base}",
        figures={"workers": args.workers, "settings": sidecar_env,
                 "function_settings": fn_env,
                 "baseline_source": str(args.baseline_source or ""),
                 "pinned": PINNED if args.pin else None,
                 "rounds": results, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
