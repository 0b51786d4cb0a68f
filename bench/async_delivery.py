"""Queue-to-function delivery latency on the deployed stack (issue 16), with
the synchronous path to the same function as the baseline, in the same run.

Calls go over HTTPS through nginx to the asyncprobe function, at a steady
rate (open loop: a call is sent on its schedule, whether or not the previous
one has been answered), in rounds that alternate between:

- ``async``: ``POST /async-function/asyncprobe/lat/<id>``. The latency is from
  the 202 arriving at this client to the function's receipt: asyncprobe
  records ``received`` (time.time()) as its process starts, before it reads
  the request;
- ``sync``: ``POST /function/asyncprobe/lat/<id>``. The latency is from sending
  the request to the function's receipt (the same end point), and the round
  trip is given too.

Every container and this client read the same clock (one machine). asyncprobe
is a fork-mode function: each call starts a process, in both paths alike.

    .venv/bin/python bench/async_delivery.py --stack faas --port 8443 \\
        [--rate 50] [--duration 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import ssl
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from report import write_result  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Caller:
    def __init__(self, base: str, verify: ssl.SSLContext) -> None:
        self.base, self.verify = base, verify
        self.local = threading.local()

    def client(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = httpx.Client(base_url=self.base, verify=self.verify,
                                                      timeout=30.0)
        return client

    def call(self, path: str, call_id: str) -> dict[str, float | int]:
        sent = time.time()
        try:
            status = self.client().post(path, content=b"latency",
                                        headers={"X-Call-Id": call_id}).status_code
        except httpx.HTTPError:
            status = 0  # counted as failed: no answer within 30 s
        return {"sent": sent, "answered": time.time(), "status": status}


def run_round(caller: Caller, mode: str, rate: float, duration: float,
              tag: str) -> dict[str, dict[str, float | int]]:
    """Send rate*duration calls on a fixed schedule; their timings by path."""
    prefix = "/async-function" if mode == "async" else "/function"
    count = int(rate * duration)
    futures = {}
    with ThreadPoolExecutor(32) as pool:
        start = time.monotonic()
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            call_id = f"lat-{tag}-{mode}-{i:05d}"
            futures[f"/lat/{call_id}"] = pool.submit(caller.call,
                                                     f"{prefix}/asyncprobe/lat/{call_id}", call_id)
    return {path: f.result() for path, f in futures.items()}


def receipts(caller: Caller, paths: set[str], timeout: float = 120) -> dict[str, float]:
    """The function's receive time of each path, once all have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = caller.client().get("/function/asyncprobe/report")
        except httpx.HTTPError:
            r = None
        got: dict[str, float] = {}
        for line in r.text.splitlines() if r is not None and r.status_code == 200 else ():
            record = json.loads(line)
            path = record.get("path")
            if path in paths and path not in got:
                got[path] = record["received"]
        if len(got) == len(paths) or time.monotonic() > deadline:
            return got
        time.sleep(1.0)


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": statistics.median(ms), "p99_ms": percentile(ms, 0.99),
            "max_ms": max(ms)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="faas")
    parser.add_argument("--port", type=int, default=8443, help="the stack's HTTPS port")
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each path")
    args = parser.parse_args()
    ca = ROOT / ".state" / args.stack / "certs" / "ca.pem"
    caller = Caller(f"https://127.0.0.1:{args.port}", ssl.create_default_context(cafile=ca))
    tag = uuid.uuid4().hex[:6]
    caller.call("/function/asyncprobe/warm", f"lat-{tag}-warm")
    latency: dict[str, list[float]] = {"async": [], "sync": [], "sync_round_trip": [],
                                       "async_from_send": []}
    failed = {"async": 0, "sync": 0}
    for index in range(args.rounds):
        order = ["async", "sync"] if index % 2 == 0 else ["sync", "async"]
        for mode in order:
            timings = run_round(caller, mode, args.rate, args.duration, f"{tag}{index}")
            ok = {p: t for p, t in timings.items() if t["status"] == (202 if mode == "async"
                                                                       else 200)}
            failed[mode] += len(timings) - len(ok)
            got = receipts(caller, set(ok))
            failed[mode] += len(ok) - len(got)
            if mode == "async":
                lat = [got[p] - ok[p]["answered"] for p in got]
                latency["async_from_send"] += [got[p] - ok[p]["sent"] for p in got]
            else:
                lat = [got[p] - ok[p]["sent"] for p in got]
                latency["sync_round_trip"] += [ok[p]["answered"] - ok[p]["sent"] for p in ok]
            latency[mode] += lat
            s = summary(lat)
            print(f"round {index + 1} {mode:5s} {s['n']:5d} calls  to the function's receipt: "
                  f"p50 {s['p50_ms']:.1f} ms  p99 {s['p99_ms']:.1f} ms", flush=True)
    results = {name: summary(values) for name, values in latency.items() if values}
    print(f"rate {args.rate:g}/s, {args.duration:g} s x {args.rounds} rounds per path; "
          f"failed: {failed}")
    for name, s in results.items():
        print(f"  {name:16s} n={s['n']:5d}  p50 {s['p50_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms"
              f"  max {s['max_ms']:7.1f} ms")
    a, b = results.get("async"), results.get("sync")
    write_result(
        "async_delivery", subject="202 to the function's receipt, through the queue",
        baseline="the synchronous path's send to the function's receipt, same function",
        ratio=a["p50_ms"] / b["p50_ms"] if a and b and b["p50_ms"] else None,
        metric="p50 latency", target="report p50 and p99 at a stated steady rate",
        summary=(f"{args.rate:g}/s; " + "; ".join(
            f"{k} p50 {v['p50_ms']:.0f} ms p99 {v['p99_ms']:.0f} ms" for k, v in results.items())
            + f"; failed {failed}"),
        figures={"rate": args.rate, "duration": args.duration, "rounds": args.rounds,
                 "failed": failed, "results": results})
    return 0 if not any(failed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
