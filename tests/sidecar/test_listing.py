"""listing.py: the Engine's listings decoded to what discovery reads.

Two checks that the pruned documents lose nothing a reader needs:
- every key the readers (the table build, the scaler's view, the engine's
  own checks) look up in a whole document is one the pruned shape keeps;
- the table built from the pruned documents equals the one built from the
  whole documents, over real Engine documents (bench/fixtures) and variants.
Pure: the decoders run on bytes, no Docker."""

from __future__ import annotations

import copy
import json
import types
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

from faas_sidecar import listing
from faas_sidecar.scaler.service import function_views
from faas_sidecar.spec import build_table, services_without_ready

FIXTURES = Path(__file__).resolve().parents[2] / "bench" / "fixtures"
SERVICE = json.loads((FIXTURES / "engine-service.json").read_text())
TASK = json.loads((FIXTURES / "engine-task.json").read_text())
NETWORK = "faas_functions"
NETWORK_ID = SERVICE["Spec"]["TaskTemplate"]["Networks"][0]["Target"]


def variant(doc: dict, **changes: Any) -> dict:
    """A copy of ``doc`` with dotted paths set (a None value deletes the key)."""
    made = copy.deepcopy(doc)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = made
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return made


def corpus() -> tuple[list[dict], list[dict]]:
    """Services and tasks covering every branch of the readers: settings in
    labels and env, global mode, the old place of Networks, a bad name, a
    failed and a starting task, a task off the network, nulls."""
    services = [
        SERVICE,
        variant(SERVICE, ID="s-settings", Spec__Name="faas_tuned", Spec__Labels={
            **SERVICE["Spec"]["Labels"], "swarmfaas.timeout": "7", "swarmfaas.port": "9000",
            "swarmfaas.scale.zero": "true", "swarmfaas.name": "tuned"},
            Spec__TaskTemplate__ContainerSpec__Env=["max_inflight=4", "queue_length=8"]),
        variant(SERVICE, ID="s-global", Spec__Name="faas_global", Spec__Mode={"Global": {}}),
        variant(SERVICE, ID="s-oldnet", Spec__Name="faas_oldnet",
                Spec__Networks=[{"Target": NETWORK_ID}], Spec__TaskTemplate__Networks=None),
        variant(SERVICE, ID="s-bad", Spec__Name="faas_Bad Name"),
        variant(SERVICE, ID="s-stuck", Spec__Name="faas_stuck",
                Spec__TaskTemplate__ContainerSpec__Image="nope:1@sha256:" + "0" * 64),
        variant(SERVICE, ID="s-off", Spec__Name="faas_off",
                Spec__TaskTemplate__Networks=[{"Target": "elsewhere"}]),
        variant(SERVICE, ID="s-nulls", Spec__Name="faas_nulls", Spec__Labels=None),
        variant(SERVICE, ID="s-dup", Spec__Name="other_echo", CreatedAt="2027-01-01T00:00:00Z",
                Spec__Labels={**SERVICE["Spec"]["Labels"], "swarmfaas.name": "echo"}),
    ]
    tasks = [
        TASK,
        variant(TASK, ID="t-tuned", ServiceID="s-settings"),
        variant(TASK, ID="t-global", ServiceID="s-global", NodeID="n2"),
        variant(TASK, ID="t-oldnet", ServiceID="s-oldnet"),
        variant(TASK, ID="t-starting", ServiceID="s-settings", Status__State="starting"),
        variant(TASK, ID="t-failed", ServiceID="s-stuck", DesiredState="shutdown",
                Status__State="rejected", Status__Err="No such image: nope:1"),
        variant(TASK, ID="t-offnet", ServiceID="s-global",
                NetworksAttachments=[{"Network": {"ID": "x", "Spec": {"Name": "x"}},
                                      "Addresses": ["10.9.0.2/24"]}]),
        variant(TASK, ID="t-nulls", ServiceID="s-global", Status=None,
                NetworksAttachments=None),
    ]
    return services, tasks


def pruned(docs: list[dict], decoder: msgspec.json.Decoder) -> list[dict]:
    return decoder.decode(json.dumps(docs).encode())


