"""The scaling policy, decision by decision: tables of (spec, window, state) -> decision."""

from __future__ import annotations

import pytest

from faas_sidecar.scaler.labels import ScaleSpec, ScaleType
from faas_sidecar.scaler.policy import (
    ABOVE_MAX,
    BELOW_MIN,
    DOWN,
    FROM_ZERO,
    HELD,
    NO_DATA,
    STABILISING,
    STEADY,
    TO_ZERO,
    UP,
    Decision,
    LastDecision,
    PolicyConfig,
    Sample,
    Window,
    advance,
    decide,
    need,
    noticed_by_hand,
)

CONFIG = PolicyConfig(down_window=60.0, human_hold=120.0)
NOW = 1000.0
SPEC = ScaleSpec(min=1, max=8, target=4.0)
ZERO = ScaleSpec(min=1, max=8, target=4.0, zero=True, zero_duration=300.0)
RPS = ScaleSpec(min=1, max=10, target=50.0, type=ScaleType.RPS)
CPU = ScaleSpec(min=1, max=10, type=ScaleType.CPU, target=800.0)  # millicores


def history(*points: tuple[float, float], queued: float = 0.0, rps: float | None = 0.0,
            since: float | None = None, cpu: float | None = None) -> Window:
    """A window from (seconds before NOW, in flight) points, oldest first, one per second
    in between repeating the previous value; ``since`` defaults to the oldest point."""
    window = Window()
    for ago, inflight in points:
        window = advance(window, Sample(NOW - ago, inflight, queued, rps, cpu), keep=600)
    if since is not None:
        window = Window(window.samples, since=NOW - since, last_busy=window.last_busy)
    return window


def steady(inflight: float, seconds: float = 90, **kw) -> Window:
    return history(*((float(ago), inflight) for ago in range(int(seconds), -1, -1)), **kw)


BURST = history(*((float(ago), 1.0) for ago in range(90, 5, -1)), (0, 20.0))
WAS_BUSY = history(*((float(ago), 30.0 if ago > 40 else 2.0) for ago in range(90, -1, -1)))
CALMED = history(*((float(ago), 30.0 if ago > 70 else 2.0) for ago in range(90, -1, -1)))
SHORT = history(*((float(ago), 0.0) for ago in range(20, -1, -1)))


def idle_for(seconds: float, **kw) -> Window:
    """Busy until ``seconds`` ago, idle since, samples every 10 s over 400 s."""
    return history(*((float(ago), 0.0 if ago < seconds else 3.0)
                     for ago in range(400, -1, -10)), **kw)


