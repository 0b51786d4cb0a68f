"""Helpers for the watchdog tests: real fwatchdog processes on free 127.0.0.1 ports."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# The watchdog these tests run: the package under this Python, or, to run the
# same tests against the self-contained binary, its path in FWATCHDOG_BINARY.
WATCHDOG_BINARY = os.environ.get("FWATCHDOG_BINARY", "")


def watchdog_argv(*args: str) -> list[str]:
    base = [WATCHDOG_BINARY] if WATCHDOG_BINARY else [sys.executable, "-m", "fwatchdog"]
    return [*base, *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def watchdog_env(tmp: Path, **env: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "watchdog"),
            "TMPDIR": str(tmp), "fwatchdog_host": "127.0.0.1", **env}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        import json
        return json.loads(self.body)


@dataclass
class Watchdog:
    proc: subprocess.Popen
    port: int
    tmp: Path

    def request(self, method: str = "POST", path: str = "/", body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 15) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def metrics(self) -> str:
        return self.request("GET", "/_/metrics").body.decode()

    def metric(self, name: str) -> float:
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def port_answers(port: int, path: str = "/_/health", want: int | None = 200) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return want is None or status == want
    except OSError:
        return False


def proc_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, pgid, state) for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(rest[1]), int(rest[2]), rest[0])
    return table


def descendants(pid: int) -> dict[int, tuple[int, int, str]]:
    table = proc_table()
    found: dict[int, tuple[int, int, str]] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, info in table.items():
            if info[0] == parent and child not in found:
                found[child] = info
                frontier.append(child)
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def workers(pid: int) -> list[int]:
    """The pool's worker processes: children forked from `pid` (same command line)."""
    own = cmdline(pid)
    return sorted(p for p, (ppid, _, state) in proc_table().items()
                  if ppid == pid and state != "Z" and cmdline(p) == own)


def function_processes(pid: int) -> dict[int, tuple[int, int, str]]:
    """Descendants of watchdog `pid` other than its workers: function processes, zombies."""
    pool = set(workers(pid))
    return {p: info for p, info in descendants(pid).items() if p not in pool}
