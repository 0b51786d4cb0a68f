"""What one table per worker costs: the measurement behind the workers decision.

Each Sanic worker runs its own discovery (events stream + re-lists). The
alternative, one watcher feeding all workers, saves the duplicated re-lists
but adds a publication channel between processes. This measures the cost that
the per-worker design multiplies by the number of workers, against the real
Engine, with N function services (sc-wk-*) deployed:

- one re-list: ``Engine.list_functions()`` wall time (the Engine's work plus
  JSON decoding in our process) and its CPU time in our process;
- ``build_table`` CPU time for that listing (pure);
- the same listing pickled: what a shared watcher would have to ship to every
  worker per change (size and pickle+unpickle time).

Throughput with 1 and 2 workers comes from ``bench/sidecar_hop.py --workers``.

    .venv/bin/python bench/sidecar_workers.py [--functions 10] [--rounds 30]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sidecar"))
sys.path.insert(0, str(ROOT / "sidecar"))

from report import write_result  # noqa: E402
from sidecar_swarm import (  # noqa: E402
    build_images,
    create_function,
    docker,
    remove,
    swarm_ready,
    wait_running,
)

from faas_sidecar.engine import Engine  # noqa: E402
from faas_sidecar.spec import build_table  # noqa: E402

PREFIX = "sc-wk"
NETWORK = f"{PREFIX}-net"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    why = swarm_ready()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    if not args.no_build:
        build_images(sidecar=False)
    names = [f"{PREFIX}-fn{i}" for i in range(args.functions)]
    remove(*names)
    docker("network", "create", "--driver", "overlay", "--attachable", NETWORK, check=False)
    engine = Engine(None)
    try:
        for name in names:
            create_function(name, NETWORK)
        for name in names:
            wait_running(name, 1, timeout=120)
        wall, cpu, build, ship, size = [], [], [], [], 0
        for _ in range(args.rounds):
            w0, c0 = time.perf_counter(), time.process_time()
            services, tasks = engine.list_functions()
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
            b0 = time.process_time()
            table = build_table(services, tasks, NETWORK, generation=1,
                                built_at=time.time()).table
            build.append(time.process_time() - b0)
            s0 = time.perf_counter()
            # The table is built from read-only mappings (not picklable): a shared
            # watcher would ship plain data and rebuild the snapshot in each worker.
            plain = [(f.name, f.service_id, f.service_name, f.image, f.port, f.timeout,
                      f.desired_replicas, dict(f.labels), f.replicas)
                     for f in table.functions.values()]
            blob = pickle.dumps(plain)
            pickle.loads(blob)
            ship.append(time.perf_counter() - s0)
            size = len(blob)
            time.sleep(0.05)
        functions = len(table.functions)
    finally:
        remove(*names)
        engine.close()
        time.sleep(2)
        docker("network", "rm", NETWORK, check=False)
    summary = {
        "functions_in_table": functions,
        "tasks_listed": len(tasks),
        "relist_wall_ms": statistics.median(wall) * 1000,
        "relist_cpu_ms": statistics.median(cpu) * 1000,
        "build_table_cpu_ms": statistics.median(build) * 1000,
        "pickle_roundtrip_ms": statistics.median(ship) * 1000,
        "pickled_table_bytes": size,
    }
    print(f"medians of {args.rounds} re-lists with {functions} function services "
          f"({len(tasks)} running tasks on the Engine, all owners):")
    for key, value in summary.items():
        print(f"  {key:22s} {value:10.3f}" if isinstance(value, float) else
              f"  {key:22s} {value:10d}")
    write_result(
        "sidecar_workers",
        subject=f"what one routing table per Sanic worker costs: a re-list with {functions}"
                " function services, build_table, and the pickled table a shared watcher"
                " would ship",
        baseline="none: absolute costs, medians of the rounds", ratio=None,
        summary=f"re-list {summary['relist_wall_ms']:.1f} ms wall,"
                f" {summary['relist_cpu_ms']:.1f} ms CPU; build_table"
                f" {summary['build_table_cpu_ms']:.2f} ms; pickle round trip"
                f" {summary['pickle_roundtrip_ms']:.2f} ms ({size:,} B)",
        figures={"summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
