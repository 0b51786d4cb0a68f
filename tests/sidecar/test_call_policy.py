"""The call policy's rules (proxy.py), by table: pure, no network."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from faas_sidecar.errors import PlatformError, function_timeout
from faas_sidecar.model import FunctionSpec, Replica
from faas_sidecar.proxy import (
    TIMEOUT_MARGIN,
    ReplicaDraining,
    Reply,
    exchange_timeout,
    gave_up,
    may_retry,
    outcome_code,
    replica_draining,
    unreachable,
    unsent,
)
from faas_sidecar.upstream import ConnectError, UpstreamError


@pytest.mark.parametrize(("error", "body_held", "retried"), [
    (ConnectError("refused"), False, True),  # never sent: always
    (ConnectError("refused"), True, True),
    (UpstreamError("closed", sent=True, stale=True), True, True),  # a stale pooled connection
    (UpstreamError("closed", sent=True, stale=True), False, False),  # its stream is spent
    (UpstreamError("closed", sent=True), True, False),  # it reached the replica
    (UpstreamError("garbage", sent=True), False, False),
    # a draining watchdog read it but never ran it: as a stale connection's
    (ReplicaDraining("draining"), True, True),
    (ReplicaDraining("draining"), False, False),  # its stream is spent
])
def test_only_what_never_reached_a_replica_is_retried(error, body_held, retried):
    assert may_retry(error, body_held) is retried


_MARK = ("X-Swarmfaas-Draining", "1")
_WATCHDOG = ("X-Swarmfaas-Internal", "watchdog")


@pytest.mark.parametrize(("status", "headers", "draining"), [
    (503, [("Content-Type", "application/json"), _WATCHDOG, _MARK], True),
    (503, [("x-swarmfaas-draining", "1")], True),  # field names are case-insensitive
    # a function's own 503, even one saying it is platform-made: the client's
    (503, [("Content-Type", "text/plain")], False),
    (503, [_WATCHDOG, ("Retry-After", "1")], False),  # not_ready, cannot_start
    (503, [], False),
    # the mark counts only on a 503 (the watchdog cuts it from functions' answers)
    (200, [_MARK], False),
    (502, [_WATCHDOG, _MARK], False),
])
def test_a_draining_answer_is_told_by_its_mark(status, headers, draining):
    assert replica_draining(status, headers) is draining


@pytest.mark.parametrize(("error", "kind"), [
    (ReplicaDraining("d"), ReplicaDraining),
    (UpstreamError("closed", sent=True, stale=True), UpstreamError),
])
def test_a_retried_failure_counts_as_never_sent_and_keeps_its_kind(error, kind):
    last = unsent(error)
    assert type(last) is kind and not last.sent and str(last) == str(error)


@pytest.mark.parametrize(("outcome", "code"), [
    (Reply(201, [], b"", None, lambda ok: None), "201"),
    (PlatformError(503, "no_ready_replica", "r"), "503"),
    (asyncio.CancelledError(), "499"),
    (RuntimeError("bug"), "500"),
])
def test_outcome_codes(outcome, code):
    assert outcome_code(outcome) == code


def test_timeout_and_its_errors():
    spec = FunctionSpec(name="f", service_id="f", service_name="f", image="i", timeout=2.5,
                        desired_replicas=1, replicas=())
    assert exchange_timeout(spec) == 2.5 + TIMEOUT_MARGIN
    late = function_timeout("f", 3.5)
    assert (late.status, late.code, late.reason) == (
        504, "function_timeout", "function 'f' did not answer within 3.5 s")
    gone = unreachable("f", None)
    assert (gone.status, gone.code) == (502, "replica_unreachable")
    assert "no replica left" in gone.reason
    assert unreachable("f", ConnectError("cannot connect")).reason == \
        "function 'f': cannot connect"


_SPEC = FunctionSpec(name="f", service_id="f", service_name="f", image="i", desired_replicas=1)
_READY = Replica("t1", "10.0.0.5", 8080, "n1")


@pytest.mark.parametrize(("last", "now", "status", "fragment"), [
    # every connect went to a task that has gone, and none is ready now: 503
    # with Docker's error (a function whose process exits at once)
    (ConnectError("connecting timed out"), replace(_SPEC, task_error="task failed: exit 1"),
     503, "Docker reports task failed: exit 1"),
    (ConnectError("refused"), _SPEC, 503, "has no ready replica"),
    # a replica is still listed: the 502 of the last try
    (ConnectError("refused"), replace(_SPEC, replicas=(_READY,)), 502, "refused"),
    # it reached a replica: the 502, whatever the table says now
    (UpstreamError("closed", sent=True), _SPEC, 502, "closed"),
    (None, _SPEC, 502, "no replica left"),
    (ConnectError("refused"), None, 502, "refused"),  # the function is gone from the table
    # the last try met a draining replica (the function never ran): 503, as
    # with no replica ready, whether the call could wait for another or not
    (ReplicaDraining("d", sent=False), replace(_SPEC, replicas=(_READY,)), 503,
     "has no ready replica"),
    (ReplicaDraining("d"), replace(_SPEC, replicas=(_READY,)), 503, "has no ready replica"),
    (ReplicaDraining("d"), None, 503, "has no ready replica"),
])
def test_the_error_once_the_tries_are_spent(last, now, status, fragment):
    error = gave_up("f", last, now)
    assert error.status == status
    assert fragment in error.reason
