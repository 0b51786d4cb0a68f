"""Was a function process killed for going over the container's memory limit?

The kernel's OOM killer ends a process with SIGKILL, which alone says nothing:
the cgroup's `oom_kill` counter tells. Both cgroup versions have that line:
v2 in `memory.events`, v1 in `memory.oom_control` (kernel 4.13 and later).
Inside a container these files are the container's own cgroup.
"""

from __future__ import annotations

from collections.abc import Sequence

CGROUP_FILES = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")


def parse_oom_kills(text: str) -> int | None:
    """The `oom_kill N` line of either file, or None if there is none."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdecimal():
            return int(value)
    return None


class OomCounter:
    """Remembers the cgroup's OOM kill count; says when it has grown since."""

    def __init__(self, paths: Sequence[str] = CGROUP_FILES) -> None:
        self._paths = paths
        self._seen = self._read()

    def _read(self) -> int | None:
        for path in self._paths:
            try:
                with open(path) as f:
                    count = parse_oom_kills(f.read())
            except OSError:
                continue
            if count is not None:
                return count
        return None

    def killed_since(self) -> bool:
        """True if the kernel OOM-killed a process of this cgroup since the last look."""
        now = self._read()
        grew = now is not None and self._seen is not None and now > self._seen
        if now is not None:
            self._seen = now
        return grew
