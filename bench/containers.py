"""CPU time of a Docker container, from its cgroup (v1 cpuacct or v2 cpu.stat)."""

from __future__ import annotations

from pathlib import Path


def container_cpu_ns(container_id: str) -> int:
    """Nanoseconds of CPU the container's processes have used so far (full ID)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text())
    v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat")
    if v2.exists():
        return int(v2.read_text().split()[1]) * 1000  # usage_usec
    raise RuntimeError(f"no CPU accounting found for container {container_id[:12]}")
