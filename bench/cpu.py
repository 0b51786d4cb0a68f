"""CPU time as the benchmarks read it: a Docker container's (its cgroup, v1
cpuacct or v2 cpu.stat) and the whole machine's (/proc/stat)."""

from __future__ import annotations

from pathlib import Path

TICK = 100  # USER_HZ: /proc/stat's unit


def container_cpu_ns(container_id: str) -> int:
    """Nanoseconds of CPU the container's processes have used so far (full ID)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text())
    v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat")
    if v2.exists():
        return int(v2.read_text().split()[1]) * 1000  # usage_usec
    raise RuntimeError(f"no CPU accounting found for container {container_id[:12]}")


# /proc/stat's first eight CPU fields, in order
MACHINE_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine_times() -> dict[str, int]:
    """Ticks of all CPUs since boot, by /proc/stat's field."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    return dict(zip(MACHINE_FIELDS, map(int, fields), strict=True))


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs since boot; busy is all but idle and iowait."""
    times = machine_times()
    total = sum(times.values())
    return total - times["idle"] - times["iowait"], total
