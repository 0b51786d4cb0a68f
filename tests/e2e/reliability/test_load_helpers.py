"""The pure parts of the load tests (clients.py): judging an answer, the
recovery time after a fault, percentiles, wrk's error summary."""

from __future__ import annotations

import pytest

from .clients import Call, answer_problem, percentile, recovered_at, wrk_socket_errors


@pytest.mark.parametrize(("status", "headers", "body", "identity", "problem"), [
    (200, {}, b"x", None, None),
    (200, {"x-function-identity": "echo-http"}, b"x", "echo-http", None),
    (200, {"x-function-identity": "echo-http"}, b"x", None, "wrong function"),
    (200, {}, b"x", "echo-http", "wrong function"),
    (502, {}, b'{"error": "x"}', None, "502"),
    # nginx's 502 on the way to echo-http carries no identity: a failure, not a misroute
    (502, {"x-swarmfaas-internal": "nginx"}, b'{"error": "x"}', "echo-http", "502"),
    (200, {"x-swarmfaas-internal": "sidecar"}, b"x", None, "200"),
    (200, {}, b"y", None, "another body"),
])
def test_an_answer_is_right_only_from_the_function_asked_with_the_body_sent(
        status, headers, body, identity, problem):
    got = answer_problem(status, headers, body, b"x", identity)
    assert (got is None) if problem is None else (problem in got)


def calls(*spec: tuple[float, bool]) -> list[Call]:
    return [Call(start, start + 0.01, ok) for start, ok in spec]


@pytest.mark.parametrize(("timeline", "since", "want"), [
    (calls((1, True), (2, True)), 0, 1),
    (calls((1, True), (2, False), (3, False), (4, True), (5, True)), 0, 4),
    (calls((1, False), (2, True), (3, False)), 0, None),
    (calls((0.5, False), (2, True)), 1, 2),   # before `since` is not counted
    (calls((3, True), (1, False), (2, True)), 0, 2),  # by start, not by list order
    ([], 0, None),
])
def test_recovery_is_the_start_of_the_last_unbroken_run_of_good_calls(timeline, since, want):
    assert recovered_at(timeline, since) == want


def test_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert 99 <= percentile(values, 99) <= 100
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize(("summary", "want"), [
    ("connect 0, read 0, write 0, timeout 0", 0),
    ("connect 1, read 12, write 0, timeout 3", 16),
    ("", 0),
])
def test_wrk_socket_errors_are_summed(summary, want):
    assert wrk_socket_errors(summary) == want
