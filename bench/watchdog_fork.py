"""Fork mode against its physical limit, measured side by side in one run.

Baseline: `subprocess.run(["cat"], input=BODY)` in a tight loop from 2 Python
threads (no HTTP at all). Subject: the watchdog with fprocess=cat, wrk POSTing
the same BODY over 8 keep-alive connections, once per worker count asked for
(`--workers 1,2`; "auto" is the default, one per CPU). Each round runs the
baseline, then every subject, then the baseline again; a subject's ratio for
the round is against the mean of the two baselines around it. Medians,
per-round ratios and the idle memory of the whole pool go to stdout and
bench/results/watchdog_fork-*.json.

    .venv/bin/python bench/watchdog_fork.py [--rounds 5] [--seconds 5] [--workers auto,1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time

from report import write_result
from watchdog_common import (
    cpu_model,
    free_port_in,
    median,
    pss_kib,
    rss_kib,
    start_watchdog,
    stop,
    wrk,
)

BODY = b"hello, watchdog\n"
PORTS = (18600, 18640)


def baseline(seconds: float, threads: int = 2) -> float:
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def loop(i: int) -> None:
        while time.monotonic() < deadline:
            subprocess.run(["cat"], input=BODY, capture_output=True, check=True)
            counts[i] += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    start = time.monotonic()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return sum(counts) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", default="auto,1",
                        help="comma-separated worker counts; 'auto' leaves `workers` unset")
    args = parser.parse_args()
    variants = [w.strip() for w in args.workers.split(",") if w.strip()]

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\nwrk.body = "hello, watchdog\\n"\n'
                     'wrk.headers["Content-Type"] = "text/plain"\n')

    base_runs: list[float] = []  # one per measurement, interleaved with the subjects
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    ratios: dict[str, list[float]] = {v: [] for v in variants}
    idle: dict[str, dict] = {}
    prev = baseline(args.seconds)
    base_runs.append(prev)
    print(f"baseline {prev:.0f}/s", flush=True)
    for rnd in range(args.rounds):
        for v in variants:
            env = {"fprocess": "cat", "exec_timeout": "10s"}
            if v != "auto":
                env["workers"] = v
            port = free_port_in(*PORTS)
            proc = start_watchdog(port, **env)
            time.sleep(0.5)
            idle[v] = {"rss_kib": rss_kib(proc.pid), "pss_kib": pss_kib(proc.pid)}
            try:
                res = wrk(f"http://127.0.0.1:{port}/", args.connections, args.seconds,
                          script=script.name)
            finally:
                stop(proc)
            after = baseline(args.seconds)
            base_runs.append(after)
            ratio = res["rps"] / ((prev + after) / 2)
            prev = after
            runs[v].append(res)
            ratios[v].append(ratio)
            print(f"round {rnd + 1}: workers={v} {res['rps']:.0f} req/s p50 {res['p50_ms']} ms "
                  f"p99 {res['p99_ms']} ms non2xx={res['non2xx']} {res['socket_errors']}"
                  f" | baseline after {after:.0f}/s | ratio {ratio:.2f}", flush=True)
    os.unlink(script.name)

    base = median(base_runs)
    summary = {"baseline_rps_median": base, "baseline_runs": base_runs,
               "variants": {}, "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d %H:%M"),
               "connections": args.connections, "seconds": args.seconds,
               "rounds": args.rounds, "loop": "asyncio (stdlib)"}
    print(f"\nbaseline (subprocess.run cat, 2 threads): median {base:.0f}/s "
          f"({', '.join(f'{b:.0f}' for b in base_runs)})")
    for v in variants:
        rps = median([r["rps"] for r in runs[v]])
        p50 = median([r["p50_ms"] for r in runs[v]])
        p99 = median([r["p99_ms"] for r in runs[v]])
        summary["variants"][v] = {"rps_median": rps, "p50_ms": p50, "p99_ms": p99,
                                  "ratio_of_medians": rps / base,
                                  "ratio_median": median(ratios[v]),
                                  "ratio_per_round": ratios[v], "ratio_min": min(ratios[v]),
                                  "idle": idle[v], "rounds": runs[v]}
        print(f"workers={v}: median {rps:.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"ratio median {median(ratios[v]):.2f}x (of medians {rps / base:.2f}x; per round "
              f"{', '.join(f'{x:.2f}' for x in ratios[v])}; min {min(ratios[v]):.2f}), "
              f"idle pool RSS {idle[v]['rss_kib']} KiB, PSS {idle[v]['pss_kib']} KiB")
    head = variants[0]
    ours = summary["variants"][head]
    others = "; ".join(f"workers={v}: {summary['variants'][v]['ratio_median']:.2f}x"
                       for v in variants[1:])
    write_result(
        "watchdog_fork",
        subject=f"fwatchdog fork mode, fprocess=cat, wrk POST at {args.connections} connections"
                f" (workers={head})",
        baseline='subprocess.run(["cat"]) in a tight loop from 2 Python threads, no HTTP',
        metric="req/s, median of per-round ratios", target=">= 1.1x, never < 0.8x",
        ratio=ours["ratio_median"], round_ratios=ours["ratio_per_round"],
        summary=f"{ours['rps_median']:,.0f} req/s vs {base:,.0f}/s, p50 {ours['p50_ms']:.1f} ms,"
                f" p99 {ours['p99_ms']:.1f} ms" + (f"; {others}" if others else ""),
        figures=summary)


if __name__ == "__main__":
    main()
