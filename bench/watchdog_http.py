"""http mode against the same upstream hit directly, measured side by side in one run.

For each upstream (a Sanic hello-world, the reference OpenFaaS's Go of-watchdog
was measured against, and a raw asyncio-Protocol hello-world that is several
times faster), rounds alternate: wrk straight at the upstream, then wrk at the
watchdog in front of it (mode=http), at 32 connections for throughput and at 1
connection for latency. Medians, ratios and added p50 latency go to stdout and
bench/results/watchdog_http-*.json, with the CPU time (user+system, from
/proc) the upstream and the watchdog spent per request at 32 connections: a
figure much less sensitive than req/s to other load on the machine.

    .venv/bin/python bench/watchdog_http.py [--rounds 3] [--seconds 5] [--upstreams sanic,raw]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from report import write_result
from watchdog_common import (
    cpu_model,
    free_port_in,
    median,
    rss_kib,
    start_watchdog,
    stop,
    wait_http,
    wrk,
)

HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")
UPSTREAMS = {
    "sanic": [sys.executable, str(HERE / "watchdog_upstream_sanic.py")],
    "raw": [sys.executable, str(HERE / "watchdog_upstream.py")],
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--upstreams", default="sanic,raw")
    args = parser.parse_args()
    summary: dict = {"cpu": cpu_model(), "date": time.strftime("%Y-%m-%d %H:%M"),
                     "rounds": args.rounds, "seconds": args.seconds,
                     "watchdog_workers": 1, "upstreams": {}}
    for name in [u.strip() for u in args.upstreams.split(",") if u.strip()]:
        up_port = free_port_in(18700, 18710)
        upstream = subprocess.Popen([*UPSTREAMS[name], str(up_port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{up_port}/", upstream)
            # The watchdog's own process is a sleeper: it proxies to the upstream above,
            # which we keep outside so "direct" and "through" hit the very same process.
            loops = ["asyncio"]
            wds = {}
            for lp in loops:
                wd_port = free_port_in(18711, 18730)
                wds[lp] = (wd_port, start_watchdog(wd_port, mode="http",
                                                   fprocess="sleep infinity",
                                                   upstream_url=f"http://127.0.0.1:{up_port}"))
            time.sleep(0.5)
            idle = {lp: rss_kib(proc.pid) for lp, (_, proc) in wds.items()}
            rows: dict[str, list[dict]] = {}
            plan = [("direct32", up_port, 32), ("direct1", up_port, 1)]
            for lp, (wd_port, _) in wds.items():
                plan += [(f"{lp}32", wd_port, 32), (f"{lp}1", wd_port, 1)]
            plan.sort(key=lambda row: row[2], reverse=True)
            try:
                for rnd in range(args.rounds):
                    for key, port, conns in plan:
                        watched = {"upstream": upstream.pid}
                        if port != up_port:
                            watched["watchdog"] = wds[key.rstrip("0123456789")][1].pid
                        before = {k: cpu_seconds(pid) for k, pid in watched.items()}
                        res = wrk(f"http://127.0.0.1:{port}/", conns, args.seconds, threads=1)
                        done = res["rps"] * args.seconds
                        res["cpu_us_per_req"] = {k: round(1e6 * (cpu_seconds(pid) - before[k])
                                                          / done, 1) for k, pid in watched.items()}
                        rows.setdefault(key, []).append(res)
                        print(f"{name} round {rnd + 1} {key}: {res['rps']:.0f} req/s "
                              f"p50 {res['p50_ms']} ms p99 {res['p99_ms']} ms "
                              f"non2xx={res['non2xx']} CPU us/req {res['cpu_us_per_req']} "
                              f"load {os.getloadavg()[0]:.1f}", flush=True)
            finally:
                for _, proc in wds.values():
                    stop(proc)
        finally:
            stop(upstream)
        med = {k: {"rps": median([r["rps"] for r in v]),
                   "p50_ms": median([r["p50_ms"] for r in v]),
                   "p99_ms": median([r["p99_ms"] for r in v])} for k, v in rows.items()}
        entry: dict = {"medians": med, "idle_rss_kib": idle, "rounds": rows, "loops": {}}
        for lp in wds:
            ratio = med[f"{lp}32"]["rps"] / med["direct32"]["rps"]
            added = med[f"{lp}1"]["p50_ms"] - med["direct1"]["p50_ms"]
            per_round = [w["rps"] / d["rps"] for w, d in zip(rows[f"{lp}32"], rows["direct32"],
                                                              strict=True)]
            added_rounds = [w["p50_ms"] - d["p50_ms"] for w, d in zip(rows[f"{lp}1"],
                                                                      rows["direct1"], strict=True)]
            cpu = {who: median([r["cpu_us_per_req"][who] for r in rows[f"{lp}32"]])
                   for who in ("upstream", "watchdog")}
            print(f"CPU per request at 32 (median): upstream {cpu['upstream']} us, "
                  f"watchdog {cpu['watchdog']} us")
            entry["loops"][lp] = {"ratio_32": ratio, "added_p50_ms_at_1": added,
                                  "cpu_us_per_req_32": cpu,
                                  "ratio_32_per_round": per_round,
                                  "added_p50_ms_per_round": added_rounds}
            print(f"per round ratio at 32: {', '.join(f'{x:.2f}' for x in per_round)}; "
                  f"added p50 at 1: {', '.join(f'{x:+.3f}' for x in added_rounds)}")
            print(f"\n{name} / watchdog on {lp}: direct {med['direct32']['rps']:.0f} req/s, "
                  f"through watchdog {med[f'{lp}32']['rps']:.0f} req/s at 32 conns: "
                  f"ratio {ratio:.2f}x; p50 at 1 conn {med['direct1']['p50_ms']:.3f} -> "
                  f"{med[f'{lp}1']['p50_ms']:.3f} ms (+{added:.3f} ms); "
                  f"idle RSS {idle[lp]} KiB", flush=True)
        summary["upstreams"][name] = entry
    head = next(iter(summary["upstreams"]))
    entry = summary["upstreams"][head]
    loop = entry["loops"]["asyncio"]
    med = entry["medians"]
    write_result(
        "watchdog_http",
        subject=f"fwatchdog http mode in front of a {head} hello-world, 32 connections"
                " (1 for latency), 1 watchdog worker",
        baseline=f"the same {head} upstream hit directly",
        metric="req/s at 32 connections, ratio of medians", target=">= 0.6x; added p50 < 0.3 ms",
        ratio=loop["ratio_32"], round_ratios=loop["ratio_32_per_round"],
        summary=f"{med['asyncio32']['rps']:,.0f} vs {med['direct32']['rps']:,.0f} req/s; added p50"
                f" at 1 connection {loop['added_p50_ms_at_1']:+.3f} ms; CPU per request"
                f" watchdog {loop['cpu_us_per_req_32']['watchdog']} us, upstream"
                f" {loop['cpu_us_per_req_32']['upstream']} us",
        figures=summary)


if __name__ == "__main__":
    main()