CASES = [
    # (id, spec, window, current, last_human (s ago), last decision, expected)
    ("no data", SPEC, Window(), 1, None, None, Decision(None, NO_DATA)),
    ("steady at min", SPEC, steady(2), 1, None, None, Decision(None, STEADY)),
    ("exactly the target stays", SPEC, steady(4), 1, None, None, Decision(None, STEADY)),
    ("just over the target goes up", SPEC, steady(4.5), 1, None, None, Decision(2, UP)),
    ("a burst goes up at once", SPEC, BURST, 1, None, None, Decision(5, UP)),
    ("queued counts as load", SPEC, steady(2, queued=10), 1, None, None, Decision(3, UP)),
    ("up is capped at max", SPEC, steady(100), 2, None, None, Decision(8, UP)),
    ("at max under load", SPEC, steady(100), 8, None, None, Decision(None, STEADY)),
    ("up from a partial sample", SPEC,
     advance(steady(1), Sample(NOW + 1, 12, complete=False), 600), 1, None, None,
     Decision(3, UP)),
    ("down after a full calm window", SPEC, CALMED, 8, None, None, Decision(1, DOWN)),
    ("down only to the window's highest need", SPEC,
     history(*((float(ago), 30.0 if ago > 70 else (9.0 if ago == 30 else 2.0))
               for ago in range(90, -1, -1))), 8, None, None, Decision(3, DOWN)),
    ("no down while the window remembers load", SPEC, WAS_BUSY, 8, None, None,
     Decision(None, STEADY)),
    ("no down without a full window", SPEC, SHORT, 4, None, None,
     Decision(None, STABILISING)),
    ("no down within the window of a scale-up", SPEC, steady(0), 4, None,
     LastDecision(NOW - 30, 4, 1), Decision(None, STABILISING)),
    ("down after the window of a scale-up", SPEC, steady(0), 4, None,
     LastDecision(NOW - 61, 4, 1), Decision(1, DOWN)),
    ("a scale-down does not block the next", SPEC, steady(0), 4, None,
     LastDecision(NOW - 10, 4, 6), Decision(1, DOWN)),
    ("partial samples never lower", SPEC,
     Window(tuple(Sample(NOW - a, 0.0, complete=False) for a in range(90, -1, -1)),
            since=NOW - 90), 4, None, None, Decision(None, STABILISING)),
    ("down respects min", ScaleSpec(min=3, max=8), steady(0), 6, None, None,
     Decision(3, DOWN)),
    ("above max is lowered", SPEC, steady(0), 12, None, None, Decision(8, ABOVE_MAX)),
    ("below min is raised", ScaleSpec(min=3, max=8), steady(0), 1, None, None,
     Decision(3, BELOW_MIN)),
    ("zero without opt-in is raised to min", SPEC, steady(0), 0, None, None,
     Decision(1, BELOW_MIN)),
    ("below min even without data", ScaleSpec(min=2, max=8), Window(), 1, None, None,
     Decision(2, BELOW_MIN)),
    # a human
    ("a hand-set count is held", SPEC, steady(100), 2, 30.0, None, Decision(None, HELD)),
    ("held even above max", SPEC, steady(0), 12, 30.0, None, Decision(None, HELD)),
    ("held even at zero", SPEC, steady(5), 0, 119.0, None, Decision(None, HELD)),
    ("the hold ends", SPEC, steady(100), 2, 121.0, None, Decision(8, UP)),
    # rps
    ("rps over target", RPS, steady(0, rps=260.0), 2, None, None, Decision(6, UP)),
    ("rps in flight is ignored", RPS, steady(40, rps=10.0), 1, None, None,
     Decision(None, STEADY)),
    ("rps unknown makes no decision", RPS, steady(0, rps=None), 3, None, None,
     Decision(None, STABILISING)),
    ("rps falls slowly", RPS, steady(0, rps=20.0), 5, None, None, Decision(1, DOWN)),
    # cpu: cores used, against a target in millicores per replica
    ("cpu over target", CPU, steady(0, cpu=3.0), 2, None, None, Decision(4, UP)),
    ("cpu at target", CPU, steady(0, cpu=1.6), 2, None, None, Decision(None, STEADY)),
    ("cpu capped at max", CPU, steady(0, cpu=20.0), 2, None, None, Decision(10, UP)),
    ("cpu in flight is ignored", CPU, steady(50, cpu=0.1), 1, None, None,
     Decision(None, STEADY)),
    ("cpu falls slowly", CPU, steady(0, cpu=0.5), 5, None, None, Decision(1, DOWN)),
    ("cpu unknown makes no decision", CPU, steady(50), 2, None, None,
     Decision(None, STABILISING)),
    ("cpu unknown still keeps the bounds", CPU, steady(50), 20, None, None,
     Decision(10, ABOVE_MAX)),
    # scale to zero
    ("to zero after the idle period", ZERO, idle_for(310), 3, None, None,
     Decision(0, TO_ZERO)),
    ("not before the idle period", ZERO, idle_for(200), 1, None, None,
     Decision(None, STEADY)),
    ("not with a request in flight", ZERO,
     advance(idle_for(400), Sample(NOW + 1, 1.0), 600), 1, None, None,
     Decision(None, STEADY)),
    ("not with a request queued", ZERO,
     advance(idle_for(400), Sample(NOW + 1, 0.0, queued=1.0), 600), 1, None, None,
     Decision(None, STEADY)),
    ("not after a request started between scrapes", ZERO,
     advance(idle_for(400), Sample(NOW + 1, 0.0, rps=1.0), 600), 1, None, None,
     Decision(None, STEADY)),
    ("not while a sidecar does not answer", ZERO,
     advance(idle_for(400), Sample(NOW + 1, 0.0, complete=False), 600), 1, None, None,
     Decision(None, STEADY)),
    ("not without a full idle period of history", ZERO, SHORT, 1, None, None,
     Decision(None, STEADY)),
    ("not without the opt-in", SPEC, idle_for(400), 1, None, None, Decision(None, STEADY)),
    ("a long request keeps it up", ZERO, steady(1, seconds=400), 1, None, None,
     Decision(None, STEADY)),
    # from zero
    ("from zero on a held request", ZERO, steady(0, queued=1), 0, None, None,
     Decision(1, FROM_ZERO)),
    ("from zero to the min", ScaleSpec(min=2, max=8, zero=True), steady(0, queued=1), 0,
     None, None, Decision(2, FROM_ZERO)),
    ("from zero to the need", ZERO, steady(0, queued=13), 0, None, None,
     Decision(4, FROM_ZERO)),
    ("from zero capped at max", ZERO, steady(0, queued=100), 0, None, None,
     Decision(8, FROM_ZERO)),
    ("idle at zero stays", ZERO, steady(0), 0, None, None, Decision(None, STEADY)),
    ("a partial idle sample at zero stays", ZERO,
     advance(steady(0), Sample(NOW + 1, 0.0, complete=False), 600), 0, None, None,
     Decision(None, STEADY)),
]


