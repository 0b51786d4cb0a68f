"""Pure parsing of Docker Engine JSON into the routing model (docs/labels.md).

No IO here: services and tasks come in as the dicts the Engine API returns
(``GET /services``, ``GET /tasks``), a ``RoutingTable`` comes out.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple

from . import labels as keys
from .labels import NAME_RE, is_valid_name
from .model import FunctionSpec, Replica, RoutingTable, slot_maker
from .spec_settings import Settings, SettingsKey
from .spec_settings import cached as cached_settings


class InvalidFunction(ValueError):
    """A labelled service whose labels cannot make a routable function."""


def marks_function(labels: Mapping[str, str], openfaas: bool = False) -> bool:
    """``swarmfaas.function=true``; with ``openfaas`` (the OPENFAAS_FUNCTIONS
    setting) also faas-swarm's ``function=true``."""
    return labels.get(keys.FUNCTION) == "true" or (
        openfaas and labels.get(keys.OPENFAAS_FUNCTION) == "true")


def is_function(service: Mapping[str, Any], openfaas: bool = False) -> bool:
    return marks_function((service.get("Spec") or {}).get("Labels") or {}, openfaas)


def is_platform_function(service: Mapping[str, Any], network: str, network_id: str | None,
                         openfaas: bool = False) -> bool:
    """The one rule of which services are this platform's functions, for
    routing and the system API alike: marked a function (``marks_function``)
    and attached to the functions network, by name or ID. Without the
    network's ID nothing can be checked: ours are taken as they are, and
    faas-swarm's ``function=true`` (``openfaas``) is never taken, so a service
    off the functions network is never one."""
    spec = service.get("Spec") or {}
    labels = spec.get("Labels") or {}
    if not marks_function(labels, openfaas):
        return False
    if network_id is None:
        return marks_function(labels)
    # service_networks(service) & {network, network_id}, without building sets
    # or a generator: this runs for every service of every re-list
    for attached in _networks(spec):  # noqa: SIM110 (a generator costs more here)
        if attached.get("Target", "") in (network, network_id):
            return True
    return False


def function_name(service_name: str, labels: Mapping[str, str]) -> str:
    """The function name: the label, else the service name minus its stack prefix."""
    if keys.NAME in labels:
        return labels[keys.NAME]
    stack = labels.get(keys.STACK_NAMESPACE)
    if stack and service_name.startswith(stack + "_"):
        return service_name[len(stack) + 1 :]
    return service_name


class ParsedService(NamedTuple):
    """A service as parsed: its FunctionSpec but for the replicas and the task
    error, which come from the tasks (``function_spec`` joins them)."""

    name: str
    service_id: str
    service_name: str
    image: str
    desired_replicas: int | None
    labels: Mapping[str, str]
    settings: Settings


def read_service(service: Mapping[str, Any], openfaas: bool = False,
                 cache: dict[SettingsKey, Settings | str] | None = None) -> ParsedService:
    """A labelled service, parsed; raises InvalidFunction. ``cache`` is one
    build's (``spec_settings.cached``): services sharing settings labels share
    one parse of them."""
    spec = service.get("Spec") or {}
    labels: dict[str, str] = dict(spec.get("Labels") or {})
    if not marks_function(labels, openfaas):
        raise InvalidFunction(f"the service is not labelled {keys.FUNCTION}=true")
    service_name = spec.get("Name", "")
    name = function_name(service_name, labels)
    if not is_valid_name(name):
        raise InvalidFunction(
            f"function name {name!r} does not match {NAME_RE.pattern} (set {keys.NAME})"
        )
    mode = spec.get("Mode") or {}
    replicated = mode.get("Replicated")
    desired = int(replicated.get("Replicas", 0)) if replicated is not None else None
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    image = container.get("Image", "")
    settings = cached_settings(labels, container.get("Env"), {} if cache is None else cache)
    if isinstance(settings, str):
        raise InvalidFunction(settings)
    return ParsedService(name, service.get("ID", ""), service_name,
                         image.split("@", 1)[0],  # drop the digest docker appends
                         desired, MappingProxyType(labels), settings)


make_function_spec = slot_maker(FunctionSpec)  # FunctionSpec(...), positional only, faster


