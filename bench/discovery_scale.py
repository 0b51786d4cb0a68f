"""Discovery at internet scale, by simulation (issue 18): no Docker, pure core.

Synthetic Engine listings of N functions with T tasks each (or 1..T at random) are made from a
real service and a real task captured from our own deployed stack
(bench/fixtures/engine-*.json: `GET /services` and `GET /tasks` of `faas_echo`),
with IDs, names and addresses varied, so every document has the size and shape
the Engine really sends (about 1.4 KB a service, 2.1 KB a task).

Per size it measures, median of --rounds:
- parse: `json.loads` of the listing's bytes, what docker-py does with the
  Engine's answer, which discovery did until it decoded the bytes itself;
- decode: `listing.py`'s decoders, what discovery does now: msgspec keeps only
  the keys discovery reads;
- build: `spec.build_table` over the decoded listing (the whole routing table),
  cold (a first build) and warm (after one task changed); `whole` is the cold
  build over the whole parsed documents, as before;
- re-list: decode + cold build against parse + cold build over whole documents,
  the same work before and after listing.py (the headline ratio);
- memory: bytes the published table keeps alive (tracemalloc, listing freed),
  per function;
- burst: a real `Discovery` with an in-memory engine that serves the same bytes;
  E events arrive at once and the time to the next published table is taken.
  Events are coalesced, never applied one by one, so this is one re-list.

Target: a table of 10,000 tasks built in under 50 ms.

    .venv/bin/python bench/discovery_scale.py [--sizes 100,1000,10000] [--tasks 1,10]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sidecar"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import write_result  # noqa: E402

from faas_sidecar import listing  # noqa: E402
from faas_sidecar.discovery import Discovery  # noqa: E402
from faas_sidecar.metrics import Metrics  # noqa: E402
from faas_sidecar.spec import build_table  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NETWORK = "faas_functions"


def _id(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(25))


def synthetic_listing(functions: int, per_fn: int, seed: int = 7) -> tuple[bytes, bytes, int]:
    """(services JSON, tasks JSON, number of tasks): the Engine's two answers."""
    rng = random.Random(seed)
    service0 = json.loads((FIXTURES / "engine-service.json").read_text())
    task0 = json.loads((FIXTURES / "engine-task.json").read_text())
    network_id = service0["Spec"]["TaskTemplate"]["Networks"][0]["Target"]
    services, tasks = [], []
    for i in range(functions):
        service = copy.deepcopy(service0)
        service["ID"] = _id(rng)
        service["Spec"]["Name"] = f"faas_fn-{i}"
        service["Spec"]["TaskTemplate"]["Networks"][0]["Target"] = network_id
        count = rng.randint(1, -per_fn) if per_fn < 0 else per_fn
        service["Spec"]["Mode"]["Replicated"]["Replicas"] = count
        services.append(service)
        for slot in range(count):
            task = copy.deepcopy(task0)
            task["ID"] = _id(rng)
            task["ServiceID"] = service["ID"]
            task["Slot"] = slot + 1
            n = len(tasks) + 2
            task["NetworksAttachments"][0]["Addresses"] = [
                f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}/16"]
            tasks.append(task)
    return json.dumps(services).encode(), json.dumps(tasks).encode(), len(tasks)


def timed(fn: Any, rounds: int) -> tuple[float, Any]:
    """Median CPU seconds of ``fn()`` over rounds (GC collected before each), and
    its result. CPU time, this process's: on a shared 2-core machine the wall
    time of a build is mostly decided by what else runs."""
    (took, result), = timed_alternately([fn], rounds)
    return took, result


