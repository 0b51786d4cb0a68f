"""Engine.list_functions: functions first, then only their tasks, by service ID;
once more if a function went away between the two calls (a stub API client)."""

from __future__ import annotations

import docker.errors
import pytest
import requests

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
    engine._api = api  # type: ignore[assignment]
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


@pytest.mark.parametrize("status", [403, 404])
def test_a_function_gone_between_the_calls_lists_again_once(status: int) -> None:
    api = StubAPI([[A, B], [A]], [api_error(status), [TASK_A]])
    assert engine_with(api).list_functions() == ([A], [TASK_A])
    assert [f["service"] for f in api.task_filters] == [["a" * 25, "b" * 25], ["a" * 25]]


@pytest.mark.parametrize(("outcomes", "calls"), [
    ([api_error(500)], 1),                   # not a vanished service: no second try
    ([api_error(403), api_error(403)], 2),   # refused twice: a real refusal
    ([api_error(404), api_error(404)], 2),
])
def test_other_failures_are_engine_errors(outcomes: list, calls: int) -> None:
    api = StubAPI([[A], [A]], outcomes)
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
