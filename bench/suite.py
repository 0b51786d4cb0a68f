"""Every benchmark of bench/, the command `make bench` runs it with, and when.

The one list both `make bench` (scripts/bench.sh runs ``suite.py run``) and the
docs (bench/render_docs.py lists a benchmark without a result as "not run",
with its command) read. A new bench/*.py benchmark gets a row here; a test
checks that every script that writes a result has one.

``needs`` says when `make bench` runs it:
- ``""``: always;
- ``"stack"``: against the stack `make up` deploys (scripts/bench.sh deploys it first);
- ``"cluster"``: only when the multi-node swarm is up with the stack on it
  (`make cluster && make cluster-up`); skipped, and said so, otherwise;
- ``"by hand"``: it needs an argument only a person can choose (a baseline
  tag); never run by `make bench`, listed with its command.

    .venv/bin/python bench/suite.py run [--needs none|stack|cluster] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDS = ("", "stack", "cluster", "by hand")
# A script's exit status for "cannot run here" (no swarm, no stack): skipped, not failed.
CANNOT_RUN = 2


@dataclass(frozen=True)
class Bench:
    name: str  # the result's name, bench/<name>.py
    command: str  # run by bash from the repository's root
    needs: str = ""

    def __post_init__(self) -> None:
        if self.needs not in NEEDS:
            raise ValueError(f"{self.name}: needs must be one of {NEEDS}, not {self.needs!r}")


PY = ".venv/bin/python"
TAG = '"$(cat .build/tag)"'
BENCHMARKS: tuple[Bench, ...] = (
    Bench("watchdog_fork", f"{PY} bench/watchdog_fork.py"),
    Bench("watchdog_http", f"{PY} bench/watchdog_http.py"),
    Bench("watchdog_binary", f"{PY} bench/watchdog_binary.py --image swarmfaas/watchdog:{TAG}"),
    Bench("sidecar_local", f"{PY} bench/sidecar_local.py"),
    Bench("sidecar_client", f"{PY} bench/sidecar_client.py"),
    Bench("queue_admission", f"{PY} bench/queue_admission.py"),
    Bench("async_local", f"{PY} bench/async_local.py"),
    Bench("discovery_scale", f"{PY} bench/discovery_scale.py"),
    Bench("nginx_overhead", f"{PY} bench/nginx_overhead.py"),
    Bench("cert_per_handshake", f"{PY} bench/cert_per_handshake.py"),
    Bench("nginx_balancer", f"{PY} bench/nginx_balancer.py"),
    Bench("sidecar_hop", f"{PY} bench/sidecar_hop.py"),
    Bench("sidecar_convergence", f"{PY} bench/sidecar_convergence.py"),
    Bench("sidecar_workers", f"{PY} bench/sidecar_workers.py"),
    Bench("engine_gate", f"{PY} bench/engine_gate.py"),
    Bench("healthcheck_cost", f"{PY} bench/healthcheck_cost.py --tag {TAG}"),
    Bench("https_path", f"{PY} bench/https_path.py"),
    Bench("cold_start", f"{PY} bench/cold_start.py"),
    Bench("scale_wake", f"{PY} bench/scale_wake.py"),
    Bench("spike", f"{PY} bench/spike.py"),
    Bench("health_interval", f"{PY} bench/health_interval.py", needs="stack"),
    Bench("async_delivery", f"{PY} bench/async_delivery.py --stack faas --port 8443 --rate 50 "
          "--duration 30 --rounds 2", needs="stack"),
    Bench("first_function", 'SWARMFAAS_WATCHDOG_TAG="$(cat .build/tag)" '
          f"{PY} bench/first_function.py --gateway https://127.0.0.1:8443 "
          "--ca .state/faas/certs/ca.pem --password-file .state/faas/basic-auth-password",
          needs="stack"),
    Bench("cluster_convergence", f"{PY} bench/cluster_convergence.py", needs="cluster"),
    Bench("cluster_hop", f"{PY} bench/cluster_hop.py", needs="cluster"),
    Bench("stack_idle", f"{PY} bench/stack_idle.py --baseline-tag OLD_TAG --baseline-rev OLD_REV",
          needs="by hand"),
)
# bench/*.py that are helpers, not benchmarks.
HELPERS = frozenset({"report", "suite", "render_docs", "cpu", "watchdog_common",
                     "watchdog_upstream", "watchdog_upstream_sanic", "scale_world"})


def cluster_up(stack: str = "faas") -> bool:
    """The multi-node swarm has the stack on it (what bench/cluster_convergence.py needs)."""
    return (ROOT / ".state" / "cluster" / f"images-{stack}.yml").is_file()


def run(benches: list[Bench]) -> int:
    """Run each, one after another (they share the cores); 1 when any failed."""
    failed, skipped = [], []
    for bench in benches:
        if bench.needs == "by hand":
            skipped.append(f"{bench.name} (by hand: {bench.command})")
            continue
        if bench.needs == "cluster" and not cluster_up():
            skipped.append(f"{bench.name} (the multi-node swarm is not up:"
                           " make cluster && make cluster-up)")
            continue
        print(f"\n==> bench/{bench.name}.py: {bench.command}", flush=True)
        start = time.monotonic()
        code = subprocess.run(["bash", "-c", bench.command], cwd=ROOT).returncode
        took = f"{time.monotonic() - start:.0f} s"
        if code == CANNOT_RUN:
            skipped.append(f"{bench.name} (it cannot run here, see above; {took})")
        elif code != 0:
            failed.append(f"{bench.name} (exit {code}, {took})")
    for line in skipped:
        print(f"skipped: {line}")
    for line in failed:
        print(f"FAILED: {line}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    runner = sub.add_parser("run", help="run the benchmarks")
    runner.add_argument("--needs", choices=["none", "stack", "cluster"],
                        help="only the benchmarks with this condition")
    runner.add_argument("--only", default="", help="comma-separated names")
    sub.add_parser("list", help="print every benchmark and its command")
    args = parser.parse_args()
    if args.action == "list":
        for bench in BENCHMARKS:
            print(f"{bench.name:22s} {bench.needs or '-':8s} {bench.command}")
        return 0
    chosen = list(BENCHMARKS)
    if args.needs:
        want = "" if args.needs == "none" else args.needs
        chosen = [b for b in chosen if b.needs == want]
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {b.name for b in BENCHMARKS}
        if unknown:
            parser.error(f"no such benchmark: {', '.join(sorted(unknown))}")
        chosen = [b for b in chosen if b.name in names]
    return run(chosen)


if __name__ == "__main__":
    sys.exit(main())