def timed_alternately(fns: list[Any], rounds: int) -> list[tuple[float, Any]]:
    """``timed`` of each of ``fns``, their rounds alternated (the first one
    first in even rounds, last in odd ones), so that what the process and the
    machine did meanwhile weighs on each alike."""
    times: list[list[float]] = [[] for _ in fns]
    results: list[Any] = [None] * len(fns)
    for n in range(rounds):
        order = range(len(fns)) if n % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            results[i] = None  # the last round's freed here, not inside this one's time
            gc.collect()
            started = time.process_time()
            results[i] = fns[i]()
            times[i].append(time.process_time() - started)
    return [(statistics.median(t), r) for t, r in zip(times, results, strict=True)]


def table_bytes(services_raw: bytes, tasks_raw: bytes) -> int:
    """What the published table keeps alive once the listing is gone."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    services, tasks = decode(services_raw, tasks_raw)
    table = build_table(services, tasks, NETWORK, generation=1, built_at=0.0).table
    del services, tasks
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert table.functions
    return kept


def decode(services_raw: bytes, tasks_raw: bytes) -> tuple[list, list]:
    """The listing as discovery's Engine decodes it (listing.Listings)."""
    return (listing.decode(listing.DISCOVERY_SERVICES, services_raw),
            listing.decode(listing.DISCOVERY_TASKS, tasks_raw))


