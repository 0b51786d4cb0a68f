"""Sidecars' metrics -> samples: parsing, summing over replicas, rates, incomplete rounds."""

from __future__ import annotations

import pytest

from faas_sidecar.metrics import Metrics
from faas_sidecar.scaler.measure import Reading, Round, parse_metrics, samples
from faas_sidecar.scaler.policy import Sample

TEXT = """\
# HELP gateway_function_invocation_started_total Function invocations started
# TYPE gateway_function_invocation_started_total counter
gateway_function_invocation_started_total{function_name="echo"} 120.0
gateway_function_invocation_started_total{function_name="slow"} 3.0
# HELP gateway_function_invocation_inflight In flight
# TYPE gateway_function_invocation_inflight gauge
gateway_function_invocation_inflight{function_name="echo"} 5.0
gateway_function_invocation_inflight{function_name="slow"} 0.0
# HELP swarmfaas_function_queued Held
# TYPE swarmfaas_function_queued gauge
swarmfaas_function_queued{function_name="slow"} 2.0
# HELP swarmfaas_function_cpu_cores Cores
# TYPE swarmfaas_function_cpu_cores gauge
swarmfaas_function_cpu_cores{function_name="slow"} 1.25
# HELP gateway_service_count Ready replicas
# TYPE gateway_service_count gauge
gateway_service_count{function_name="echo"} 2.0
"""


def test_parse_metrics():
    assert parse_metrics(TEXT) == {
        "echo": Reading(inflight=5.0, queued=0.0, started=120.0),
        "slow": Reading(inflight=0.0, queued=2.0, started=3.0, cpu=1.25),
    }


def test_parse_metrics_of_a_real_sidecar_registry():
    """The sidecar's own exposition: in flight = started minus answered."""
    metrics = Metrics()
    for _ in range(5):
        metrics.started("echo")
    metrics.observed("echo", "200", 0.01)
    metrics.observed("echo", "499", 0.02)
    assert parse_metrics(metrics.render().decode()) == {
        "echo": Reading(inflight=3.0, started=5.0)}


def test_parse_metrics_rejects_garbage():
    with pytest.raises(ValueError):
        parse_metrics("this is { not prometheus\n")


A, B = "10.0.0.5", "10.0.0.6"


def rnd(at, **by_sidecar):
    return Round(at, {addr: by_sidecar[key] for key, addr in (("a", A), ("b", B))
                      if key in by_sidecar})


@pytest.mark.parametrize("current, previous, expected", [
    # the first round: no rate yet
    (rnd(10.0, a={"echo": Reading(2, 1, 50)}), None,
     Sample(10.0, 2, 1, None, None, True)),
    # summed over two sidecars, rates from each counter
    (rnd(11.0, a={"echo": Reading(2, 0, 60)}, b={"echo": Reading(3, 0, 40)}),
     rnd(10.0, a={"echo": Reading(0, 0, 50)}, b={"echo": Reading(0, 0, 20)}),
     Sample(11.0, 5, 0, 30.0, None, True)),
    # a half-second round: the rate is per second
    (rnd(10.5, a={"echo": Reading(0, 0, 60)}), rnd(10.0, a={"echo": Reading(0, 0, 50)}),
     Sample(10.5, 0, 0, 20.0, None, True)),
    # a sidecar restarted: its counter counts from zero
    (rnd(11.0, a={"echo": Reading(0, 0, 4)}), rnd(10.0, a={"echo": Reading(0, 0, 90)}),
     Sample(11.0, 0, 0, 4.0, None, True)),
    # a sidecar that did not answer: incomplete, the other still counts
    (rnd(11.0, a=None, b={"echo": Reading(1, 0, 30)}),
     rnd(10.0, a={"echo": Reading(7, 0, 0)}, b={"echo": Reading(0, 0, 20)}),
     Sample(11.0, 1, 0, 10.0, None, False)),
    # a new sidecar (not in the last round) adds load but no rate yet
    (rnd(11.0, a={"echo": Reading(0, 0, 55)}, b={"echo": Reading(4, 0, 9)}),
     rnd(10.0, a={"echo": Reading(0, 0, 50)}),
     Sample(11.0, 4, 0, 5.0, None, True)),
    # a function no sidecar has served yet: idle, rate 0 once there is a last round
    (rnd(11.0, a={}), rnd(10.0, a={}), Sample(11.0, 0, 0, 0.0, None, True)),
    # the function appears in a sidecar's metrics after its first call
    (rnd(11.0, a={"echo": Reading(1, 0, 1)}), rnd(10.0, a={}),
     Sample(11.0, 1, 0, 1.0, None, True)),
    # cpu: the largest of the sidecars' figures (each sees every replica), not the sum
    (rnd(11.0, a={"echo": Reading(0, 0, 0, 1.5)}, b={"echo": Reading(0, 0, 0, 1.25)}),
     rnd(10.0, a={}, b={}), Sample(11.0, 0, 0, 0.0, 1.5, True)),
    # cpu measured by one sidecar only: its figure; by none: unknown (above)
    (rnd(11.0, a={"echo": Reading(0, 0, 0)}, b={"echo": Reading(0, 0, 0, 0.0)}),
     rnd(10.0, a={}, b={}), Sample(11.0, 0, 0, 0.0, 0.0, True)),
    # no sidecar at all resolved: says nothing, so incomplete
    (Round(11.0, {}), Round(10.0, {}), Sample(11.0, 0, 0, None, None, False)),
])
def test_samples(current, previous, expected):
    assert samples(["echo"], current, previous) == {"echo": expected}
