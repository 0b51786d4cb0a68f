"""The retry policy of deliveries (queue/policy.py), as tables."""

from __future__ import annotations

import pytest

from faas_sidecar.queue.policy import (
    RATE_LIMITED,
    REJECTED,
    SERVER_ERROR,
    TIMEOUT,
    UNREACHABLE,
    Backoff,
    Decision,
    Verdict,
    backoff_delay,
    cause_of,
    decide,
    parse_retry_after,
)


@pytest.mark.parametrize(("status", "error", "platform", "cause"), [
    (200, None, False, None),
    (201, None, False, None),
    (302, None, False, None),
    (400, None, False, None),       # the function's own answer: delivered
    (404, None, False, None),
    (404, None, True, REJECTED),    # the sidecar's: function gone, never delivered
    (413, None, True, REJECTED),
    (401, None, True, REJECTED),
    (408, None, False, TIMEOUT),
    (429, None, False, RATE_LIMITED),
    (429, None, True, RATE_LIMITED),  # swarmfaas.ratelimit's 429 is worth a retry
    (500, None, False, SERVER_ERROR),
    (502, None, True, SERVER_ERROR),
    (503, None, True, SERVER_ERROR),
    (504, None, True, TIMEOUT),
    (None, UNREACHABLE, False, UNREACHABLE),
    (None, TIMEOUT, False, TIMEOUT),
    (None, None, False, UNREACHABLE),
])
def test_cause_of_an_attempt(status, error, platform, cause):
    assert cause_of(status, error, platform) == cause


B = Backoff(base=1.0, factor=2.0, cap=60.0)


@pytest.mark.parametrize(("attempt", "rand", "delay"), [
    (1, 0.0, 0.5), (1, 0.999999, 1.0), (1, 0.5, 0.75),
    (2, 0.0, 1.0), (2, 0.5, 1.5),
    (3, 0.0, 2.0), (4, 0.0, 4.0), (6, 0.0, 16.0),
    (7, 0.0, 30.0), (7, 0.999999, 60.0),   # capped at 60: between 30 and 60
    (50, 0.0, 30.0), (0, 0.0, 0.5),
])
def test_backoff_is_exponential_capped_with_equal_jitter(attempt, rand, delay):
    assert backoff_delay(attempt, B, rand) == pytest.approx(delay, rel=1e-5)


@pytest.mark.parametrize(("attempt", "attempts", "cause", "retry_after", "expected"), [
    (1, 5, None, None, Decision(Verdict.DONE)),
    (5, 5, None, None, Decision(Verdict.DONE)),  # the last attempt succeeded
    (1, 5, SERVER_ERROR, None, Decision(Verdict.RETRY, 0.5, SERVER_ERROR)),
    (3, 5, UNREACHABLE, None, Decision(Verdict.RETRY, 2.0, UNREACHABLE)),
    (4, 5, TIMEOUT, None, Decision(Verdict.RETRY, 4.0, TIMEOUT)),
    (5, 5, TIMEOUT, None, Decision(Verdict.DEAD, 0.0, TIMEOUT)),
    (6, 5, SERVER_ERROR, None, Decision(Verdict.DEAD, 0.0, SERVER_ERROR)),
    (1, 1, SERVER_ERROR, None, Decision(Verdict.DEAD, 0.0, SERVER_ERROR)),
    (1, 5, REJECTED, None, Decision(Verdict.DEAD, 0.0, REJECTED)),  # no retry helps
    (1, 5, RATE_LIMITED, 7.0, Decision(Verdict.RETRY, 7.0, RATE_LIMITED)),  # Retry-After
    (4, 5, RATE_LIMITED, 1.0, Decision(Verdict.RETRY, 4.0, RATE_LIMITED)),  # backoff longer
    (1, 5, RATE_LIMITED, 3600.0, Decision(Verdict.RETRY, 60.0, RATE_LIMITED)),  # capped
])
def test_decide(attempt, attempts, cause, retry_after, expected):
    assert decide(attempt, attempts, cause, B, 0.0, retry_after) == expected


@pytest.mark.parametrize(("value", "seconds"), [
    (None, None), ("3", 3.0), (" 10 ", 10.0), ("0", 0.0), ("-1", None), ("1.5", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("", None),
    ("\u00b2", None),  # a digit to str.isdigit(), not to float()
])
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value) == seconds