class ListingEngine:
    """An in-memory Engine: the three calls Discovery makes, answered from bytes
    (decoded on every call, as the real one decodes every answer)."""

    def __init__(self, services_raw: bytes, tasks_raw: bytes, network_id: str) -> None:
        self._raw = (services_raw, tasks_raw)
        self._network_id = network_id

    def network_id(self, network: str) -> str:
        return self._network_id

    def list_functions(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return decode(*self._raw)

    def events(self) -> Any:  # never streams: the bench calls _on_event itself
        raise NotImplementedError

    def close(self) -> None:
        pass


async def burst(services_raw: bytes, tasks_raw: bytes, events: int, rounds: int) -> float:
    """Median seconds from a burst of ``events`` events to the next published table."""
    network_id = json.loads(services_raw)[0]["Spec"]["TaskTemplate"]["Networks"][0]["Target"]
    engine = ListingEngine(services_raw, tasks_raw, network_id)
    discovery = Discovery(lambda: engine, NETWORK, Metrics(), relist_interval=3600,
                          debounce=0.01)
    discovery._loop = asyncio.get_running_loop()
    loop_task = asyncio.create_task(discovery._relist_loop())
    await discovery.relist()  # the first table
    times = []
    try:
        for _ in range(rounds):
            changed = discovery.changed()
            started = time.perf_counter()
            for i in range(events):
                discovery._on_event("container", "start" if i % 2 else "die")
            # Same content: Discovery keeps the generation and sets no change
            # event, so wait for the table object itself to be replaced.
            table = discovery.table
            while discovery.table is table and not changed.is_set():
                await asyncio.sleep(0.0005)
            times.append(time.perf_counter() - started)
    finally:
        loop_task.cancel()
        await asyncio.gather(loop_task, return_exceptions=True)
    return statistics.median(times)


def one_changed(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The listing after one event: one task stopped (a new version of it)."""
    changed = copy.deepcopy(tasks[0])
    changed["Version"]["Index"] += 1
    changed["Status"]["State"] = "shutdown"
    return [changed, *tasks[1:]]


def measure(size: int, per_fn: int, rounds: int, events: int) -> dict[str, Any]:
    services_raw, tasks_raw, ntasks = synthetic_listing(size, per_fn)
    (parse, whole_listing), (decoded, (services, tasks)) = timed_alternately([
        lambda: (json.loads(services_raw), json.loads(tasks_raw)),
        lambda: decode(services_raw, tasks_raw)], rounds)
    (whole, _), (cold, result) = timed_alternately([
        lambda: build_table(*whole_listing, NETWORK, generation=1, built_at=0.0),
        lambda: build_table(services, tasks, NETWORK, generation=1, built_at=0.0)], rounds)
    whole_listing = None
    assert len(result.table.functions) == size, result.table.invalid
    assert sum(len(f.replicas) for f in result.table.functions.values()) == ntasks
    after = one_changed(tasks)
    warm, rebuilt = timed(lambda: build_table(services, after, NETWORK, generation=2,
                                              built_at=0.0, memo=result.memo), rounds)
    assert sum(len(f.replicas) for f in rebuilt.table.functions.values()) == ntasks - 1
    kept = table_bytes(services_raw, tasks_raw)
    burst_s = asyncio.run(burst(services_raw, tasks_raw, events, max(3, rounds // 2)))
    return {"functions": size, "tasks_per_function": per_fn, "tasks": ntasks,
            "listing_bytes": len(services_raw) + len(tasks_raw),
            "parse_ms": parse * 1e3, "decode_ms": decoded * 1e3, "build_ms": cold * 1e3,
            "warm_build_ms": warm * 1e3, "whole_build_ms": whole * 1e3,
            "relist_ms": (decoded + cold) * 1e3, "whole_relist_ms": (parse + whole) * 1e3,
            "relist_ratio": (decoded + cold) / (parse + whole),
            "bytes_per_function": kept / size,
            "burst_ms": burst_s * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--tasks", default="1,10,-10",
                        help="tasks per function; -N: a random number from 1 to N")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=1000, help="events in one burst")
    args = parser.parse_args()
    rows = []
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds, burst of {args.events} "
          f"events, debounce 10 ms, load average {os.getloadavg()[0]:.1f}")
    print(f"{'functions':>9} {'tasks/fn':>8} {'tasks':>6} {'MB':>6} {'parse ms':>9} "
          f"{'whole ms':>9} {'decode ms':>9} {'build ms':>9} {'warm ms':>8} "
          f"{'re-list':>7} {'B/function':>10} {'burst ms':>9}")
    for per_fn in (int(t) for t in args.tasks.split(",")):
        for size in (int(s) for s in args.sizes.split(",")):
            row = measure(size, per_fn, args.rounds, args.events)
            rows.append(row)
            print(f"{size:>9} {per_fn:>8} {row['tasks']:>6} {row['listing_bytes'] / 1e6:>6.1f} "
                  f"{row['parse_ms']:>9.1f} {row['whole_build_ms']:>9.1f} "
                  f"{row['decode_ms']:>9.1f} {row['build_ms']:>9.1f} "
                  f"{row['warm_build_ms']:>8.1f} {row['relist_ratio']:>6.2f}x "
                  f"{row['bytes_per_function']:>10.0f} {row['burst_ms']:>9.1f}")
    for row in rows:
        if row["tasks"] == 10000:
            verdict = "met" if row["build_ms"] < 50 else "not met"
            print(f"10,000 tasks as {row['functions']} functions x {row['tasks_per_function']}: "
                  f"built in {row['build_ms']:.1f} ms cold ({verdict}), "
                  f"{row['warm_build_ms']:.1f} ms after one change")
    # The headline: the largest table, one task per function, its re-list now
    # against the same re-list over docker-py's parse.
    big = max(rows, key=lambda r: (r["tasks"], -r["tasks_per_function"]))
    write_result(
        "discovery_scale",
        subject=f"a re-list's decode and table build over a synthetic Engine listing of "
                f"{big['functions']:,} functions x {big['tasks_per_function']} tasks "
                f"({big['tasks']:,} tasks)",
        baseline="json.loads of the same bytes (docker-py) and the build over whole documents",
        metric="ms, medians, re-list now/before", target="10,000 tasks built in < 50 ms",
        ratio=big["relist_ratio"],
        summary="; ".join(f"{r['tasks']:,} tasks ({r['functions']:,} x"
                          f" {r['tasks_per_function']}): decode {r['decode_ms']:.1f} ms +"
                          f" build {r['build_ms']:.1f} ms (before: parse {r['parse_ms']:.1f}"
                          f" + {r['whole_build_ms']:.1f} ms)"
                          for r in rows if r["tasks"] >= 10000),
        figures={"rounds": args.rounds, "events": args.events, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