def function_spec(parsed: ParsedService, replicas: tuple[Replica, ...] = (),
                  task_error: str = "") -> FunctionSpec:
    """The FunctionSpec of a parsed service with these replicas. Through
    ``make_function_spec``: this runs once per function per build."""
    s = parsed.settings
    return make_function_spec(
        parsed.name, parsed.service_id, parsed.service_name, parsed.image, s.port, s.timeout,
        parsed.desired_replicas, parsed.labels, replicas, s.webhook, s.rate_limit,
        s.scales_to_zero, s.measures_cpu, s.queue, task_error, s.async_policy, s.schedule)


def parse_service(service: Mapping[str, Any], openfaas: bool = False) -> FunctionSpec:
    """A labelled service as a FunctionSpec without replicas; raises InvalidFunction."""
    return function_spec(read_service(service, openfaas))


def service_networks(service: Mapping[str, Any]) -> set[str]:
    """Networks (IDs or names, as given) the service's tasks are attached to."""
    return {n.get("Target", "") for n in _networks(service.get("Spec") or {})}


def _networks(spec: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    return (spec.get("TaskTemplate") or {}).get("Networks") or spec.get("Networks") or ()


def task_address(task: Mapping[str, Any], network: str) -> str | None:
    """The task's IP on the network named (or with the ID) ``network``."""
    for attachment in task.get("NetworksAttachments") or ():
        net = attachment.get("Network") or {}
        if network not in (net.get("ID"), (net.get("Spec") or {}).get("Name")):
            continue
        for cidr in attachment.get("Addresses") or ():
            return cidr.split("/", 1)[0]
    return None


def task_is_ready(task: Mapping[str, Any]) -> bool:
    """Running, meant to keep running. Swarm reports a container that has a
    healthcheck as ``starting`` until its first healthy check (verified on
    Engine 20.10), and fails the task when it turns unhealthy; a task being
    scaled away or replaced gets desired state ``shutdown``/``remove`` before
    its container is stopped, so it leaves here first."""
    return task.get("DesiredState") == "running" and (task.get("Status") or {}).get(
        "State"
    ) == "running"


def task_is_settling(task: Mapping[str, Any]) -> bool:
    """A task on its way in or out: the table will change soon, re-list again."""
    return _settling(task.get("DesiredState"), (task.get("Status") or {}).get("State"))


STARTING_STATES = frozenset({"new", "pending", "assigned", "accepted", "preparing", "ready",
                             "starting"})


def _settling(desired: Any, state: Any) -> bool:
    if desired == "running":
        return state in STARTING_STATES
    return state == "running"


FAILED_STATES = frozenset({"rejected", "failed"})


def task_failure(task: Mapping[str, Any]) -> tuple[str, str] | None:
    """(when, what Docker says) for a task that could not start or died: its
    state rejected or failed, or an error set; None for any other task."""
    status = task.get("Status") or {}
    state = status.get("State", "")
    error = status.get("Err") or ""
    if state not in FAILED_STATES and not error:
        return None
    detail = error or status.get("Message") or "no detail"
    return status.get("Timestamp", ""), f"task {state or 'error'}: {detail}"


def wants_replicas(service: Mapping[str, Any]) -> bool:
    """A global service, or a replicated one with a count above 0."""
    mode = (service.get("Spec") or {}).get("Mode") or {}
    if "Global" in mode:
        return True
    return int((mode.get("Replicated") or {}).get("Replicas", 0)) > 0


def services_without_ready(services: Iterable[Mapping[str, Any]],
                           tasks: Iterable[Mapping[str, Any]]) -> list[str]:
    """IDs of services that want replicas and have no ready task among
    ``tasks``: their failed tasks (desired state shutdown by then) are worth
    listing for Docker's error (``task_failure``)."""
    ready = {t.get("ServiceID") for t in tasks if task_is_ready(t)}
    return [s.get("ID", "") for s in services
            if wants_replicas(s) and s.get("ID") not in ready]


def parse_task(task: Mapping[str, Any], network: str, port: int) -> Replica | None:
    """The task's replica, or None when it is not ready or not on ``network``."""
    found = read_task(task, network, port)
    return found if isinstance(found, Replica) else None


def read_task(task: Mapping[str, Any], network: str, port: int) -> Replica | bool:
    """``parse_task`` and ``task_is_settling`` in one reading of the states:
    the task's replica, else whether it is settling (a task with a replica
    is ready, and a ready task never settles)."""
    desired = task.get("DesiredState")
    state = (task.get("Status") or {}).get("State")
    if desired == "running" and state == "running":  # task_is_ready
        address = task_address(task, network)
        if address is not None:
            return make_replica(task.get("ID", ""), address, port, task.get("NodeID", ""))
    return _settling(desired, state)


make_replica = slot_maker(Replica)  # Replica(...), positional only, faster: once a task


def _version(doc: Mapping[str, Any]) -> int | None:
    """The Engine's version of a service or task: it changes with every update
    of that object in the swarm's store, so (ID, version) names its content."""
    index = (doc.get("Version") or {}).get("Index")
    return index if isinstance(index, int) else None


@dataclass(frozen=True, slots=True)
class ParseMemo:
    """What one build parsed, by (ID, Engine version): the next build parses
    only the services and tasks that changed since, and keeps the very
    FunctionSpec objects of functions that did not change. Discovery still
    re-lists everything and the table is still whole; only the parsing of
    unchanged documents is skipped (docs/scaling-out.md has the figures).
    Valid for one network, and one choice of OPENFAAS_FUNCTIONS: a build
    with others ignores it."""

    network: str = ""
    network_id: str | None = None
    openfaas: bool = False
    # (service ID, version) -> the service parsed, or why it is not routable
    services: Mapping[tuple[str, int], ParsedService | str] = field(
        default_factory=lambda: MappingProxyType({}))
    # (task ID, version, port) -> its replica, else whether it is settling
    tasks: Mapping[tuple[str, int, int], Replica | bool] = field(
        default_factory=lambda: MappingProxyType({}))
    # function name -> its service parsed, and the last table's FunctionSpec
    # made from that (the table's own mapping)
    parsed: Mapping[str, ParsedService] = field(default_factory=lambda: MappingProxyType({}))
    functions: Mapping[str, FunctionSpec] = field(default_factory=lambda: MappingProxyType({}))


EMPTY_MEMO = ParseMemo()


@dataclass(frozen=True, slots=True)
class BuildResult:
    table: RoutingTable
    settling: bool  # some function task is starting or stopping
    memo: ParseMemo = EMPTY_MEMO  # give it to the next build


def _read_service_memo(service: Mapping[str, Any], network: str, network_id: str | None,
                       openfaas: bool, old: Mapping, new: dict,
                       cache: dict[SettingsKey, Settings | str]) -> ParsedService | str | None:
    """A listed service parsed, or why it is not routable, through the memo;
    None when it is not one of the platform's functions. A service the memo
    has at this version is the same document: one of the platform's functions
    then (the memo holds no other, and is for this network and this
    ``openfaas``), so one now, and a re-list of unchanged services reads only
    their IDs and versions, not their labels and networks too."""
    key = (service.get("ID", ""), _version(service))
    if key[1] is not None and type(key[0]) is str:  # the Engine's: a key that hashes
        found = old.get(key)
        if found is not None:
            new[key] = found
            return found
    if not is_platform_function(service, network, network_id, openfaas):
        return None
    return _parse_service_memo(service, old, new, openfaas, cache)


def _parse_service_memo(service: Mapping[str, Any], old: Mapping, new: dict,
                        openfaas: bool, cache: dict[SettingsKey, Settings | str],
                        ) -> ParsedService | str:
    key = (service.get("ID", ""), _version(service))
    if key[1] is not None and key in old:
        parsed = old[key]
    else:
        try:
            parsed = read_service(service, openfaas, cache)
        except InvalidFunction as exc:
            parsed = str(exc)
    if key[1] is not None:
        new[key] = parsed
    return parsed


def _parse_task_memo(task: Mapping[str, Any], network: str, port: int, old: Mapping,
                     new: dict) -> Replica | bool:
    """``read_task`` through the memo. It keeps one object a task, not a
    (replica, settling) pair: fewer objects for the garbage collector."""
    version = _version(task)
    if version is None:
        return read_task(task, network, port)
    key = (task.get("ID", ""), version, port)
    parsed = old.get(key)  # a replica or a bool: never None
    if parsed is None:
        parsed = read_task(task, network, port)
    new[key] = parsed
    return parsed


_TASK_ID = attrgetter("task_id")


def oldest_first(services: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Services by (CreatedAt, ID), a missing one taken as "".

    Two stable sorts, by ID then by CreatedAt, give the very order of one sort
    by the pair, with string keys: no tuple a service to allocate (and for the
    garbage collector to count), and CPython's fast path for comparing str.
    A document without either key (KeyError) or with keys of mixed types
    (TypeError) is sorted by the pair, which behaves as it always has."""
    listed = list(services)
    try:
        ordered = sorted(listed, key=itemgetter("ID"))
        ordered.sort(key=itemgetter("CreatedAt"))
        return ordered
    except (KeyError, TypeError):
        return sorted(listed, key=lambda s: (s.get("CreatedAt", ""), s.get("ID", "")))


def build_table(
    services: Iterable[Mapping[str, Any]],
    tasks: Iterable[Mapping[str, Any]],
    network: str,
    *,
    generation: int,
    built_at: float,
    network_id: str | None = None,
    memo: ParseMemo = EMPTY_MEMO,
    openfaas: bool = False,
) -> BuildResult:
    """A whole new table from one listing of services and tasks.

    With ``network_id``, only services attached to the functions network
    (by name or ID) are considered: a function of another stack on the same
    swarm, on another functions network, belongs to another sidecar.
    ``memo`` is the previous build's (``BuildResult.memo``): documents whose
    version it has seen are not parsed again. ``openfaas`` (OPENFAAS_FUNCTIONS)
    also takes faas-swarm's ``function=true`` services, and only once the
    network's ID is known: never a service off the functions network.
    """
    if (memo.network, memo.network_id, memo.openfaas) != (network, network_id, openfaas):
        memo = EMPTY_MEMO
    with collector_paused():
        return _build(services, tasks, network, generation, built_at, network_id, memo,
                      openfaas)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a while, then as it was. A
    build makes tens of thousands of objects, none of them in a cycle: each
    700 made would set off a pass over the young ones, and each tenth pass one
    over the older ones too, in the middle of the build."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build(services: Iterable[Mapping[str, Any]], tasks: Iterable[Mapping[str, Any]],
           network: str, generation: int, built_at: float, network_id: str | None,
           memo: ParseMemo, openfaas: bool) -> BuildResult:
    invalid: dict[str, str] = {}
    by_name: dict[str, ParsedService] = {}
    seen_services: dict[tuple[str, int], ParsedService | str] = {}
    settings_cache: dict[SettingsKey, Settings | str] = {}  # this build's only
    # Oldest service wins a contested name, so a new deploy cannot hijack one.
    for service in oldest_first(services):
        spec = _read_service_memo(service, network, network_id or None, openfaas,
                                  memo.services, seen_services, settings_cache)
        if spec is None:
            continue
        if isinstance(spec, str):
            invalid[(service.get("Spec") or {}).get("Name", "")] = spec
            continue
        if spec.name in by_name:
            invalid[spec.service_name] = (
                f"function name {spec.name!r} is already used by service "
                f"{by_name[spec.name].service_name!r}"
            )
            continue
        by_name[spec.name] = spec

    by_service = {spec.service_id: spec for spec in by_name.values()}
    replicas: dict[str, list[Replica]] = {name: [] for name in by_name}
    seen_tasks: dict[tuple[str, int, int], Replica | bool] = {}
    settling = False
    failures: dict[str, tuple[str, str]] = {}  # function -> its newest task failure
    for task in tasks:
        owner = by_service.get(task.get("ServiceID", ""))
        if owner is None:
            continue
        name = owner.name
        parsed = _parse_task_memo(task, network, owner.settings.port, memo.tasks, seen_tasks)
        if isinstance(parsed, Replica):
            replicas[name].append(parsed)
        else:
            settling = settling or parsed
            failure = task_failure(task)
            if failure is not None and (name not in failures or failure > failures[name]):
                failures[name] = failure

    functions = {}
    for name, spec in by_name.items():
        found = replicas[name]
        # by task ID; one replica, the usual case, needs no sort
        ordered = tuple(found) if len(found) < 2 else tuple(sorted(found, key=_TASK_ID))
        # Docker's error matters only while no replica is ready (the 503's reason)
        error = "" if ordered or name not in failures else failures[name][1]
        last = memo.functions.get(name)
        if (last is not None and memo.parsed.get(name) is spec and last.replicas == ordered
                and last.task_error == error):
            functions[name] = last  # unchanged: the very object of the last table
        else:
            functions[name] = function_spec(spec, ordered, error)
    published = MappingProxyType(functions)  # the table's, and the memo's
    table = RoutingTable(
        functions=published,
        built_at=built_at,
        generation=generation,
        invalid=MappingProxyType(invalid),
    )
    next_memo = ParseMemo(network=network, network_id=network_id, openfaas=openfaas,
                          services=MappingProxyType(seen_services),
                          tasks=MappingProxyType(seen_tasks),
                          parsed=MappingProxyType(by_name), functions=published)
    return BuildResult(table=table, settling=settling, memo=next_memo)

