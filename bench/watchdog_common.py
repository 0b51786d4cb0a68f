"""Shared helpers for the watchdog benchmarks: start a watchdog, run wrk, read RSS."""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = os.environ.get("BENCH_PYTHON", sys.executable)


def start_watchdog(port: int, command: list[str] | None = None, **env: str) -> subprocess.Popen:
    """The watchdog from this tree under PYTHON, or `command` (a zipapp, the binary)."""
    full = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "watchdog"),
            "port": str(port), "fwatchdog_host": "127.0.0.1",
            "TMPDIR": f"/tmp/wd-bench-{port}", **env}
    os.makedirs(full["TMPDIR"], exist_ok=True)
    proc = subprocess.Popen(command or [PYTHON, "-m", "fwatchdog"], env=full,
                            stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/_/health", proc)
    return proc


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pool_pids(pid: int) -> list[int]:
    """pid and its worker processes (children with the same command line)."""
    own = _cmdline(pid)
    return [pid, *(c for c in children(pid) if _cmdline(c) == own)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _field_kib(path: str, name: str) -> int:
    try:
        text = Path(path).read_text()
    except OSError:
        return 0
    match = re.search(rf"^{name}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else 0


def rss_kib(pid: int) -> int:
    """RSS of the watchdog and its workers, summed (pages shared after fork count twice)."""
    return sum(_field_kib(f"/proc/{p}/status", "VmRSS") for p in pool_pids(pid))


def pss_kib(pid: int) -> int:
    """PSS of the watchdog and its workers: shared pages split between them (no double count)."""
    return sum(_field_kib(f"/proc/{p}/smaps_rollup", "Pss") for p in pool_pids(pid))


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, connections: int, seconds: int, threads: int = 2,
        script: str | None = None) -> dict:
    """Run wrk; return req/s, p50/p99 latency in ms, errors."""
    cmd = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s",
           "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        lat[pct] = float(m.group(1)) * _UNITS[m.group(2)] if m else None
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock_err = re.search(r"Socket errors:(.*)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"],
            "requests": int(total.group(1)) if total else None,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sock_err.group(1).strip() if sock_err else "", "cmd": " ".join(cmd)}


def free_port_in(lo: int, hi: int) -> int:
    for port in range(lo, hi):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def median(values: list[float]) -> float:
    return statistics.median(values)


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    m = re.search(r"Model name:\s+(.*)", out)
    return f"{m.group(1).strip() if m else '?'}, {os.cpu_count()} CPUs"
