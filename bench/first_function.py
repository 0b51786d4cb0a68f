"""A new user's first function, timed step by step with the faas CLI alone.

Against a deployed stack (the one `make up` made, or any stack deployed as the
e2e tests deploy theirs), in a fresh temporary directory and a fresh CLI
config, the steps README.md's "First function" gives:

    faas login -g URL --tls-ca CA --password-stdin < PASSWORD_FILE
    faas new NAME --lang python
    faas build --no-cache          # every layer of the function's image built again
    faas deploy                    # returns once a replica is ready
    faas invoke NAME --data hi     # must answer "hi"

Each step's wall time is the CLI process's, start to exit. The function's
image is removed first, so the build starts from the base image only; the
function and its image are removed at the end. Not a ratio against a
baseline (docs/benchmarks.md): a user's waiting time, to be read as such.

    .venv/bin/python bench/first_function.py --gateway https://127.0.0.1:8443 \\
        --ca .state/faas/certs/ca.pem --password-file .state/faas/basic-auth-password \\
        [--rounds 3] [--lang python] [--name first-fn]
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

from report import write_result

ROOT = Path(__file__).resolve().parents[1]
FAAS = str(ROOT / ".venv" / "bin" / "faas")


def step(argv: list[str], cwd: Path, env: dict[str, str], stdin: bytes = b"") -> tuple[float,
                                                                                     bytes]:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True,
                          timeout=900)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                 f"{proc.stderr.decode(errors='replace')[-3000:]}")
    return took, proc.stdout


def cli_env(home: str) -> dict[str, str]:
    """The environment of a new user's CLI: its config in ``home``, nothing
    taken from the caller's login or settings."""
    env = {**os.environ, "HOME": home, "SWARMFAAS_CONFIG": f"{home}/config.json"}
    for var in ("SWARMFAAS_URL", "OPENFAAS_URL", "SWARMFAAS_USER", "SWARMFAAS_PASSWORD_FILE",
                "SWARMFAAS_CA", "SWARMFAAS_REGISTRY", "SWARMFAAS_PUSH_VIA"):
        env.pop(var, None)
    return env


def one_round(args: argparse.Namespace) -> dict[str, float]:
    name = args.name
    with tempfile.TemporaryDirectory(prefix="first-fn-") as home:
        work = Path(home) / "fns"
        work.mkdir()
        env = cli_env(home)
        subprocess.run(["docker", "image", "rm", "-f", f"swarmfaas/fn-{name}:latest"],
                       capture_output=True)
        times: dict[str, float] = {}
        password = Path(args.password_file).read_bytes()
        times["login"], _ = step([FAAS, "login", "-g", args.gateway, "--tls-ca", args.ca,
                                  "--password-stdin"], work, env, password)
        times["new"], _ = step([FAAS, "new", name, "--lang", args.lang], work, env)
        try:
            times["build"], _ = step([FAAS, "build", "--no-cache"], work, env)
            times["deploy"], _ = step([FAAS, "deploy"], work, env)
            times["invoke"], out = step([FAAS, "invoke", name, "--data", "hi"], work, env)
            if out.strip() != b"hi":
                sys.exit(f"invoke answered {out[:200]!r}, not 'hi'")
        finally:
            subprocess.run([FAAS, "remove", name], cwd=work, env=env, capture_output=True)
            subprocess.run(["docker", "image", "rm", "-f", f"swarmfaas/fn-{name}:latest"],
                           capture_output=True)
        times["total"] = sum(times.values())
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--lang", default="python")
    parser.add_argument("--name", default="first-fn")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # The CLI runs in a fresh project folder: paths relative to here would not resolve.
    args.ca = str(Path(args.ca).resolve())
    args.password_file = str(Path(args.password_file).resolve())
    rounds = []
    for i in range(args.rounds):
        times = one_round(args)
        rounds.append(times)
        print(f"round {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()),
              flush=True)
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print("median: " + ", ".join(f"{k} {v:.2f} s" for k, v in medians.items()))
    write_result(
        "first_function", subject=f"faas login, new --lang {args.lang}, build, deploy, invoke",
        baseline="", ratio=None, metric="wall time", target="report",
        summary=f"total {medians['total']:.2f} s (median of {args.rounds}): " + ", ".join(
            f"{k} {v:.2f} s" for k, v in medians.items() if k != "total"),
        figures={"lang": args.lang, "rounds": rounds, "median": medians})


if __name__ == "__main__":
    main()
