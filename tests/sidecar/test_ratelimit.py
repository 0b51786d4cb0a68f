"""Per-function rate limits: the labels, the token bucket, Retry-After."""

from __future__ import annotations

import pytest

from faas_sidecar.ratelimit import (
    LabelError,
    RateLimit,
    TokenBucket,
    parse_rate_limit,
    retry_after,
)
from faas_sidecar.spec import InvalidFunction, parse_service

R = "swarmfaas.ratelimit."


@pytest.mark.parametrize(("labels", "parsed"), [
    ({}, None),
    ({"swarmfaas.timeout": "3"}, None),
    ({R + "rps": "10"}, RateLimit(10.0, 10)),       # burst defaults to one second's worth
    ({R + "rps": "0.5"}, RateLimit(0.5, 1)),        # and at least 1
    ({R + "rps": " 2.5 ", R + "burst": "40"}, RateLimit(2.5, 40)),
])
def test_parses(labels, parsed):
    assert parse_rate_limit(labels) == parsed


@pytest.mark.parametrize(("labels", "named"), [
    ({R + "burst": "5"}, "rps"),
    ({R + "rps": "0"}, "rps"),
    ({R + "rps": "-1"}, "rps"),
    ({R + "rps": "nan"}, "rps"),
    ({R + "rps": "inf"}, "rps"),
    ({R + "rps": "fast"}, "rps"),
    ({R + "rps": "5", R + "burst": "0"}, "burst"),
    ({R + "rps": "5", R + "burst": "2.5"}, "burst"),
    ({R + "rps": "5", R + "burst": "-3"}, "burst"),
])
def test_refuses_naming_the_label(labels, named):
    with pytest.raises(LabelError, match=rf"swarmfaas\.ratelimit\.{named}="):
        parse_rate_limit(labels)


def test_a_bad_limit_makes_the_function_unroutable():
    service = {"ID": "x", "Spec": {"Name": "f", "Labels": {"swarmfaas.function": "true",
                                                            R + "rps": "lots"}}}
    with pytest.raises(InvalidFunction, match="ratelimit"):
        parse_service(service)


def test_bucket_takes_the_burst_at_once_then_refills_at_the_rate():
    bucket = TokenBucket(RateLimit(rps=2.0, burst=3), now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)   # the next token in 1/rps s
    assert bucket.take(100.25) == pytest.approx(0.25)  # a refusal takes nothing
    assert bucket.take(100.5) == 0.0
    assert bucket.take(100.5) == pytest.approx(0.5)
    # Idle for long: never more than the burst.
    assert [bucket.take(1000.0) for _ in range(4)][-1] == pytest.approx(0.5)


@pytest.mark.parametrize(("seconds", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"),
                                                 (30.0, "30")])
def test_retry_after_is_whole_seconds(seconds, header):
    assert retry_after(seconds) == header
