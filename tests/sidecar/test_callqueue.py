"""The queue's pure decisions and its FIFO (callqueue.py), by tables."""

from __future__ import annotations

import asyncio

import pytest

from faas_sidecar.callqueue import (
    Decision,
    FunctionQueue,
    QueueBounds,
    decide,
    env_value,
    free_slots,
    parse_queue,
)
from faas_sidecar.labels import DEFAULT_QUEUE_LENGTH, DEFAULT_QUEUE_WAIT, LabelError


@pytest.mark.parametrize(("labels", "env", "want"), [
    ({}, None, None),                                          # no limit: never queues
    ({}, ["PATH=/bin"], None),
    ({}, ["max_inflight=0"], None),                            # 0 is the watchdog's "no limit"
    ({}, ["max_inflight="], None),
    ({}, ["max_inflight=4"], QueueBounds(4, DEFAULT_QUEUE_LENGTH, DEFAULT_QUEUE_WAIT)),
    ({}, ["max_inflight=4", "max_inflight=2"], QueueBounds(2)),  # the last wins, as in Docker
    ({}, ["MAX_INFLIGHT=4"], None),                            # the watchdog reads lower case
    ({"swarmfaas.queue.length": "0"}, ["max_inflight=1"], QueueBounds(1, 0)),
    ({"swarmfaas.queue.length": "7", "swarmfaas.queue.wait": "2.5"}, ["max_inflight=1"],
     QueueBounds(1, 7, 2.5)),
    ({"swarmfaas.queue.wait": "0"}, ["max_inflight=3"], QueueBounds(3, DEFAULT_QUEUE_LENGTH, 0.0)),
    # bounds without a limit are checked, then unused
    ({"swarmfaas.queue.length": "5"}, None, None),
])
def test_parse_queue(labels, env, want):
    assert parse_queue(labels, env) == want


@pytest.mark.parametrize(("labels", "env", "names"), [
    ({}, ["max_inflight=four"], "max_inflight"),
    ({}, ["max_inflight=-1"], "max_inflight"),
    ({}, ["max_inflight=\u00b2"], "max_inflight"),  # isdigit() but not int()
    ({"swarmfaas.queue.length": "\u00b2"}, ["max_inflight=1"], "swarmfaas.queue.length"),
    ({"swarmfaas.queue.length": "-1"}, ["max_inflight=1"], "swarmfaas.queue.length"),
    ({"swarmfaas.queue.length": "many"}, None, "swarmfaas.queue.length"),
    ({"swarmfaas.queue.length": "100001"}, ["max_inflight=1"], "swarmfaas.queue.length"),
    ({"swarmfaas.queue.wait": "-1"}, ["max_inflight=1"], "swarmfaas.queue.wait"),
    ({"swarmfaas.queue.wait": "nan"}, ["max_inflight=1"], "swarmfaas.queue.wait"),
    ({"swarmfaas.queue.wait": "3601"}, ["max_inflight=1"], "swarmfaas.queue.wait"),
])
def test_bad_settings_name_themselves(labels, env, names):
    with pytest.raises(LabelError, match=names):
        parse_queue(labels, env)


@pytest.mark.parametrize(("env", "key", "want"), [
    (None, "a", None),
    (["a=1"], "a", "1"),
    (["a=1=2"], "a", "1=2"),
    (["ab=1"], "a", None),
    (["a"], "a", None),          # no "=": not a value
])
def test_env_value(env, key, want):
    assert env_value(env, key) == want


@pytest.mark.parametrize(("limit", "loads", "granted", "want"), [
    (1, [0], 0, 1),
    (1, [1], 0, 0),
    (1, [2], 0, 0),              # over the limit (a retry) frees nothing elsewhere
    (4, [4, 1], 0, 3),
    (4, [4, 1], 2, 1),
    (4, [4, 4], 0, 0),
    (2, [], 0, 0),               # no replica: no slot
    (2, [0, 0], 5, -1),          # more granted than free: nothing for a new call
])
def test_free_slots(limit, loads, granted, want):
    assert free_slots(limit, loads, granted) == want


@pytest.mark.parametrize(("free", "waiting", "length", "want"), [
    (1, 0, 10, Decision.GO),
    (3, 1, 10, Decision.WAIT),   # others wait first: arrival order
    (0, 0, 10, Decision.WAIT),
    (0, 9, 10, Decision.WAIT),
    (0, 10, 10, Decision.FULL),
    (0, 0, 0, Decision.FULL),    # length 0: refuse at once when full
    (1, 0, 0, Decision.GO),
    (-1, 0, 10, Decision.WAIT),
])
def test_decide(free, waiting, length, want):
    assert decide(free, waiting, length) is want


async def test_grant_goes_in_arrival_order_and_skips_those_that_left():
    queue = FunctionQueue()
    a, b, c, d = (queue.enter() for _ in range(4))
    assert queue.leave(b) is False  # left before its turn
    assert queue.grant(2) == 2
    assert (a.done(), c.done(), d.done()) == (True, True, False)
    assert queue.granted == 2 and len(queue) == 1
    queue.started()
    assert queue.leave(c) is True  # granted, then gone: its slot is to give again
    assert queue.granted == 0
    front = queue.enter(front=True)
    assert queue.grant(1) == 1 and front.done() and not d.done()
    assert queue.grant(5) == 1 and d.done() and len(queue) == 0
    await asyncio.sleep(0)
