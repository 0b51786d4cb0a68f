"""Prometheus text exposition with the standard library (no client library needed)."""

from __future__ import annotations

import bisect
from collections import Counter

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: Counter[int] = Counter()
        self.bucket_counts = [0] * (len(BUCKETS) + 1)
        self.duration_sum = 0.0
        self.inflight = 0
        self.process_starts = 0
        self.process_kills: Counter[str] = Counter()  # by reason
        self.orphans_reaped = 0
        self.upstream_restarts = 0

    def observe(self, status: int, seconds: float) -> None:
        self.requests[status] += 1
        self.bucket_counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.duration_sum += seconds

    def render(self, worker: int = 0) -> str:
        label = f'worker="{worker}"'
        out = [
            "# HELP fwatchdog_requests_total Requests answered, by HTTP status.",
            "# TYPE fwatchdog_requests_total counter",
        ]
        out += [f'fwatchdog_requests_total{{{label},status="{s}"}} {n}'
                for s, n in sorted(self.requests.items())]
        out += [
            "# HELP fwatchdog_request_duration_seconds Time from request to response.",
            "# TYPE fwatchdog_request_duration_seconds histogram",
        ]
        total = 0
        for bound, count in zip((*BUCKETS, float("inf")), self.bucket_counts, strict=True):
            total += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(f'fwatchdog_request_duration_seconds_bucket{{{label},le="{le}"}} {total}')
        out.append(f"fwatchdog_request_duration_seconds_sum{{{label}}} {self.duration_sum:.6f}")
        out.append(f"fwatchdog_request_duration_seconds_count{{{label}}} {total}")
        out += [
            "# HELP fwatchdog_inflight_requests Requests being run now.",
            "# TYPE fwatchdog_inflight_requests gauge",
            f"fwatchdog_inflight_requests{{{label}}} {self.inflight}",
            "# HELP fwatchdog_process_starts_total Function processes started.",
            "# TYPE fwatchdog_process_starts_total counter",
            f"fwatchdog_process_starts_total{{{label}}} {self.process_starts}",
            "# HELP fwatchdog_process_kills_total Function process groups killed, by reason.",
            "# TYPE fwatchdog_process_kills_total counter",
        ]
        out += [f'fwatchdog_process_kills_total{{{label},reason="{r}"}} {n}'
                for r, n in sorted(self.process_kills.items())]
        out += [
            "# HELP fwatchdog_orphans_reaped_total Orphaned descendants reaped.",
            "# TYPE fwatchdog_orphans_reaped_total counter",
            f"fwatchdog_orphans_reaped_total{{{label}}} {self.orphans_reaped}",
            "# HELP fwatchdog_upstream_restarts_total Restarts of the http-mode upstream.",
            "# TYPE fwatchdog_upstream_restarts_total counter",
            f"fwatchdog_upstream_restarts_total{{{label}}} {self.upstream_restarts}",
        ]
        return "\n".join(out) + "\n"
