"""The circuit breaker's rules (breaker.py), as tables of events and what follows."""

from __future__ import annotations

import pytest

from faas_sidecar.breaker import (
    OPEN_AFTER,
    PROBE_FIRST,
    PROBE_MAX,
    SILENT_AFTER,
    Breakers,
    excluded,
)

A, B, C = ("10.0.0.1", 8080), ("10.0.0.2", 8080), ("10.0.0.3", 8080)


def run(events: list[tuple]) -> tuple[Breakers, list[object]]:
    """Apply ``events`` in order; the results of each (what the call returned)."""
    b = Breakers()
    results: list[object] = []
    for event, *args in events:
        results.append(getattr(b, event)(*args))
    return b, results


@pytest.mark.parametrize(("events", "out"), [
    ([], set()),
    ([("failed", A, "t1", 0.0)], set()),  # one failure is not enough
    ([("failed", A, "t1", 0.0)] * OPEN_AFTER, {A}),
    # a success between failures: not in a row
    ([("failed", A, "t1", 0.0), ("succeeded", A), ("failed", A, "t1", 1.0)], set()),
    # another task at the address since the first failure: counting starts again
    ([("failed", A, "t1", 0.0), ("failed", A, "t2", 1.0)], set()),
    # each replica counts its own
    ([("failed", A, "t1", 0.0), ("failed", B, "t2", 0.0)], set()),
    ([("failed", A, "t1", 0.0), ("failed", B, "t2", 0.0), ("failed", A, "t1", 0.1)], {A}),
    # an answer from a replica out takes it back
    ([("failed", A, "t1", 0.0), ("failed", A, "t1", 0.0), ("succeeded", A)], set()),
    # one draining answer takes it out; no answer (a call in flight there
    # ending) nor a probe brings it back
    ([("draining", A, "t1")], {A}),
    ([("draining", A, "t1"), ("succeeded", A)], {A}),
    ([("draining", A, "t1"), ("probed", A, True, 1.0)], {A}),
    ([("failed", A, "t1", 0.0)] * OPEN_AFTER + [("draining", A, "t1"), ("succeeded", A)], {A}),
])
def test_which_replicas_are_out(events, out):
    b, _ = run(events)
    assert b.out == out


def test_failed_says_when_it_opens_once():
    _, results = run([("failed", A, "t", 0.0)] * (OPEN_AFTER + 2))
    assert results == [False] * (OPEN_AFTER - 1) + [True, False, False]


@pytest.mark.parametrize(("probes", "back", "next_wait"), [
    ([True], True, None),
    ([False], False, 2 * PROBE_FIRST),
    ([False, False], False, 4 * PROBE_FIRST),
    ([False] * 10, False, PROBE_MAX),  # doubling, up to the bound
    ([False, False, True], True, None),
])
def test_probes_back_off_until_one_connects(probes, back, next_wait):
    b = Breakers()
    now = 0.0
    for _ in range(OPEN_AFTER):
        b.failed(A, "t", now)
    assert b.next_probe() == PROBE_FIRST
    result = None
    for ok in probes:
        now = b.next_probe()
        assert b.due(now - 0.01) == []  # not before its time
        assert b.due(now) == [A]
        assert b.due(now) == [] and b.next_probe() is None  # one probe at a time
        result = b.probed(A, ok, now)
    assert result is back
    assert (A not in b.out) is back
    if next_wait is not None:
        assert b.next_probe() == pytest.approx(now + next_wait)


@pytest.mark.parametrize(("tasks", "out"), [
    ({A: "t1", B: "t2"}, {A, B}),   # the same tasks: Docker has said nothing new
    ({B: "t2"}, {B}),               # A left the table (its node seen down): forgotten
    ({A: "t9", B: "t2"}, {B}),      # a new task at A's address: running again
    ({}, set()),
])
def test_a_new_routing_table_forgets_what_docker_reports_again(tasks, out):
    b = Breakers()
    for key, task in ((A, "t1"), (B, "t2")):
        for _ in range(OPEN_AFTER):
            b.failed(key, task, 0.0)
    b.retain(tasks)
    assert b.out == out and set(b.records) == out


def test_a_draining_replica_is_never_probed_and_goes_with_its_task():
    b = Breakers()
    assert run([("draining", A, "t1")] * 2)[1] == [True, False]  # takes it out once
    assert b.draining(A, "t1") is True
    for _ in range(OPEN_AFTER):  # connects fail too: out already, still not probed
        b.failed(A, "t1", 0.0)
    assert b.next_probe() is None and b.due(100.0) == [] and not b.probes_left()
    for _ in range(OPEN_AFTER):
        b.failed(B, "t2", 0.0)
    assert b.probes_left() and b.due(PROBE_FIRST) == [B]
    b.retain({A: "t1", B: "t2"})  # the table has not dropped it yet
    assert A in b.out
    b.retain({A: "t9", B: "t2"})  # another task at its address now
    assert b.out == {B}


def test_a_probe_of_a_forgotten_replica_changes_nothing():
    b = Breakers()
    for _ in range(OPEN_AFTER):
        b.failed(A, "t", 0.0)
    assert b.due(PROBE_FIRST) == [A]
    b.retain({})
    assert b.probed(A, False, 1.0) is False and A not in b.records


@pytest.mark.parametrize(("keys", "out", "left_out"), [
    ([A, B, C], set(), set()),
    ([A, B, C], {A}, {A}),
    ([A, B, C], {A, C}, {A, C}),
    ([A, B], {A, B}, set()),        # all out: the breaker steers nothing
    ([A, B], {A, B, C}, set()),
    ([B], {A}, set()),              # others' replicas out: not this function's
    ([A, A, B], {A}, {A}),
])
def test_excluded_never_leaves_a_function_without_replicas(keys, out, left_out):
    assert excluded(keys, out) == left_out


@pytest.mark.parametrize(("tried", "left_out"), [
    ((), {A}),
    ({B}, {A}),          # C is still untried and in rotation
    ({B, C}, set()),     # only A is left: out, but the call's last resort
    ({A, B, C}, set()),
])
def test_a_replica_out_is_a_calls_last_resort(tried, left_out):
    assert excluded([A, B, C], {A}, tried) == left_out


def test_unreachable_takes_a_replica_out_at_once():
    b = Breakers()
    assert b.unreachable(A, "t", 0.0) is True and b.out == {A}
    assert b.unreachable(A, "t", 0.1) is False  # out already


@pytest.mark.parametrize(("events", "answers"), [
    ([(A, 0.0)], [True]),
    ([(A, 0.0), (A, 0.5)], [True, False]),               # within SILENT_AFTER of the last
    ([(A, 0.0), (A, SILENT_AFTER)], [True, True]),
    ([(A, 0.0), (B, 0.1)], [True, True]),                 # each replica its own
])
def test_silences_are_probed_at_most_once_a_second(events, answers):
    b = Breakers()
    assert [b.probe_silence(key, now) for key, now in events] == answers


def test_a_replica_out_is_not_probed_for_silence():
    b = Breakers()
    b.unreachable(A, "t", 0.0)
    assert b.probe_silence(A, 5.0) is False


def test_a_breaker_turned_off_never_opens():
    b = Breakers(enabled=False)
    assert not any(b.failed(A, "t", 0.0) for _ in range(10))
    assert b.unreachable(A, "t", 0.0) is False
    assert b.out == set() and b.records == {}
