"""build_table with the previous build's memo: the same table as a fresh build,
re-parsing only documents whose Engine version changed (pure, table-driven)."""

from __future__ import annotations

import copy

import pytest

from faas_sidecar import spec as spec_module
from faas_sidecar.spec import EMPTY_MEMO, build_table

NET = "faas_functions"
NET_ID = "netid123"


def service(name="echo", sid="s1", version=10, labels=None, replicas=2):
    return {"ID": sid, "Version": {"Index": version}, "CreatedAt": "2026-01-01T00:00:00Z",
            "Spec": {"Name": name,
                     "Labels": {"swarmfaas.function": "true", **(labels or {})},
                     "Mode": {"Replicated": {"Replicas": replicas}},
                     "TaskTemplate": {"ContainerSpec": {"Image": "img:1"},
                                      "Networks": [{"Target": NET_ID}]}}}


def task(tid="t1", sid="s1", version=20, state="running", addr="10.0.1.5/24"):
    return {"ID": tid, "ServiceID": sid, "Version": {"Index": version}, "NodeID": "n1",
            "DesiredState": "running", "Status": {"State": state},
            "NetworksAttachments": [{"Network": {"ID": NET_ID, "Spec": {"Name": NET}},
                                     "Addresses": [addr]}]}


def build(services, tasks, memo=EMPTY_MEMO, network_id=NET_ID):
    return build_table(services, tasks, NET, network_id=network_id, generation=1,
                       built_at=0.0, memo=memo)


BEFORE = ([service(), service("other", "s2")],
          [task(), task("t2", addr="10.0.1.6/24"), task("t3", "s2", addr="10.0.1.7/24")])


def _bump(doc, **changes):
    doc = copy.deepcopy(doc)
    doc["Version"]["Index"] += 1
    for key, value in changes.items():
        if key == "state":
            doc["Status"]["State"] = value
        elif key == "labels":
            doc["Spec"]["Labels"].update(value)
        elif key == "addr":
            doc["NetworksAttachments"][0]["Addresses"] = [value]
    return doc


# Each case: the listing after a change. A memoized build must equal a fresh one.
AFTER = {
    "nothing changed": BEFORE,
    "a task stopped": (BEFORE[0], [_bump(BEFORE[1][0], state="shutdown"), *BEFORE[1][1:]]),
    "a task moved": (BEFORE[0], [_bump(BEFORE[1][0], addr="10.0.1.99/24"), *BEFORE[1][1:]]),
    "a label changed": ([_bump(BEFORE[0][0], labels={"swarmfaas.timeout": "5"}), BEFORE[0][1]],
                        BEFORE[1]),
    "a label became invalid": ([_bump(BEFORE[0][0], labels={"swarmfaas.port": "x"}),
                                BEFORE[0][1]], BEFORE[1]),
    "a task appeared": (BEFORE[0], [*BEFORE[1], task("t4", addr="10.0.1.8/24")]),
    "a service went away": ([BEFORE[0][0]], BEFORE[1][:2]),
    "a new service": ([*BEFORE[0], service("third", "s3")],
                      [*BEFORE[1], task("t5", "s3", addr="10.0.1.9/24")]),
}


@pytest.mark.parametrize("case", sorted(AFTER))
def test_memoized_build_equals_a_fresh_build(case):
    first = build(*BEFORE)
    services, tasks = AFTER[case]
    memoized = build(services, tasks, memo=first.memo)
    fresh = build(services, tasks)
    assert memoized.table.functions == fresh.table.functions
    assert memoized.table.invalid == fresh.table.invalid
    assert memoized.settling == fresh.settling


def test_unchanged_functions_keep_their_objects():
    first = build(*BEFORE)
    services, tasks = AFTER["a task stopped"]
    second = build(services, tasks, memo=first.memo)
    assert second.table.functions["other"] is first.table.functions["other"]
    assert second.table.functions["echo"] is not first.table.functions["echo"]
    assert len(second.table.functions["echo"].replicas) == 1


def test_a_changed_document_is_parsed_again_even_with_the_same_id():
    first = build(*BEFORE)
    services, tasks = AFTER["a label changed"]
    assert build(services, tasks, memo=first.memo).table.functions["echo"].timeout == 5.0


def test_a_memo_of_another_network_is_ignored():
    first = build(*BEFORE, network_id="oldnet")  # nothing is on "oldnet" but by name
    assert build(*BEFORE, memo=first.memo).table.functions == build(*BEFORE).table.functions
    assert first.memo.network_id == "oldnet"


def test_documents_without_a_version_are_never_memoized():
    services = [{**service(), "Version": {}}]
    tasks = [{**task(), "Version": {}}]
    result = build(services, tasks)
    assert not result.memo.services and not result.memo.tasks
    assert len(result.table.functions["echo"].replicas) == 1


def test_the_memo_only_keeps_the_last_listing():
    first = build(*BEFORE)
    services, tasks = AFTER["a service went away"]
    second = build(services, tasks, memo=first.memo)
    assert {sid for sid, _ in second.memo.services} == {"s1"}
    assert {tid for tid, _, _ in second.memo.tasks} == {"t1", "t2"}


# A memoized task keeps its replica, or else whether it is settling.
@pytest.mark.parametrize("state, replicas, settling", [
    ("running", 1, False),
    ("starting", 0, True),
    ("failed", 0, False),
])
def test_a_memoized_task_keeps_its_replica_or_settling(state, replicas, settling):
    listing = ([service()], [task(state=state)])
    first = build(*listing)
    again = build(*listing, memo=first.memo)
    assert again.memo.tasks == first.memo.tasks
    for result in (first, again):
        assert len(result.table.functions["echo"].replicas) == replicas
        assert result.settling is settling


@pytest.mark.parametrize("first_openfaas, then_openfaas", [(True, False), (False, True)])
def test_a_memo_of_the_other_openfaas_choice_is_ignored(first_openfaas, then_openfaas):
    # faas-swarm's mark only: a function with OPENFAAS_FUNCTIONS, not without
    services = [service(labels={"swarmfaas.function": "false", "function": "true"}),
                service("other", "s2")]

    def build_with(openfaas, memo=EMPTY_MEMO):
        return build_table(services, BEFORE[1], NET, network_id=NET_ID, generation=1,
                           built_at=0.0, memo=memo, openfaas=openfaas)

    first = build_with(first_openfaas)
    again = build_with(then_openfaas, memo=first.memo)
    assert again.table.functions == build_with(then_openfaas).table.functions
    assert ("echo" in again.table.functions) is then_openfaas
    assert again.memo.openfaas is then_openfaas


def test_a_service_id_of_another_type_is_parsed_again_and_kept():
    services = [{**service(), "ID": 7}]
    first = build(services, [])
    again = build(services, [], memo=first.memo)
    assert again.table.functions == first.table.functions
    assert set(again.memo.services) == {(7, 10)}


@pytest.mark.parametrize("case", sorted(AFTER))
def test_an_unchanged_service_is_not_read_again(monkeypatch, case):
    services, tasks = AFTER[case]
    first = build(services, tasks)
    checked = []
    monkeypatch.setattr(spec_module, "is_platform_function",
                        lambda service, *args: checked.append(service) or True)
    again = build(services, tasks, memo=first.memo)
    assert again.table == first.table
    assert not checked  # only IDs and versions were read
