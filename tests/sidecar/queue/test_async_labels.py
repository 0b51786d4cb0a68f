"""The swarmfaas.async* labels (queue/labels.py), as a table."""

from __future__ import annotations

import pytest

from faas_sidecar.labels import LabelError
from faas_sidecar.queue.labels import DEFAULT_POLICY, AsyncPolicy, parse_async_labels


@pytest.mark.parametrize(("labels", "policy"), [
    ({}, DEFAULT_POLICY),
    ({"swarmfaas.timeout": "3"}, DEFAULT_POLICY),
    ({"swarmfaas.async": "true"}, AsyncPolicy(always=True, attempts=5, concurrency=8)),
    ({"swarmfaas.async": "TRUE "}, AsyncPolicy(always=True)),
    ({"swarmfaas.async": "false"}, AsyncPolicy(always=False)),
    ({"swarmfaas.async.attempts": "3"}, AsyncPolicy(always=False, attempts=3)),
    ({"swarmfaas.async.attempts": "100", "swarmfaas.async.concurrency": "1"},
     AsyncPolicy(attempts=100, concurrency=1)),
    ({"swarmfaas.async.concurrency": "1000"}, AsyncPolicy(concurrency=1000)),
])
def test_good_labels(labels, policy):
    assert parse_async_labels(labels) == policy


@pytest.mark.parametrize(("labels", "named"), [
    ({"swarmfaas.async": "yes"}, "swarmfaas.async="),
    ({"swarmfaas.async.attempts": "0"}, "swarmfaas.async.attempts"),
    ({"swarmfaas.async.attempts": "101"}, "swarmfaas.async.attempts"),
    ({"swarmfaas.async.attempts": "-1"}, "swarmfaas.async.attempts"),
    ({"swarmfaas.async.concurrency": "x"}, "swarmfaas.async.concurrency"),
    ({"swarmfaas.async.concurrency": "1001"}, "swarmfaas.async.concurrency"),
])
def test_bad_labels_name_the_label(labels, named):
    with pytest.raises(LabelError, match=named):
        parse_async_labels(labels)
