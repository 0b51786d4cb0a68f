"""The queue's cost on the hot path, in process: admission and a lease, per call.

What the fast path does per call that the queue touches (``Proxy.admit_now``,
a ``Lease`` taken and given back), timed for a function without a concurrency
limit and for one with ``max_inflight`` that is never reached (the queue on,
never used), alternating in one process; with ``--baseline-source DIR``, the
same for another checkout's sidecar package (e.g. main's) in a subprocess.
A shared machine's load moves every figure (a round can take 10x its best):
read the best round of each (the call's own cost, least disturbed) and the
ratios of one run.

    .venv/bin/python bench/queue_admission.py [--rounds 7] [--calls 200000]
        [--baseline-source /tmp/main-tree]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import MappingProxyType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from report import write_result  # noqa: E402


def measure(source: str, rounds: int, calls: int) -> dict[str, list[float]]:
    """ns per call for each variant this checkout has, rounds alternating."""
    sys.path.insert(0, str(Path(source or ROOT) / "sidecar"))
    from faas_sidecar.metrics import Metrics
    from faas_sidecar.model import FunctionSpec, Replica, RoutingTable
    from faas_sidecar.proxy import Lease, Proxy

    spec = FunctionSpec(name="f", service_id="f", service_name="f", image="i",
                        desired_replicas=2, replicas=(Replica("a", "10.0.0.1", 8080),
                                                      Replica("b", "10.0.0.2", 8080)))
    variants = {"no limit": spec}
    has_queue = "queue" in {f.name for f in dataclasses.fields(FunctionSpec)}
    if has_queue:
        from faas_sidecar.callqueue import QueueBounds
        variants["queue on, unused"] = dataclasses.replace(spec, queue=QueueBounds(1000))
    out: dict[str, list[float]] = {name: [] for name in variants}

    async def run() -> None:
        for _ in range(rounds):
            for name, fn in variants.items():
                table = RoutingTable(functions=MappingProxyType({"f": fn}), generation=1)
                proxy = Proxy(lambda table=table: table, asyncio.Event, Metrics(),
                              connect_timeout=1, hold_timeout=1, buffer_limit=1024)
                proxy._pool_generation = 1  # as after the first table
                queued = None if not has_queue or fn.queue is None else fn.name
                extra = () if not has_queue else (None, queued)
                admit_now = proxy.admit_now
                start = time.perf_counter_ns()
                for _ in range(calls):
                    _spec, replica = admit_now("f")
                    Lease(proxy, (replica.address, replica.port), *extra).done(True)
                out[name].append((time.perf_counter_ns() - start) / calls)

    asyncio.run(run())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--baseline-source", default="")
    parser.add_argument("--source", default="", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.source, args.rounds, args.calls)))
        return 0
    results: dict[str, list[float]] = {}
    for _ in range(args.rounds):  # alternate the checkouts, one round each at a time
        for label, source in (("this", ""), ("base", args.baseline_source)):
            if label == "base" and not source:
                continue
            got = json.loads(subprocess.run(
                [sys.executable, __file__, "--json", "--source", source, "--rounds", "1",
                 "--calls", str(args.calls)], capture_output=True, text=True,
                check=True).stdout)
            for name, values in got.items():
                results.setdefault(f"{label}: {name}", []).extend(values)
    for name, values in results.items():
        print(f"{name:28s} best {min(values):6.0f} ns, median {statistics.median(values):6.0f} "
              f"ns per call "
              f"(rounds {', '.join(f'{v:.0f}' for v in values)})")
    # The subject: the queue on but unused; against main's admission when a
    # baseline checkout is given, else this checkout's own with no limit.
    subject = results.get("this: queue on, unused", results["this: no limit"])
    against = "base: no limit" if args.baseline_source else "this: no limit"
    baseline = results[against]
    ratios = [a / b for a, b in zip(subject, baseline, strict=True)]
    write_result(
        "queue_admission",
        subject="the sidecar's admission plus one lease per call, the queue on but unused",
        baseline=f"the same with no limit ({against.split(':')[0]} checkout"
                 + (f", {args.baseline_source}" if args.baseline_source else "") + ")",
        metric="ns per call, best round, subject/baseline (lower is better)",
        ratio=min(subject) / min(baseline), round_ratios=ratios,
        summary=f"best {min(subject):.0f} vs {min(baseline):.0f} ns per call; medians"
                f" {statistics.median(subject):.0f} vs {statistics.median(baseline):.0f} ns",
        figures={"calls": args.calls, "ns_per_call": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
