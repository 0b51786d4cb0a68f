"""The cores each function's replicas use, from the watchdogs' X-Swarmfaas-Cpu
(cpumeter.py): the header's parsing and the meter, by tables."""

from __future__ import annotations

import pytest

from faas_sidecar.cpumeter import STALE, CpuMeter, parse_cpu_header


@pytest.mark.parametrize(("value", "reading"), [
    ("1500 2000000", (1500, 2000000)),
    (" 7 8 ", (7, 8)),
    ("1500", None),
    ("a b", None),
    ("-1 5", None),
    ("\u00b2 5", None),   # a digit to str.isdigit(), not to int()
    ("", None),
])
def test_parse_cpu_header(value, reading):
    assert parse_cpu_header(value) == reading


R1, R2, R3 = ("10.0.0.1", 8080), ("10.0.0.2", 8080), ("10.0.0.3", 8080)
S = 1_000_000  # microseconds in a second

# Each row: readings (function, replica, usage_us, at_us, received_at), the
# replicas with a call in flight, the time asked, and the figures per function.
CASES = {
    "one reading: known, no rate yet": (
        [("f", R1, 0, 0, 0.0)], {}, 0.5, {"f": 0.0}),
    "half a core over two seconds": (
        [("f", R1, 0, 0, 0.0), ("f", R1, S, 2 * S, 2.0)], {}, 2.0, {"f": 0.5}),
    "readings closer than SPAN wait for a whole span": (
        [("f", R1, 0, 0, 0.0), ("f", R1, S // 2, S // 2, 0.5)], {}, 0.5, {"f": 0.0}),
    "the span starts at its first reading, not the last": (
        [("f", R1, 0, 0, 0.0), ("f", R1, S // 4, S // 2, 0.5), ("f", R1, 3 * S, 3 * S, 3.0)],
        {}, 3.0, {"f": 1.0}),
    "replicas add up; functions apart": (
        [("f", R1, 0, 0, 0.0), ("f", R1, S, S, 1.0), ("f", R2, 0, 0, 0.0),
         ("f", R2, 2 * S, S, 1.0), ("g", R3, 0, 0, 0.0), ("g", R3, S // 10, S, 1.0)],
        {}, 1.0, {"f": 3.0, "g": 0.1}),
    "no answer for STALE seconds and nothing in flight: idle": (
        [("f", R1, 0, 0, 0.0), ("f", R1, S, S, 1.0)], {}, 1.0 + STALE + 1, {"f": 0.0}),
    "a long call in flight keeps the last rate": (
        [("f", R1, 0, 0, 0.0), ("f", R1, S, S, 1.0)], {R1: 1}, 1.0 + STALE + 1, {"f": 1.0}),
    "a counter that went down is a new container: starts over": (
        [("f", R1, 0, 0, 0.0), ("f", R1, S, S, 1.0), ("f", R1, 10, S + 10, 1.5)],
        {}, 1.5, {"f": 0.0}),
    "another function's replica at the same address starts over": (
        [("f", R1, 0, 0, 0.0), ("f", R1, S, S, 1.0), ("g", R1, 5 * S, 2 * S, 2.0)],
        {}, 2.0, {"g": 0.0}),
}


@pytest.mark.parametrize(("readings", "in_flight", "now", "cores"), CASES.values(),
                         ids=CASES.keys())
def test_cores(readings, in_flight, now, cores):
    meter = CpuMeter()
    for function, key, usage, at, received in readings:
        meter.observe(function, key, usage, at, received)
    assert meter.cores(now, in_flight) == pytest.approx(cores)


def test_replicas_that_left_the_table_are_forgotten():
    meter = CpuMeter()
    for key in (R1, R2):
        meter.observe("f", key, 0, 0, 0.0)
        meter.observe("f", key, S, S, 1.0)
    meter.retain([R2])
    assert meter.cores(1.0, {}) == {"f": 1.0}
    meter.retain([])
    assert meter.cores(1.0, {}) == {}
