"""The container's CPU time, for the scaler's ``cpu`` type (docs/scaling.md).

Every response of the watchdog carries ``X-Swarmfaas-Cpu: <usage_us> <at_us>``:
the CPU time its container's cgroup has used (microseconds), read at ``at_us``
on the watchdog's monotonic clock. The sidecar turns two of them from one
replica into cores used over the span between them, with the watchdog's own
clock, so neither network delay nor the sidecar's clock enters the rate.

The count is read from cgroup v2's ``cpu.stat`` (``usage_usec``), or cgroup
v1's ``cpuacct.usage`` (nanoseconds) where the node runs v1, as Engine 20.10
on this machine does. Inside a container both show the container's own cgroup.
The file is read at most every READ_EVERY seconds, so a response costs a
clock read and a string, not a file read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

HEADER = "X-Swarmfaas-Cpu"
V2_STAT = Path("/sys/fs/cgroup/cpu.stat")
V1_USAGE = (Path("/sys/fs/cgroup/cpuacct/cpuacct.usage"),
            Path("/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage"))
READ_EVERY = 0.05  # seconds


def parse_cpu_stat(text: str) -> int | None:
    """``usage_usec`` from cgroup v2's cpu.stat; None if absent or malformed."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            value = value.strip()
            return int(value) if value.isascii() and value.isdigit() else None
    return None


def parse_cpuacct_usage(text: str) -> int | None:
    """cgroup v1's cpuacct.usage (nanoseconds) in microseconds; None if malformed."""
    value = text.strip()
    return int(value) // 1000 if value.isascii() and value.isdigit() else None


def find_source(v2: Path = V2_STAT, v1: tuple[Path, ...] = V1_USAGE
                ) -> tuple[Path, Callable[[str], int | None]] | None:
    """The cgroup file there is, with its parser; None outside a cgroup we can read."""
    candidates = [(v2, parse_cpu_stat)] + [(p, parse_cpuacct_usage) for p in v1]
    for path, parse in candidates:
        try:
            if parse(path.read_text()) is not None:
                return path, parse
        except OSError:
            continue
    return None


class CgroupCpu:
    """The header's value, read from ``source`` at most every READ_EVERY s."""

    def __init__(self, source: tuple[Path, Callable[[str], int | None]] | None) -> None:
        self._source = source
        self._value = ""
        self._read_at = -1.0

    def header_value(self) -> str:
        """``<usage_us> <at_us>``; empty when there is no count to read."""
        if self._source is None:
            return ""
        now = time.monotonic()
        if now - self._read_at >= READ_EVERY:
            path, parse = self._source
            try:
                usage = parse(path.read_text())
            except OSError:
                usage = None
            self._read_at = now
            self._value = "" if usage is None else f"{usage} {int(now * 1_000_000)}"
        return self._value


_CPU: CgroupCpu | None = None


def cpu_header() -> str:
    """This process's reader (found on first use): the header's value or ''."""
    global _CPU
    if _CPU is None:
        _CPU = CgroupCpu(find_source())
    return _CPU.header_value()
