"""The 202 path against the synchronous path to the same function (issue 16),
on 127.0.0.1 without Docker.

Real processes: a ``nats-server -js`` with its file store in a temporary
folder, the tiny upstream behind the real watchdog (HTTP mode), and the
sidecar's app pieces with a fixed routing table (bench/sidecar_local.py's
``serve_sidecar``, with QUEUE_URL). wrk at 32 connections alternates, round
by round, between ``GET /function/hop/`` (the function answers) and
``GET /async-function/hop/`` (the sidecar stores the request, waits for the
broker's ack, answers 202). No queue worker runs: this measures accepting.

    .venv/bin/python bench/async_local.py [--rounds 3] [--duration 4] [--port 18830]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from report import write_result  # noqa: E402
from sidecar_local import TINY, cpu_seconds, stop_all, wait_port, wrk  # noqa: E402

CONNECTIONS = 32


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4)
    parser.add_argument("--port", type=int, default=18830, help="first of 4 ports")
    args = parser.parse_args()
    tiny_port, wd_port, sc_port, nats_port = range(args.port, args.port + 4)
    store = tempfile.mkdtemp(prefix="async-bench-")
    nats = shutil.which("nats-server") or "/usr/sbin/nats-server"
    procs = [subprocess.Popen([nats, "-js", "-a", "127.0.0.1", "-p", str(nats_port),
                               "-sd", store], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    wd_env = {**os.environ, "PYTHONPATH": str(ROOT / "watchdog"), "mode": "http",
              "port": str(wd_port), "upstream_url": f"http://127.0.0.1:{tiny_port}",
              "fprocess": f"{sys.executable} {TINY} --port {tiny_port}"}
    procs.append(subprocess.Popen([sys.executable, "-m", "fwatchdog"], env=wd_env,
                                  stdout=subprocess.DEVNULL))
    sc_env = {**os.environ, "BENCH_QUEUE_URL": f"nats://127.0.0.1:{nats_port}"}
    procs.append(subprocess.Popen([sys.executable, str(ROOT / "bench" / "sidecar_local.py"),
                                   "--serve-sidecar", str(sc_port), str(wd_port),
                                   ""],  # "": this checkout's sidecar package
                                  env=sc_env))
    urls = {"sync": f"http://127.0.0.1:{sc_port}/function/hop/",
            "async": f"http://127.0.0.1:{sc_port}/async-function/hop/"}
    results: dict[str, list[dict[str, float]]] = {"sync": [], "async": []}
    try:
        for port in (nats_port, wd_port, sc_port):
            wait_port(port, timeout=15)
        for url in urls.values():
            wrk(url, CONNECTIONS, 1)  # warm up (and make the streams)
        for index in range(args.rounds):
            order = list(urls.items())
            if index % 2:
                order.reverse()
            for label, url in order:
                before = cpu_seconds([procs[0].pid]), cpu_seconds([procs[2].pid])
                r = wrk(url, CONNECTIONS, args.duration)
                after = cpu_seconds([procs[0].pid]), cpu_seconds([procs[2].pid])
                n = max(r["requests"], 1)
                r["broker_cpu_us"] = (after[0] - before[0]) / n * 1e6
                r["sidecar_cpu_us"] = (after[1] - before[1]) / n * 1e6
                results[label].append(r)
                print(f"round {index + 1} {label:5s} {r['rps']:8.0f} req/s  p50 "
                      f"{r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  CPU/req: sidecar "
                      f"{r['sidecar_cpu_us']:4.0f} us, broker {r['broker_cpu_us']:4.0f} us"
                      + (f"  non-2xx {r['non_2xx']}" if r["non_2xx"] else ""), flush=True)
    finally:
        stop_all(procs)
        shutil.rmtree(store, ignore_errors=True)
    med = {side: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
           for side, rows in results.items()}
    ratios = [a["rps"] / s["rps"] for s, a in zip(results["sync"], results["async"],
                                                   strict=True)]
    print(f"\nmedians of {args.rounds} rounds, {args.duration:g} s each, c={CONNECTIONS}, "
          f"127.0.0.1, load average {os.getloadavg()[0]:.1f}")
    print(f"  sync  {med['sync']['rps']:7.0f} req/s p50 {med['sync']['p50_ms']:.3f} ms "
          f"p99 {med['sync']['p99_ms']:.3f} ms")
    print(f"  async {med['async']['rps']:7.0f} req/s p50 {med['async']['p50_ms']:.3f} ms "
          f"p99 {med['async']['p99_ms']:.3f} ms (202, stored with the broker's ack)")
    print(f"  async/sync {med['async']['rps'] / med['sync']['rps']:.2f}x (rounds "
          f"{', '.join(f'{x:.2f}' for x in ratios)})")
    write_result(
        "async_local",
        subject=f"GET /async-function/hop/ (stored in a real nats-server, 202) at"
                f" {CONNECTIONS} connections, 127.0.0.1",
        baseline="the synchronous /function/hop/ to the same function, alternating",
        metric=f"req/s at {CONNECTIONS} connections, median of per-round ratios",
        ratio=statistics.median(ratios), round_ratios=ratios,
        summary=f"{med['async']['rps']:,.0f} vs {med['sync']['rps']:,.0f} req/s; sidecar CPU"
                f" {med['async']['sidecar_cpu_us']:.0f} vs {med['sync']['sidecar_cpu_us']:.0f} us"
                f" per call, broker {med['async']['broker_cpu_us']:.0f} us",
        figures={"rounds": results, "medians": med, "round_ratios": ratios})
    return 0


if __name__ == "__main__":
    sys.exit(main())
