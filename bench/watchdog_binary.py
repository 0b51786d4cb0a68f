"""The self-contained binary (/fwatchdog) against today's zipapp, alternating, in one run.

Both come out of the same swarmfaas/watchdog image (`docker cp`) and run on
this host: the zipapp under Debian's python3 (/usr/bin/python3, the
interpreter it runs under in the image), the binary on its own. Measured:

- start-up: from the process start to the first 200 of GET /_/health, polled
  every 2 ms; the binary "cold" (a fresh TMPDIR: it unpacks its bytecode, as
  in a new container) and "warm" (unpacked already, as a restart or any later
  start in the same container);
- the health check: one `fwatchdog --healthcheck`, wall time;
- idle memory: PSS of the supervisor and its workers, 0.5 s after start-up
  (fork mode, `workers` unset: one per CPU);
- fork-mode throughput: fprocess=cat, wrk POSTing 16 bytes over 8 connections.
  Each round runs zipapp, binary, zipapp; the binary's ratio for the round is
  against the mean of the two zipapp runs around it.

    .venv/bin/python bench/watchdog_binary.py --image swarmfaas/watchdog:TAG [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from report import write_result
from watchdog_common import (
    cpu_model,
    free_port_in,
    median,
    pool_pids,
    pss_kib,
    stop,
    wrk,
)

PORTS = (18660, 18700)
ZIPAPP_PYTHON = os.environ.get("BENCH_ZIPAPP_PYTHON", "/usr/bin/python3")


def extract(image: str, into: Path) -> dict[str, list[str]]:
    """Copy both watchdogs out of the image; the command that starts each."""
    box = subprocess.run(["docker", "create", image], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        pairs = (("/usr/local/bin/fwatchdog", "fwatchdog.pyz"), ("/fwatchdog", "fwatchdog"))
        for src, dst in pairs:
            subprocess.run(["docker", "cp", f"{box}:{src}", str(into / dst)], check=True)
    finally:
        subprocess.run(["docker", "rm", box], capture_output=True, check=False)
    return {"zipapp": [ZIPAPP_PYTHON, str(into / "fwatchdog.pyz")],
            "binary": [str(into / "fwatchdog")]}


def healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /_/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """CPU time of the supervisor and its workers so far (every thread, from schedstat):
    other load on the machine stretches wall time, much less this."""
    total = 0
    for p in pool_pids(pid):
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError, IndexError):  # a thread just gone
                total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def start(command: list[str], tmp: Path, **env: str) -> tuple[subprocess.Popen, int, float]:
    """Start a watchdog; seconds until its first healthy answer."""
    port = free_port_in(*PORTS)
    full = {"PATH": os.environ["PATH"], "TMPDIR": str(tmp), "port": str(port),
            "fwatchdog_host": "127.0.0.1", "fprocess": "cat", "exec_timeout": "10s", **env}
    began = time.perf_counter()
    proc = subprocess.Popen(command, env=full, stderr=subprocess.DEVNULL)
    while not healthy(port):
        if proc.poll() is not None:
            raise RuntimeError(f"{command[-1]} exited with {proc.returncode}")
        if time.perf_counter() - began > 20:
            raise RuntimeError(f"{command[-1]} did not answer in 20 s")
        time.sleep(0.002)
    return proc, port, time.perf_counter() - began


def healthcheck_seconds(command: list[str], tmp: Path) -> float:
    began = time.perf_counter()
    subprocess.run([*command, "--healthcheck"], env={"TMPDIR": str(tmp)}, check=True)
    return time.perf_counter() - began


def startups(commands: dict[str, list[str]], work: Path, rounds: int) -> dict[str, dict]:
    times: dict[str, list[float]] = {"zipapp": [], "binary cold": [], "binary warm": []}
    cpu: dict[str, list[float]] = {k: [] for k in times}
    checks: dict[str, list[float]] = {"zipapp": [], "binary": []}
    idle: dict[str, list[int]] = {"zipapp": [], "binary": []}
    warm_tmp = work / "warm"
    warm_tmp.mkdir()
    start(commands["binary"], warm_tmp)[0].terminate()  # unpack once for the warm starts
    for rnd in range(rounds):
        for label in times:
            cold = label == "binary cold"
            tmp = Path(tempfile.mkdtemp(dir=work)) if cold else warm_tmp
            command = commands["zipapp" if label == "zipapp" else "binary"]
            proc, _, took = start(command, tmp)
            cpu[label].append(cpu_seconds(proc.pid))
            times[label].append(took)
            if label != "binary cold":
                time.sleep(0.5)
                kind = label.split()[0]
                idle[kind].append(pss_kib(proc.pid))
                checks[kind].append(healthcheck_seconds(command, tmp))
            stop(proc)
            if cold:
                shutil.rmtree(tmp)
        print(f"start-up round {rnd + 1}: " + ", ".join(
            f"{k} {v[-1] * 1000:.0f} ms ({cpu[k][-1] * 1000:.0f} ms CPU)"
            for k, v in times.items()), flush=True)
    return {"startup_ms": {k: {"median": median(v) * 1000, "runs": [x * 1000 for x in v]}
                           for k, v in times.items()},
            "startup_cpu_ms": {k: {"median": median(v) * 1000, "runs": [x * 1000 for x in v]}
                               for k, v in cpu.items()},
            "healthcheck_ms": {k: {"median": median(v) * 1000, "runs": [x * 1000 for x in v]}
                               for k, v in checks.items()},
            "idle_pss_kib": {k: {"median": median(v), "runs": v} for k, v in idle.items()}}


def throughput(commands: dict[str, list[str]], work: Path, rounds: int, seconds: int,
               connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\nwrk.body = "hello, watchdog\\n"\n')

    def measure(kind: str) -> dict:
        proc, port, _ = start(commands[kind], work / "warm")
        try:
            return wrk(f"http://127.0.0.1:{port}/", connections, seconds, script=script.name)
        finally:
            stop(proc)

    zipapp = [measure("zipapp")]
    binary: list[dict] = []
    ratios: list[float] = []
    for rnd in range(rounds):
        binary.append(measure("binary"))
        zipapp.append(measure("zipapp"))
        ratio = binary[-1]["rps"] / ((zipapp[-2]["rps"] + zipapp[-1]["rps"]) / 2)
        ratios.append(ratio)
        print(f"throughput round {rnd + 1}: binary {binary[-1]['rps']:.0f} req/s, zipapp "
              f"{zipapp[-2]['rps']:.0f} / {zipapp[-1]['rps']:.0f} req/s, ratio {ratio:.2f}",
              flush=True)
    os.unlink(script.name)
    return {"ratio_median": median(ratios), "ratio_per_round": ratios,
            "binary_rps_median": median([r["rps"] for r in binary]),
            "zipapp_rps_median": median([r["rps"] for r in zipapp]),
            "binary": binary, "zipapp": zipapp}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="swarmfaas/watchdog:latest")
    parser.add_argument("--tmpfs", default="/dev/shm", help="where the TMPDIRs go")
    parser.add_argument("--files", nargs=2, metavar=("ZIPAPP", "BINARY"),
                        help="use these two files instead of the image's")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    # TMPDIRs on a tmpfs, as the functions' /tmp is: on this host's disk each
    # file the cold start unpacks cost 0.5 ms of openat under load.
    with tempfile.TemporaryDirectory(prefix="wd-binary-", dir=args.tmpfs) as tmp:
        work = Path(tmp)
        if args.files:
            shutil.copy(args.files[0], work / "fwatchdog.pyz")
            shutil.copy(args.files[1], work / "fwatchdog")
            commands = {"zipapp": [ZIPAPP_PYTHON, str(work / "fwatchdog.pyz")],
                        "binary": [str(work / "fwatchdog")]}
        else:
            commands = extract(args.image, work)
        sizes = {"zipapp_bytes": (work / "fwatchdog.pyz").stat().st_size,
                 "binary_bytes": (work / "fwatchdog").stat().st_size}
        up = startups(commands, work, args.rounds)
        unpacked = sum(f.stat().st_size for f in (work / "warm").rglob("*") if f.is_file()
                       and f.name != ".lock")
        tp = throughput(commands, work, args.rounds, args.seconds, args.connections)
    doc = {"image": None if args.files else args.image, "files": args.files,
           "cpu": cpu_model(), "zipapp_python": ZIPAPP_PYTHON,
           "load_average": os.getloadavg(), **sizes, "binary_unpacked_bytes": unpacked,
           **up, "throughput": tp, "rounds": args.rounds, "seconds": args.seconds,
           "connections": args.connections}
    print()
    for k, v in up["startup_ms"].items():
        print(f"start-up {k}: median {v['median']:.0f} ms "
              f"({', '.join(f'{x:.0f}' for x in v['runs'])})")
    for k, v in up["startup_cpu_ms"].items():
        print(f"start-up CPU {k}: median {v['median']:.0f} ms "
              f"({', '.join(f'{x:.0f}' for x in v['runs'])})")
    for k, v in up["healthcheck_ms"].items():
        print(f"health check {k}: median {v['median']:.1f} ms")
    for k, v in up["idle_pss_kib"].items():
        print(f"idle PSS {k}: median {v['median'] / 1024:.1f} MiB")
    print(f"sizes: zipapp {sizes['zipapp_bytes']} B, binary {sizes['binary_bytes']} B, "
          f"unpacked {unpacked} B")
    print(f"fork-mode throughput, binary/zipapp: median {tp['ratio_median']:.2f}x (per round "
          f"{', '.join(f'{x:.2f}' for x in tp['ratio_per_round'])}); binary "
          f"{tp['binary_rps_median']:.0f} req/s, zipapp {tp['zipapp_rps_median']:.0f} req/s")
    startup = ", ".join(f"{k} {v['median']:.0f} ms" for k, v in up["startup_ms"].items())
    pss = ", ".join(f"{k} {v['median'] / 1024:.1f} MiB" for k, v in up["idle_pss_kib"].items())
    write_result(
        "watchdog_binary",
        subject="the self-contained /fwatchdog binary: fork-mode throughput (fprocess=cat,"
                f" {args.connections} connections), start-up, health check, idle PSS",
        baseline="the zipapp watchdog from the same image, alternating",
        metric="fork-mode req/s, median of per-round ratios",
        ratio=tp["ratio_median"], round_ratios=tp["ratio_per_round"],
        summary=f"{tp['binary_rps_median']:,.0f} vs {tp['zipapp_rps_median']:,.0f} req/s;"
                f" start-up {startup}; idle PSS {pss}",
        figures=doc)


if __name__ == "__main__":
    main()
