"""The Engine's service and task listings, decoded from the answer's bytes.

docker-py parses every answer whole with ``json``: at 10,000 functions a
re-list is 28 MB of JSON, most of it fields discovery never reads (update
and endpoint specs, health checks, resources, status timestamps), and that
parse was most of a re-list's time. Here msgspec decodes the bytes into plain
dicts holding only the keys listed below, skipping the rest in C, so the
documents come out as the same dicts ``spec.py`` reads, only smaller
(docs/scaling-out.md has the figures). A reader that needs more of a document
(the scaler writes a listed spec back) decodes it whole.

Every leaf is ``Any``: only a document's shape is checked, never a value's
type, which ``spec.py`` checks as it always has. An object Docker sends as
``null`` is allowed wherever a reader does ``get(...) or {}``.
"""

from __future__ import annotations

from typing import Any, TypedDict

import docker
import docker.utils
import msgspec

from .spec import collector_paused


class _Version(TypedDict, total=False):
    Index: Any


class _NetworkTarget(TypedDict, total=False):
    Target: Any


class _ContainerSpec(TypedDict, total=False):
    Image: Any
    Env: Any


class _TaskTemplate(TypedDict, total=False):
    ContainerSpec: _ContainerSpec | None
    Networks: list[_NetworkTarget] | None


class _ServiceSpec(TypedDict, total=False):
    Name: Any
    Labels: Any  # every label: FunctionSpec.labels carries them all
    Mode: Any
    TaskTemplate: _TaskTemplate | None
    Networks: list[_NetworkTarget] | None  # the old place of TaskTemplate.Networks


class ServiceDoc(TypedDict, total=False):
    """What discovery reads of a service (``spec.read_service`` and the
    checks before it)."""

    ID: Any
    Version: _Version | None
    CreatedAt: Any
    Spec: _ServiceSpec | None


class _NetworkSpec(TypedDict, total=False):
    Name: Any


class _Network(TypedDict, total=False):
    ID: Any
    Spec: _NetworkSpec | None


class _Attachment(TypedDict, total=False):
    Network: _Network | None
    Addresses: Any


class _Status(TypedDict, total=False):
    State: Any
    Err: Any
    Message: Any
    Timestamp: Any


class TaskDoc(TypedDict, total=False):
    """What discovery reads of a task (``spec.read_task``, ``task_failure``)."""

    ID: Any
    Version: _Version | None
    ServiceID: Any
    NodeID: Any
    DesiredState: Any
    Status: _Status | None
    NetworksAttachments: list[_Attachment] | None


DISCOVERY_SERVICES = msgspec.json.Decoder(list[ServiceDoc])
DISCOVERY_TASKS = msgspec.json.Decoder(list[TaskDoc])
WHOLE = msgspec.json.Decoder(list[dict[str, Any]])


class Listings:
    """``GET /services`` and ``GET /tasks`` through a docker-py client, each
    answer decoded by its decoder. A failed call raises what docker-py raises
    (``APIError`` with the status); an answer that is not a listing raises
    msgspec's error: ``engineclient.engine_calls`` makes both EngineErrors."""

    def __init__(self, api: docker.APIClient, services: msgspec.json.Decoder,
                 tasks: msgspec.json.Decoder) -> None:
        self._api = api
        self._decoders = {"services": services, "tasks": tasks}

    def services(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        return self._list("services", filters)

    def tasks(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        return self._list("tasks", filters)

    def _list(self, what: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        api = self._api
        # what docker-py's own services() and tasks() send, with the answer
        # left as bytes
        content = api._result(api._get(api._url(f"/{what}"), params={
            "filters": docker.utils.convert_filters(filters)}), binary=True)
        return decode(self._decoders[what], content)


def decode(decoder: msgspec.json.Decoder, content: bytes) -> list[dict[str, Any]]:
    """A listing's bytes decoded, with Python's garbage collector paused: the
    tens of thousands of dicts made hold no cycle, and the collector would
    walk them again every 700 made (twice the decode's own time at 10,000
    functions)."""
    with collector_paused():
        return decoder.decode(content)
