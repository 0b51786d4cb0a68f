"""The sidecar hop on 127.0.0.1, without Docker: a quick, profilable stand-in for
bench/sidecar_hop.py while tuning the proxy path.

Same three real processes as the swarm benchmark (the tiny upstream of
tests/sidecar/images/hopfn, the real watchdog in HTTP mode in front of it, and
the sidecar's app factory pieces with a fixed routing table instead of
discovery), and wrk on 127.0.0.1 (loopback, no overlay). Besides req/s and
latency it reports the CPU time each process spent per request (from /proc;
wrk's from getrusage), which is much less noisy than req/s on a shared 2-core
machine and is what the proxy path's changes move, and how often per request
the servers were preempted (involuntary context switches).

    .venv/bin/python bench/sidecar_local.py [--rounds 3] [--duration 4] [--port 18810]
    FAST_PATH=false .venv/bin/python bench/sidecar_local.py   # Sanic's request cycle only
    SIDECAR_UVLOOP=false .venv/bin/python bench/sidecar_local.py   # asyncio's loop

``--baseline-source DIR`` adds the side "base": a second sidecar process
running another checkout's ``sidecar/faas_sidecar`` (e.g. main's, from
``git archive``) in front of the same watchdog, alternating in the same rounds;
the summary gives sidecar/base per round. ``--max-inflight N`` gives the
function a concurrency limit (the sidecar's queue, docs/scaling.md) that the
load never reaches, in the checkouts that know it: the queue's cost when it is
on but never used. The two places are not equal on a loaded machine (with the
same code in both, sidecar/base was 0.58x at c=32 in one run): measure both
ways, ``--sidecar-source`` naming the checkout in the first place.

The swarm benchmark (bench/sidecar_hop.py) gives the figures of record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import MappingProxyType

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "sidecar" / "images" / "hopfn" / "tiny.py"
sys.path.insert(0, str(ROOT / "tests" / "sidecar"))

from report import write_result  # noqa: E402
from sidecar_swarm import wait_port  # noqa: E402

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
TICK = os.sysconf("SC_CLK_TCK")


def serve_sidecar(port: int, watchdog_port: int, source: str = "") -> None:
    """The sidecar's pieces (errors, metrics, proxy, routes) with a fixed table,
    from ``source``'s sidecar package (default: this checkout's)."""
    sys.path.insert(0, str(Path(source or ROOT) / "sidecar"))
    import dataclasses

    from faas_sidecar import app as app_module
    from faas_sidecar.config import load_config
    from faas_sidecar.model import FunctionSpec, Replica, RoutingTable

    class Fixed:
        def __init__(self, table: RoutingTable) -> None:
            self.table = table
            self._changed: asyncio.Event | None = None

        def changed(self) -> asyncio.Event:
            if self._changed is None:
                self._changed = asyncio.Event()
            return self._changed

    spec = FunctionSpec(name="hop", service_id="hop", service_name="hop", image="i",
                        timeout=60.0, desired_replicas=1,
                        replicas=(Replica("hop1", "127.0.0.1", watchdog_port),))
    limit = int(os.environ.get("SC_BENCH_MAX_INFLIGHT", "0"))
    if limit and "queue" in {f.name for f in dataclasses.fields(FunctionSpec)}:
        from faas_sidecar.callqueue import QueueBounds
        spec = dataclasses.replace(spec, queue=QueueBounds(limit))
    table = RoutingTable(functions=MappingProxyType({"hop": spec}), built_at=time.time(),
                         generation=1)
    config = load_config({"FUNCTIONS_NETWORK": "n", "SIDECAR_PORT": str(port),
                          "FAST_PATH": os.environ.get("FAST_PATH", "true"),
                          # bench/async_local.py: the broker of /async-function
                          **({"QUEUE_URL": os.environ["BENCH_QUEUE_URL"]}
                             if os.environ.get("BENCH_QUEUE_URL") else {})})
    app = app_module.SidecarApp("sidecar_local_bench")
    if os.environ.get("SIDECAR_UVLOOP") == "false":
        app.config.USE_UVLOOP = False  # asyncio's own loop, for comparison
    app_module.setup_sanic_config(app, config)
    app_module.setup_errors(app)
    app_module.setup_metrics(app)
    app.ctx.discovery = Fixed(table)
    app_module.setup_proxy(app, config)
    app_module.setup_health(app)
    app_module.setup_function_routes(app, root_post=True)
    app.run(host="127.0.0.1", port=port, single_process=True, access_log=False, motd=False)


def stop_all(procs: list[subprocess.Popen]) -> None:
    """Terminate every process, then wait for each (killed after 10 s)."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    return total


