"""Counters in shared memory, rendered as Prometheus text (no client library needed).

Every worker process owns one slot of an anonymous shared mapping made before
the workers are forked: it is the only writer of its slot (aligned 8-byte stores,
no lock), and any worker sums all slots to answer /_/metrics, so a scrape of any
worker gives the totals of the whole pool. The supervisor owns one more slot
(orphans it reaped) and zeroes a dead worker's in-flight gauge; the restarted
worker keeps counting in the same slot, so counters never go backwards.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import mmap
import os

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
KILL_REASONS = ("timeout", "client_gone", "shutdown", "response_too_large", "write_timeout",
                "failed_midstream", "cancelled", "other")

# Slot layout, in 8-byte cells.
_STATUS_BASE, _STATUS_SPAN = 0, 500  # requests by status 100..599
_BUCKETS_AT = _STATUS_BASE + _STATUS_SPAN
_INFLIGHT = _BUCKETS_AT + len(BUCKETS) + 1
_STARTS = _INFLIGHT + 1
_ORPHANS = _STARTS + 1
_RESTARTS = _ORPHANS + 1
_STATE = _RESTARTS + 1
_PID = _STATE + 1
_KILLS_AT = _PID + 1
_SUM = _KILLS_AT + len(KILL_REASONS)  # a double: duration sum
SLOT_CELLS = 544  # >= _SUM + 1, rounded up to whole cache lines

STATE_STARTING, STATE_READY, STATE_STOPPING = 0, 1, 2


class SharedArea:
    """Slots of counters shared by forked processes, plus a lock for admission."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._map = mmap.mmap(-1, slots * SLOT_CELLS * 8)  # MAP_SHARED | MAP_ANONYMOUS
        self.cells = memoryview(self._map).cast("q")
        self.doubles = memoryview(self._map).cast("d")
        # POSIX record locks belong to a process: an fd inherited over fork still
        # excludes the other workers (a flock would be shared by the copies).
        self._lock_fd = os.memfd_create("fwatchdog-admission", os.MFD_CLOEXEC)
        os.ftruncate(self._lock_fd, 1)

    def slot(self, index: int) -> Slot:
        return Slot(self, index)

    @contextlib.contextmanager
    def locked(self):
        fcntl.lockf(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(self._lock_fd, fcntl.LOCK_UN)

    def total(self, cell: int) -> int:
        cells, step = self.cells, SLOT_CELLS
        return sum(cells[i * step + cell] for i in range(self.slots))

    def inflight(self) -> int:
        return self.total(_INFLIGHT)

    def state(self, index: int) -> int:
        return self.cells[index * SLOT_CELLS + _STATE]

    def worker_gone(self, index: int) -> None:
        """The worker of `index` died: its requests are gone with it."""
        base = index * SLOT_CELLS
        self.cells[base + _INFLIGHT] = 0
        self.cells[base + _STATE] = STATE_STARTING
        self.cells[base + _PID] = 0

    def render(self) -> str:
        return render(self)

    def pool_ready(self) -> bool:
        """Alone: always; in a pool: once the supervisor (last slot) saw every worker ready."""
        return self.slots == 1 or self.state(self.slots - 1) == STATE_READY


class Slot:
    """One process's counters. Same interface whatever the number of workers."""

    __slots__ = ("_cells", "_sum_at", "area", "base")

    def __init__(self, area: SharedArea, index: int) -> None:
        self.area = area
        self.base = index * SLOT_CELLS
        self._cells = area.cells
        self._sum_at = self.base + _SUM

    def observe(self, status: int, seconds: float) -> None:
        cells, base = self._cells, self.base
        if 100 <= status < 600:
            cells[base + status - 100] += 1
        else:
            cells[base + 500 - 1] += 1  # impossible statuses land on 599
        cells[base + _BUCKETS_AT + bisect.bisect_left(BUCKETS, seconds)] += 1
        self.area.doubles[self._sum_at] += seconds

    def process_started(self) -> None:
        self._cells[self.base + _STARTS] += 1

    def process_killed(self, reason: str) -> None:
        at = KILL_REASONS.index(reason) if reason in KILL_REASONS else len(KILL_REASONS) - 1
        self._cells[self.base + _KILLS_AT + at] += 1

    def orphan_reaped(self) -> None:
        self._cells[self.base + _ORPHANS] += 1

    def upstream_restarted(self) -> None:
        self._cells[self.base + _RESTARTS] += 1

    def set_inflight(self, n: int) -> None:
        self._cells[self.base + _INFLIGHT] = n

    def set_state(self, state: int) -> None:
        self._cells[self.base + _STATE] = state
        self._cells[self.base + _PID] = os.getpid()

    def render(self) -> str:
        return render(self.area)


def render(area: SharedArea) -> str:
    """Totals over every slot, in the Prometheus text format."""
    total = area.total
    out = [
        "# HELP fwatchdog_requests_total Requests answered, by HTTP status.",
        "# TYPE fwatchdog_requests_total counter",
    ]
    for i in range(_STATUS_SPAN):
        n = total(_STATUS_BASE + i)
        if n:
            out.append(f'fwatchdog_requests_total{{status="{100 + i}"}} {n}')
    out += [
        "# HELP fwatchdog_request_duration_seconds Time from request to response.",
        "# TYPE fwatchdog_request_duration_seconds histogram",
    ]
    running = 0
    for j, bound in enumerate((*BUCKETS, float("inf"))):
        running += total(_BUCKETS_AT + j)
        le = "+Inf" if bound == float("inf") else f"{bound:g}"
        out.append(f'fwatchdog_request_duration_seconds_bucket{{le="{le}"}} {running}')
    seconds = sum(area.doubles[i * SLOT_CELLS + _SUM] for i in range(area.slots))
    out += [
        f"fwatchdog_request_duration_seconds_sum {seconds:.6f}",
        f"fwatchdog_request_duration_seconds_count {running}",
        "# HELP fwatchdog_inflight_requests Requests being run now.",
        "# TYPE fwatchdog_inflight_requests gauge",
        f"fwatchdog_inflight_requests {total(_INFLIGHT)}",
        "# HELP fwatchdog_workers_ready Worker processes ready to take requests.",
        "# TYPE fwatchdog_workers_ready gauge",
        f"fwatchdog_workers_ready {_workers_ready(area)}",
        "# HELP fwatchdog_process_starts_total Function processes started.",
        "# TYPE fwatchdog_process_starts_total counter",
        f"fwatchdog_process_starts_total {total(_STARTS)}",
        "# HELP fwatchdog_process_kills_total Function process groups killed, by reason.",
        "# TYPE fwatchdog_process_kills_total counter",
    ]
    for j, reason in enumerate(KILL_REASONS):
        n = total(_KILLS_AT + j)
        if n:
            out.append(f'fwatchdog_process_kills_total{{reason="{reason}"}} {n}')
    out += [
        "# HELP fwatchdog_orphans_reaped_total Orphaned descendants reaped.",
        "# TYPE fwatchdog_orphans_reaped_total counter",
        f"fwatchdog_orphans_reaped_total {total(_ORPHANS)}",
        "# HELP fwatchdog_upstream_restarts_total Restarts of the http-mode upstream.",
        "# TYPE fwatchdog_upstream_restarts_total counter",
        f"fwatchdog_upstream_restarts_total {total(_RESTARTS)}",
    ]
    return "\n".join(out) + "\n"


def _workers_ready(area: SharedArea) -> int:
    workers = area.slots - 1 if area.slots > 1 else 1
    return sum(area.state(i) == STATE_READY for i in range(workers))


def single() -> Slot:
    """Counters of a watchdog that runs as one process."""
    return SharedArea(1).slot(0)