@pytest.mark.parametrize("spec, window, current, human_ago, last, expected",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_decide(spec, window, current, human_ago, last, expected):
    now = window.samples[-1].at if window.samples else NOW
    human = None if human_ago is None else now - human_ago
    got = decide(spec, window, current=current, now=now, last_human=human, last=last,
                 config=CONFIG)
    assert got == expected, got.detail
    assert got.detail  # every decision says why


def test_never_outside_the_bounds():
    """Whatever the load and the count, a new count is within [min, max] (or 0 opted in)."""
    for spec in (SPEC, ZERO, ScaleSpec(min=2, max=3)):
        for inflight in (0, 1, 3, 7, 50, 1000):
            for current in range(0, 12):
                for window in (steady(inflight), idle_for(400)):
                    got = decide(spec, window, current=current, now=window.samples[-1].at,
                                 last_human=None, last=None, config=CONFIG)
                    if got.replicas is not None:
                        assert spec.min <= got.replicas <= spec.max or (
                            got.replicas == 0 and spec.zero), (spec, inflight, current, got)


@pytest.mark.parametrize("inflight, target, replicas", [
    (0, 4, 0), (1, 4, 1), (4, 4, 1), (4.0000000001, 4, 1), (4.1, 4, 2), (8, 4, 2),
    (9, 4, 3), (3, 0.5, 6),
])
def test_need(inflight, target, replicas):
    assert need(Sample(0, inflight), ScaleSpec(target=target)) == replicas


def test_advance_keeps_a_window_and_remembers():
    window = Window()
    for t in range(10):
        window = advance(window, Sample(float(t), 1.0 if t == 3 else 0.0), keep=4)
    assert [s.at for s in window.samples] == [5.0, 6.0, 7.0, 8.0, 9.0]
    assert window.since == 0.0
    assert window.last_busy == 3.0  # remembered after its sample left the window


@pytest.mark.parametrize("observed, expected, by_hand", [
    (3, None, False),  # the first look: the count is the baseline
    (3, 3, False),
    (5, 3, True),
    (0, 2, True),
])
def test_noticed_by_hand(observed, expected, by_hand):
    assert noticed_by_hand(observed, expected) is by_hand