def test_a_pruned_document_keeps_only_the_keys_discovery_reads() -> None:
    [service] = pruned([SERVICE], listing.DISCOVERY_SERVICES)
    assert set(service) == {"ID", "Version", "CreatedAt", "Spec"}
    assert set(service["Spec"]) == {"Name", "Labels", "Mode", "TaskTemplate"}
    assert service["Spec"]["Labels"] == SERVICE["Spec"]["Labels"]  # every label
    [task] = pruned([TASK], listing.DISCOVERY_TASKS)
    assert set(task["Status"]) == {"State", "Message", "Timestamp"}
    assert task["NetworksAttachments"] == [{"Network": {"ID": NETWORK_ID, "Spec": {
        "Name": NETWORK}}, "Addresses": ["10.0.3.2/24"]}]
    assert len(json.dumps(task)) * 4 < len(json.dumps(TASK))


@pytest.mark.parametrize("network_id", [NETWORK_ID, None])
@pytest.mark.parametrize("openfaas", [False, True])
def test_the_table_from_pruned_documents_is_the_table_from_whole_ones(network_id, openfaas):
    services, tasks = corpus()
    whole = build_table(services, tasks, NETWORK, generation=1, built_at=0.0,
                        network_id=network_id, openfaas=openfaas)
    small = build_table(pruned(services, listing.DISCOVERY_SERVICES),
                        pruned(tasks, listing.DISCOVERY_TASKS), NETWORK, generation=1,
                        built_at=0.0, network_id=network_id, openfaas=openfaas)
    assert small.table == whole.table
    assert small.settling == whole.settling
    assert set(whole.table.functions) >= {"echo", "tuned", "global", "oldnet"}
    assert whole.table.functions["stuck"].task_error  # the failed task was read
    assert whole.table.invalid  # the bad name and the contested one


class Spy(dict):
    """A document that records every key looked up in it, as a path."""

    def __init__(self, doc: dict, path: tuple, seen: set) -> None:
        super().__init__({k: wrap(v, (*path, k), seen) for k, v in doc.items()})
        self._path, self._seen = path, seen

    def __getitem__(self, key: Any) -> Any:
        self._seen.add((*self._path, key))
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._seen.add((*self._path, key))
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._seen.add((*self._path, key))
        return super().__contains__(key)


def wrap(value: Any, path: tuple, seen: set) -> Any:
    if isinstance(value, dict):
        return Spy(value, path, seen)
    if isinstance(value, list):
        return [wrap(v, (*path, "[]"), seen) for v in value]
    return value


def kept(shape: Any, path: tuple) -> bool:
    """Whether a pruned document of ``shape`` keeps the key at ``path``
    (below an ``Any`` everything is kept)."""
    for key in path:
        while typing.get_origin(shape) in (list, typing.Union, types.UnionType):
            shape = next(a for a in typing.get_args(shape) if a is not type(None))
        if shape is Any:
            return True
        if key == "[]":
            continue
        hints = typing.get_type_hints(shape)
        if key not in hints:
            return False
        shape = hints[key]
    return True


def test_every_key_the_readers_look_up_is_kept() -> None:
    services, tasks = corpus()
    seen: set = set()
    spied_services = [wrap(s, ("service",), seen) for s in services]
    spied_tasks = [wrap(t, ("task",), seen) for t in tasks]
    for network_id in (NETWORK_ID, None):
        for openfaas in (False, True):
            build_table(spied_services, spied_tasks, NETWORK, generation=1, built_at=0.0,
                        network_id=network_id, openfaas=openfaas)
    function_views(spied_services, spied_tasks, frozenset({NETWORK, NETWORK_ID}), False)
    services_without_ready(spied_services, spied_tasks)
    assert ("task", "Status", "Err") in seen  # the spy sees the reads
    shapes = {"service": listing.ServiceDoc, "task": listing.TaskDoc}
    lost = sorted(p for p in seen if not kept(shapes[p[0]], p[1:]))
    assert lost == []


def test_a_listing_of_another_shape_is_an_error() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\[0\]\.Spec"):
        listing.DISCOVERY_SERVICES.decode(b'[{"ID": "a", "Spec": []}]')
    with pytest.raises(msgspec.DecodeError):
        listing.DISCOVERY_TASKS.decode(b'[{"ID": ')
