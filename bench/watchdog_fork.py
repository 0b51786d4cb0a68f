"""Fork mode against its physical limit, measured side by side in one run.

Baseline: `subprocess.run(["cat"], input=BODY)` in a tight loop from 2 Python
threads (no HTTP at all). Subject: the watchdog with fprocess=cat, wrk POSTing
the same BODY over 8 keep-alive connections. Rounds alternate; medians and the
ratio go to stdout and bench/results/watchdog_fork-*.json.

    .venv/bin/python bench/watchdog_fork.py [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time

from watchdog_common import (
    cpu_model,
    free_port_in,
    median,
    rss_kib,
    start_watchdog,
    stop,
    write_results,
    wrk,
)

BODY = b"hello, watchdog\n"


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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    variants = ["watchdog"]

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\nwrk.body = "hello, watchdog\\n"\n'
                     'wrk.headers["Content-Type"] = "text/plain"\n')

    base_runs: list[float] = []
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    idle_rss: dict[str, int] = {}
    for rnd in range(args.rounds):
        base_runs.append(baseline(args.seconds))
        print(f"round {rnd + 1}: baseline {base_runs[-1]:.0f}/s", flush=True)
        for v in variants:
            port = free_port_in(18110, 18150)
            proc = start_watchdog(port, fprocess="cat", exec_timeout="10s")
            time.sleep(0.3)
            idle_rss[v] = rss_kib(proc.pid)
            try:
                res = wrk(f"http://127.0.0.1:{port}/", args.connections, args.seconds,
                          script=script.name)
            finally:
                stop(proc)
            runs[v].append(res)
            print(f"round {rnd + 1}: {v} {res['rps']:.0f} req/s p50 {res['p50_ms']} ms "
                  f"p99 {res['p99_ms']} ms non2xx={res['non2xx']} {res['socket_errors']}",
                  flush=True)
    os.unlink(script.name)

    base = median(base_runs)
    summary = {"baseline_rps_median": base, "baseline_rounds": base_runs,
               "variants": {}, "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d %H:%M"),
               "connections": args.connections, "seconds": args.seconds,
               "rounds": args.rounds}
    print(f"\nbaseline (subprocess.run cat, 2 threads): median {base:.0f}/s")
    for v in variants:
        rps = median([r["rps"] for r in runs[v]])
        p50 = median([r["p50_ms"] for r in runs[v]])
        p99 = median([r["p99_ms"] for r in runs[v]])
        ratios = [r["rps"] / b for r, b in zip(runs[v], base_runs, strict=True)]
        summary["variants"][v] = {"rps_median": rps, "p50_ms": p50, "p99_ms": p99,
                                  "ratio_median": rps / base, "ratio_per_round": ratios,
                                  "idle_rss_kib": idle_rss[v], "rounds": runs[v]}
        print(f"{v} (1 process, asyncio): median {rps:.0f} req/s, p50 {p50:.2f} ms, "
              f"p99 {p99:.2f} ms, ratio {rps / base:.2f}x "
              f"(per round {', '.join(f'{x:.2f}' for x in ratios)}), idle RSS {idle_rss[v]} KiB")
    print("results:", write_results("watchdog_fork", summary))


if __name__ == "__main__":
    main()