def preemptions(pids: list[int]) -> int:
    """Involuntary context switches of these processes so far (from /proc)."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        total += int(re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", status).group(1))
    return total


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    pids = [int(p) for p in out.split()]
    return pids + [g for c in pids for g in children(c)]


def load_generator() -> tuple[float, int]:
    """CPU seconds used by finished children (the wrk runs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_nivcsw


def wrk(url: str, connections: int, duration: float) -> dict[str, float]:
    threads = 1 if connections == 1 else 2
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s",
                          "--timeout", "5s", "--latency", url],
                         capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out).groups()
        return float(value) * UNITS[unit]

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "requests": requests, "p50_ms": pct("50"), "p99_ms": pct("99"),
            "non_2xx": int(bad.group(1)) if bad else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4)
    parser.add_argument("--port", type=int, default=18810, help="first of 3 ports")
    parser.add_argument("--baseline-source", metavar="DIR", default="",
                        help="a checkout whose sidecar package runs as the side 'base'")
    parser.add_argument("--sidecar-source", metavar="DIR", default="",
                        help="the checkout whose sidecar package runs as the side 'sidecar' "
                             "(default: this one); swap the two to cancel a bias of place")
    parser.add_argument("--max-inflight", type=int, default=0,
                        help="the function's max_inflight as the sidecar sees it (0: none)")
    parser.add_argument("--serve-sidecar", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sidecar:
        port, wd, source = args.serve_sidecar
        serve_sidecar(int(port), int(wd), source)
        return 0
    tiny_port, wd_port, sc_port = args.port, args.port + 1, args.port + 2
    base_port = args.port + 3
    os.environ["SC_BENCH_MAX_INFLIGHT"] = str(args.max_inflight)
    # SC_WATCHDOG_PATH: a directory holding the fwatchdog package (e.g. a
    # pinned commit's), when the working tree's is mid-edit.
    wd_path = os.environ.get("SC_WATCHDOG_PATH", str(ROOT / "watchdog"))
    wd_env = {**os.environ, "PYTHONPATH": wd_path, "mode": "http",
              "port": str(wd_port), "upstream_url": f"http://127.0.0.1:{tiny_port}",
              "fprocess": f"{sys.executable} {TINY} --port {tiny_port}"}
    procs = [subprocess.Popen([sys.executable, "-m", "fwatchdog"], env=wd_env,
                              stdout=subprocess.DEVNULL)]
    procs.append(subprocess.Popen([sys.executable, __file__, "--serve-sidecar", str(sc_port),
                                   str(wd_port), args.sidecar_source]))
    if args.baseline_source:
        procs.append(subprocess.Popen([sys.executable, __file__, "--serve-sidecar",
                                       str(base_port), str(wd_port), args.baseline_source]))
    try:
        wait_port(wd_port, timeout=15)
        wait_port(sc_port, timeout=15)
        wd_pids = [procs[0].pid, *children(procs[0].pid)]  # watchdog (+ tiny, + workers)
        # both sidecars: the one a side does not use is idle (a fixed table)
        sc_pids = [p.pid for p in procs[1:]]
        urls = {"direct": f"http://127.0.0.1:{wd_port}/",
                "sidecar": f"http://127.0.0.1:{sc_port}/function/hop/"}
        if args.baseline_source:
            wait_port(base_port, timeout=15)
            urls["base"] = f"http://127.0.0.1:{base_port}/function/hop/"
        for url in urls.values():
            wrk(url, 32, 1)
        results: dict[str, dict[str, list[dict[str, float]]]] = {
            str(c): {side: [] for side in urls} for c in (1, 32)}
        for index in range(args.rounds):
            order = list(urls.items())
            # rotate: no side always first, or always right after another
            order = order[index % len(order):] + order[:index % len(order)]
            for connections in (1, 32):
                for label, url in order:
                    before = (cpu_seconds(sc_pids), cpu_seconds(wd_pids),
                              preemptions(sc_pids), preemptions(wd_pids), load_generator())
                    r = wrk(url, connections, args.duration)
                    after = (cpu_seconds(sc_pids), cpu_seconds(wd_pids),
                             preemptions(sc_pids), preemptions(wd_pids), load_generator())
                    n = max(r["requests"], 1)
                    r["sidecar_cpu_us"] = (after[0] - before[0]) / n * 1e6
                    r["watchdog_cpu_us"] = (after[1] - before[1]) / n * 1e6
                    # Preempted while runnable, per request: how often the
                    # processes of the chain interrupt each other (see
                    # docs/sidecar.md, "Why the hop costs more than its CPU").
                    r["sidecar_preempted"] = (after[2] - before[2]) / n
                    r["watchdog_preempted"] = (after[3] - before[3]) / n
                    r["wrk_cpu_us"] = (after[4][0] - before[4][0]) / n * 1e6
                    results[str(connections)][label].append(r)
                    print(f"round {index + 1} c={connections:2d} {label:7s} {r['rps']:8.0f} req/s"
                          f"  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  CPU/req: "
                          f"sidecar {r['sidecar_cpu_us']:4.0f} us, watchdog+upstream "
                          f"{r['watchdog_cpu_us']:4.0f} us, wrk {r['wrk_cpu_us']:3.0f} us; "
                          f"preempted/req: sidecar {r['sidecar_preempted']:.2f}, "
                          f"watchdog+upstream {r['watchdog_preempted']:.2f}"
                          + (f"  non-2xx {r['non_2xx']}" if r["non_2xx"] else ""), flush=True)
    finally:
        stop_all(procs)
    print(f"\nmedians of {args.rounds} rounds, {args.duration:g} s each, 127.0.0.1, "
          f"load average {os.getloadavg()[0]:.1f}")
    summary = {}
    for connections, sides in results.items():
        d, s = sides["direct"], sides["sidecar"]
        med = {side: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
               for side, rows in (("direct", d), ("sidecar", s))}
        ratios = [b["rps"] / a["rps"] for a, b in zip(d, s, strict=True)]
        summary[connections] = {**med, "ratio": med["sidecar"]["rps"] / med["direct"]["rps"],
                                "round_ratios": ratios}
        if "base" in sides:
            b = sides["base"]
            base_ratios = [y["rps"] / x["rps"] for x, y in zip(b, s, strict=True)]
            cpu = [y["sidecar_cpu_us"] / x["sidecar_cpu_us"] for x, y in zip(b, s, strict=True)]
            summary[connections].update(
                base=statistics.median(r["rps"] for r in b), base_round_ratios=base_ratios,
                sidecar_vs_base=statistics.median(base_ratios),
                base_cpu_us=statistics.median(r["sidecar_cpu_us"] for r in b),
                cpu_vs_base=statistics.median(cpu))
            print(f"  c={connections:>2}: base {summary[connections]['base']:7.0f} req/s | "
                  f"sidecar/base {statistics.median(base_ratios):.3f}x (rounds "
                  f"{', '.join(f'{x:.3f}' for x in base_ratios)}) | sidecar CPU/req "
                  f"{med['sidecar']['sidecar_cpu_us']:.1f} us vs base "
                  f"{summary[connections]['base_cpu_us']:.1f} us (per-round ratio median "
                  f"{statistics.median(cpu):.3f})")
        print(f"  c={connections:>2}: direct {med['direct']['rps']:7.0f} req/s p50 "
              f"{med['direct']['p50_ms']:.3f} ms | sidecar {med['sidecar']['rps']:7.0f} req/s "
              f"p50 {med['sidecar']['p50_ms']:.3f} ms | ratio "
              f"{summary[connections]['ratio']:.2f}x (rounds "
              f"{', '.join(f'{x:.2f}' for x in ratios)}) | sidecar CPU/req "
              f"{med['sidecar']['sidecar_cpu_us']:.0f} us | watchdog+upstream CPU/req direct "
              f"{med['direct']['watchdog_cpu_us']:.0f} us, via sidecar "
              f"{med['sidecar']['watchdog_cpu_us']:.0f} us (preempted/req "
              f"{med['direct']['watchdog_preempted']:.2f} -> "
              f"{med['sidecar']['watchdog_preempted']:.2f}) | wrk CPU/req "
              f"{med['direct']['wrk_cpu_us']:.0f} -> {med['sidecar']['wrk_cpu_us']:.0f} us")
    s32 = summary["32"]
    write_result(
        "sidecar_local",
        subject="wrk -> sidecar -> watchdog (http mode) -> tiny upstream, processes on"
                " 127.0.0.1, 32 connections; CPU time per request of each process",
        baseline="the watchdog and upstream hit directly",
        metric="req/s at 32 connections, ratio of medians",
        ratio=s32["ratio"], round_ratios=s32["round_ratios"],
        summary=f"{s32['sidecar']['rps']:,.0f} vs {s32['direct']['rps']:,.0f} req/s; sidecar CPU"
                f" {s32['sidecar']['sidecar_cpu_us']:.0f} us per request; watchdog+upstream"
                f" {s32['direct']['watchdog_cpu_us']:.0f} us direct,"
                f" {s32['sidecar']['watchdog_cpu_us']:.0f} us via the sidecar"
                + (f"; sidecar/base {s32['sidecar_vs_base']:.3f}x" if "base" in s32 else ""),
        figures={"rounds": results, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
