"""Engine.list_functions: functions first, then only their tasks, by service ID;
a function that went away between the two calls is left out, and the others are
listed still (a stub API client)."""

from __future__ import annotations

import docker.errors
import pytest
import requests

from faas_sidecar import listing
from faas_sidecar.engine import Engine, EngineError


def api_error(status: int) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError("refused", response=response)


class StubAPI:
    def __init__(self, services: list[list[dict]], task_outcomes: list) -> None:
        self.services_answers = services
        self.task_outcomes = task_outcomes
        self.task_filters: list[dict] = []

    def services(self, filters: dict) -> list[dict]:
        assert filters == {"label": "swarmfaas.function=true"}
        return self.services_answers.pop(0)

    def tasks(self, filters: dict) -> list[dict]:
        self.task_filters.append(filters)
        outcome = self.task_outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def engine_with(api: StubAPI) -> Engine:
    engine = Engine("tcp://127.0.0.1:9")  # never dialled: the stub answers
    engine._listings = api  # type: ignore[assignment]
    return engine


A, B = {"ID": "a" * 25}, {"ID": "b" * 25}
TASK_A = {"ID": "t1", "ServiceID": "a" * 25}


def test_tasks_are_asked_for_by_function_service_id() -> None:
    api = StubAPI([[A, B]], [[TASK_A]])
    assert engine_with(api).list_functions() == ([A, B], [TASK_A])
    assert api.task_filters == [{"desired-state": "running", "service": ["a" * 25, "b" * 25]}]


def test_no_functions_means_no_task_call() -> None:
    api = StubAPI([[]], [])
    assert engine_with(api).list_functions() == ([], [])
    assert api.task_filters == []


C = {"ID": "c" * 25}
STUCK = {"ID": "d" * 25, "Spec": {"Mode": {"Replicated": {"Replicas": 1}}}}
TASK_C = {"ID": "t6", "ServiceID": "c" * 25}
# The race of issue 15: a function removed between the service listing and the
# task listing (Docker's 404, or the gate's 403: "not a function"), once, or
# again while listing again. Each row: the service listings in order, the task
# listings' outcomes in order, what comes back, and the task listings' service
# filters in order.
GONE_CASES = {
    "one gone, the re-list lists the rest": (
        [[A, B], [A]], [api_error(404), [TASK_A]],
        ([A], [TASK_A]), [[A, B], [A]]),
    "one gone, the gate's 403": (
        [[A, B], [A]], [api_error(403), [TASK_A]],
        ([A], [TASK_A]), [[A, B], [A]]),
    "gone, then another gone before the second try: one by one": (
        [[A, B, C], [B, C], [C]],
        [api_error(403), api_error(404), api_error(404), [TASK_C]],
        ([C], [TASK_C]), [[A, B, C], [B, C], [B], [C]]),
    "gone, then two more gone before the second try": (
        [[A, B, C, STUCK], [A, B, C], [A]],
        [api_error(404), api_error(404), [TASK_A], api_error(404), api_error(403)],
        ([A], [TASK_A]), [[A, B, C, STUCK], [A, B, C], [A], [B], [C]]),
    "a function with no ready task gone before its failed tasks are listed": (
        [[A, STUCK], [A]], [[TASK_A], api_error(404), [TASK_A]],
        ([A], [TASK_A]), [[A, STUCK], [STUCK], [A]]),
}


@pytest.mark.parametrize(("listings", "outcomes", "result", "filters"),
                         GONE_CASES.values(), ids=GONE_CASES.keys())
def test_a_function_gone_while_listed_is_left_out(listings, outcomes, result,
                                                  filters) -> None:
    api = StubAPI(listings, outcomes)
    assert engine_with(api).list_functions() == result
    assert [f["service"] for f in api.task_filters] == [[s["ID"] for s in f] for f in filters]
    assert api.services_answers == [] and api.task_outcomes == []  # all asked for


@pytest.mark.parametrize(("listings", "outcomes", "calls"), [
    # not a vanished service: no second try
    ([[A]], [api_error(500)], 1),
    # refused, and the re-list shows nothing gone: a real refusal
    ([[A], [A]], [api_error(403)], 1),
    ([[A, B], [A, B]], [api_error(404)], 1),
    # refused one by one though still listed: a real refusal
    ([[A, B], [A], [A]], [api_error(403), api_error(403), api_error(403)], 3),
])
def test_other_failures_are_engine_errors(listings: list, outcomes: list,
                                          calls: int) -> None:
    api = StubAPI(listings, outcomes)
    with pytest.raises(EngineError, match="listing services and tasks"):
        engine_with(api).list_functions()
    assert len(api.task_filters) == calls


WANTS = {"ID": "c" * 25, "Spec": {"Mode": {"Replicated": {"Replicas": 1}}}}
RUNNING = {"ID": "t2", "ServiceID": "c" * 25, "DesiredState": "running",
           "Status": {"State": "running"}}
PENDING = {"ID": "t3", "ServiceID": "c" * 25, "DesiredState": "running",
           "Status": {"State": "pending"}}
REJECTED = {"ID": "t4", "ServiceID": "c" * 25, "DesiredState": "shutdown",
            "Status": {"State": "rejected", "Err": "No such image: nope"}}


def test_a_function_with_no_ready_task_has_its_failed_tasks_listed_too() -> None:
    api = StubAPI([[WANTS]], [[PENDING], [PENDING, REJECTED]])
    assert engine_with(api).list_functions() == ([WANTS], [PENDING, REJECTED])
    assert api.task_filters[1] == {"service": ["c" * 25]}  # every desired state


def test_a_function_with_a_ready_task_needs_no_second_listing() -> None:
    api = StubAPI([[WANTS]], [[RUNNING]])
    assert engine_with(api).list_functions() == ([WANTS], [RUNNING])
    assert len(api.task_filters) == 1


class GarbledListings(StubAPI):
    def services(self, filters: dict) -> list[dict]:
        return listing.DISCOVERY_SERVICES.decode(b'[{"ID": "a", "Spec": []}]')


def test_a_listing_of_another_shape_is_an_engine_error() -> None:
    """So discovery keeps its last table (it catches EngineError), rather than
    its re-list loop dying of msgspec's error."""
    with pytest.raises(EngineError, match=r"listing services and tasks: .*\$\[0\]\.Spec"):
        engine_with(GarbledListings([], [])).list_functions()
