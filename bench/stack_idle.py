"""What the deployed platform costs while it serves nothing: the machine's busy
CPU with the stack up and idle, this tree's images against a baseline's.

Health checks are most of it (bench/healthcheck_cost.py measures one). In
alternating rounds the stack is deployed with the baseline's images and stack
file, then with this tree's (``.build/tag`` and stack.yml); once every service
runs the wanted tag, the script waits for the replacements to settle and reads
/proc/stat over a window. It ends with this tree's stack deployed. Needs
``make up`` first (secrets, images); the baseline's images must exist locally.

    .venv/bin/python bench/stack_idle.py --baseline-tag OLD [--baseline-rev REV]
        [--rounds 2] [--seconds 60]

--baseline-rev (default: HEAD) names the commit whose stack.yml goes with the
baseline images.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cpu import machine_ticks
from report import write_result

ROOT = Path(__file__).resolve().parents[1]
STACK = "faas"


def busy_fraction(seconds: float) -> float:
    """Busy share of all CPUs over ``seconds`` (1.0 = every CPU busy)."""
    busy, total = machine_ticks()
    time.sleep(seconds)
    busy_after, total_after = machine_ticks()
    return (busy_after - busy) / (total_after - total)


def deploy(tag: str, stack_file: Path, env: dict[str, str]) -> None:
    subprocess.run(["docker", "stack", "deploy", "--resolve-image", "never", "--prune", "-c",
                    str(stack_file), STACK], env={**env, "TAG": tag}, check=True,
                   capture_output=True, timeout=300)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        rows = subprocess.run(["docker", "stack", "services", STACK, "--format",
                               "{{.Replicas}} {{.Image}}"], capture_output=True, text=True,
                              check=True).stdout.split("\n")
        if all(r.split()[0].split("/")[0] == r.split()[0].split("/")[1] and r.endswith(tag)
               for r in rows if r.strip()):
            return
        time.sleep(3)
    raise RuntimeError(f"stack {STACK} did not converge on tag {tag}")


def stack_env() -> dict[str, str]:
    env = {**os.environ, "STACK": STACK, "HTTPS_PORT": os.environ.get("HTTPS_PORT", "8443"),
           "HTTP_PORT": os.environ.get("HTTP_PORT", "8080")}
    settings = ROOT / ".state" / STACK / "stack.env"
    if not settings.exists():
        raise SystemExit(f"no {settings}: run `make up` first")
    for line in settings.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip('"').strip("'")
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-tag", required=True)
    parser.add_argument("--baseline-rev", default="HEAD")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=40,
                        help="seconds to wait after the stack converged")
    args = parser.parse_args()
    env = stack_env()
    current_tag = (ROOT / ".build" / "tag").read_text().strip()
    with tempfile.TemporaryDirectory() as tmp:
        baseline_file = Path(tmp) / "stack.yml"
        baseline_file.write_text(subprocess.run(
            ["git", "show", f"{args.baseline_rev}:stack.yml"], cwd=ROOT, capture_output=True,
            text=True, check=True).stdout)
        sides = {"baseline": (args.baseline_tag, baseline_file),
                 "current": (current_tag, ROOT / "stack.yml")}
        results: dict[str, list[float]] = {side: [] for side in sides}
        for index in range(args.rounds):
            for side, (tag, stack_file) in sides.items():
                deploy(tag, stack_file, env)
                time.sleep(args.settle)
                busy = busy_fraction(args.seconds)
                results[side].append(busy)
                print(f"round {index + 1} {side:8s} tag {tag}: {busy * 100:.1f}% of "
                      f"{os.cpu_count()} CPUs busy over {args.seconds:g} s", flush=True)
    summary = {side: statistics.median(values) for side, values in results.items()}
    print(f"median: baseline {summary['baseline'] * 100:.1f}%, current "
          f"{summary['current'] * 100:.1f}% -> {summary['current'] / summary['baseline']:.2f}x")
    write_result(
        "stack_idle",
        subject=f"the deployed stack serving nothing, this tree's images ({current_tag}):"
                " the machine's busy CPU",
        baseline=f"the same stack at tag {args.baseline_tag} and {args.baseline_rev}'s"
                 " stack.yml, alternating",
        metric=f"busy share of the CPUs over {args.seconds:g} s, medians, subject/baseline"
               " (lower is better)",
        ratio=summary["current"] / summary["baseline"],
        round_ratios=[a / b for a, b in zip(results["current"], results["baseline"],
                                            strict=True)],
        summary=f"{summary['current'] * 100:.1f}% vs {summary['baseline'] * 100:.1f}% of"
                f" {os.cpu_count()} CPUs busy",
        figures={"tags": {s: t for s, (t, _) in sides.items()},
                 "baseline_rev": args.baseline_rev, "seconds": args.seconds,
                 "cpus": os.cpu_count(), "busy": results, "median": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
