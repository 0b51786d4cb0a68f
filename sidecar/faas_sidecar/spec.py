"""Pure parsing of Docker Engine JSON into the routing model (docs/labels.md).

No IO here: services and tasks come in as the dicts the Engine API returns
(``GET /services``, ``GET /tasks``), a ``RoutingTable`` comes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import labels as keys
from .callqueue import parse_queue
from .labels import DEFAULT_PORT, DEFAULT_TIMEOUT, MAX_TIMEOUT, NAME_RE, is_valid_name
from .model import FunctionSpec, Replica, RoutingTable
from .queue.labels import parse_async_labels
from .ratelimit import parse_rate_limit
from .scaler.labels import scales_on_cpu, scales_to_zero
from .schedule import parse_schedule
from .webhooks.labels import parse_webhook_labels


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
    if not is_function(service, openfaas):
        return False
    if network_id is None:
        return is_function(service)
    return bool(service_networks(service) & {network, network_id})


def function_name(service_name: str, labels: Mapping[str, str]) -> str:
    """The function name: the label, else the service name minus its stack prefix."""
    if keys.NAME in labels:
        return labels[keys.NAME]
    stack = labels.get(keys.STACK_NAMESPACE)
    if stack and service_name.startswith(stack + "_"):
        return service_name[len(stack) + 1 :]
    return service_name


def _port(labels: Mapping[str, str]) -> int:
    raw = labels.get(keys.PORT)
    if raw is None:
        return DEFAULT_PORT
    if not keys.is_decimal(raw) or not 1 <= int(raw) <= 65535:
        raise InvalidFunction(f"{keys.PORT}={raw!r} is not a port number (1-65535)")
    return int(raw)


def _timeout(labels: Mapping[str, str]) -> float:
    raw = labels.get(keys.TIMEOUT)
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_TIMEOUT:
        raise InvalidFunction(
            f"{keys.TIMEOUT}={raw!r} is not a number of seconds in (0, {MAX_TIMEOUT:.0f}]"
        )
    return value


def parse_service(service: Mapping[str, Any], openfaas: bool = False) -> FunctionSpec:
    """A labelled service as a FunctionSpec without replicas; raises InvalidFunction."""
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
    try:
        webhook = parse_webhook_labels(labels)
        rate_limit = parse_rate_limit(labels)
        queue = parse_queue(labels, container.get("Env"))
        async_policy = parse_async_labels(labels)
        schedule = parse_schedule(labels)
    except keys.LabelError as exc:
        raise InvalidFunction(str(exc)) from None
    return FunctionSpec(
        name=name,
        service_id=service.get("ID", ""),
        service_name=service_name,
        image=image.split("@", 1)[0],  # drop the digest docker appends
        port=_port(labels),
        timeout=_timeout(labels),
        desired_replicas=desired,
        labels=MappingProxyType(labels),
        webhook=webhook,
        rate_limit=rate_limit,
        scales_to_zero=scales_to_zero(labels),
        measures_cpu=scales_on_cpu(labels),
        queue=queue,
        async_policy=async_policy,
        schedule=schedule,
    )


def service_networks(service: Mapping[str, Any]) -> set[str]:
    """Networks (IDs or names, as given) the service's tasks are attached to."""
    spec = service.get("Spec") or {}
    attached = (spec.get("TaskTemplate") or {}).get("Networks") or spec.get("Networks") or ()
    return {n.get("Target", "") for n in attached}


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
    state = (task.get("Status") or {}).get("State")
    desired = task.get("DesiredState")
    if desired == "running":
        return state in {"new", "pending", "assigned", "accepted", "preparing", "ready",
                         "starting"}
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
    if not task_is_ready(task):
        return None
    address = task_address(task, network)
    if address is None:
        return None
    return Replica(task_id=task.get("ID", ""), address=address, port=port,
                   node_id=task.get("NodeID", ""))


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
    Valid for one network: a build on another network ignores it."""

    network: str = ""
    network_id: str | None = None
    # (service ID, version) -> spec without replicas, or why it is not routable
    services: Mapping[tuple[str, int], FunctionSpec | str] = field(
        default_factory=lambda: MappingProxyType({}))
    # (task ID, version, port) -> (replica or None, settling)
    tasks: Mapping[tuple[str, int, int], tuple[Replica | None, bool]] = field(
        default_factory=lambda: MappingProxyType({}))
    # function name -> (its spec without replicas, the last table's FunctionSpec)
    functions: Mapping[str, tuple[FunctionSpec, FunctionSpec]] = field(
        default_factory=lambda: MappingProxyType({}))


EMPTY_MEMO = ParseMemo()


@dataclass(frozen=True, slots=True)
class BuildResult:
    table: RoutingTable
    settling: bool  # some function task is starting or stopping
    memo: ParseMemo = EMPTY_MEMO  # give it to the next build


def _parse_service_memo(service: Mapping[str, Any], old: Mapping, new: dict,
                        openfaas: bool) -> FunctionSpec | str:
    key = (service.get("ID", ""), _version(service))
    if key[1] is not None and key in old:
        parsed = old[key]
    else:
        try:
            parsed = parse_service(service, openfaas)
        except InvalidFunction as exc:
            parsed = str(exc)
    if key[1] is not None:
        new[key] = parsed
    return parsed


def _parse_task_memo(task: Mapping[str, Any], network: str, port: int, old: Mapping,
                     new: dict) -> tuple[Replica | None, bool]:
    key = (task.get("ID", ""), _version(task), port)
    if key[1] is not None and key in old:
        parsed = old[key]
    else:
        parsed = (parse_task(task, network, port), task_is_settling(task))
    if key[1] is not None:
        new[key] = parsed
    return parsed


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
    if (memo.network, memo.network_id) != (network, network_id):
        memo = EMPTY_MEMO
    invalid: dict[str, str] = {}
    by_name: dict[str, tuple[str, FunctionSpec]] = {}
    seen_services: dict[tuple[str, int], FunctionSpec | str] = {}
    # Oldest service wins a contested name, so a new deploy cannot hijack one.
    for service in sorted(services, key=lambda s: (s.get("CreatedAt", ""), s.get("ID", ""))):
        if not is_platform_function(service, network, network_id or None, openfaas):
            continue
        service_name = (service.get("Spec") or {}).get("Name", "")
        spec = _parse_service_memo(service, memo.services, seen_services, openfaas)
        if isinstance(spec, str):
            invalid[service_name] = spec
            continue
        if spec.name in by_name:
            invalid[service_name] = (
                f"function name {spec.name!r} is already used by service "
                f"{by_name[spec.name][1].service_name!r}"
            )
            continue
        by_name[spec.name] = (spec.service_id, spec)

    service_to_name = {sid: name for name, (sid, _) in by_name.items()}
    replicas: dict[str, list[Replica]] = {name: [] for name in by_name}
    seen_tasks: dict[tuple[str, int, int], tuple[Replica | None, bool]] = {}
    settling = False
    failures: dict[str, tuple[str, str]] = {}  # function -> its newest task failure
    for task in tasks:
        name = service_to_name.get(task.get("ServiceID", ""))
        if name is None:
            continue
        replica, task_settling = _parse_task_memo(task, network, by_name[name][1].port,
                                                  memo.tasks, seen_tasks)
        settling = settling or task_settling
        if replica is not None:
            replicas[name].append(replica)
        else:
            failure = task_failure(task)
            if failure is not None and (name not in failures or failure > failures[name]):
                failures[name] = failure

    functions = {}
    built: dict[str, tuple[FunctionSpec, FunctionSpec]] = {}
    for name, (_, spec) in by_name.items():
        ordered = tuple(sorted(replicas[name], key=lambda r: r.task_id))
        # Docker's error matters only while no replica is ready (the 503's reason)
        error = "" if ordered or name not in failures else failures[name][1]
        last = memo.functions.get(name)
        if (last is not None and last[0] is spec and last[1].replicas == ordered
                and last[1].task_error == error):
            functions[name] = last[1]  # unchanged: the very object of the last table
        else:
            functions[name] = _with_replicas(spec, ordered, error)
        built[name] = (spec, functions[name])
    table = RoutingTable(
        functions=MappingProxyType(functions),
        built_at=built_at,
        generation=generation,
        invalid=MappingProxyType(invalid),
    )
    next_memo = ParseMemo(network=network, network_id=network_id,
                          services=MappingProxyType(seen_services),
                          tasks=MappingProxyType(seen_tasks),
                          functions=MappingProxyType(built))
    return BuildResult(table=table, settling=settling, memo=next_memo)


def _with_replicas(spec: FunctionSpec, replicas: tuple[Replica, ...],
                   task_error: str = "") -> FunctionSpec:
    return FunctionSpec(
        name=spec.name,
        service_id=spec.service_id,
        service_name=spec.service_name,
        image=spec.image,
        port=spec.port,
        timeout=spec.timeout,
        desired_replicas=spec.desired_replicas,
        labels=spec.labels,
        replicas=replicas,
        webhook=spec.webhook,
        rate_limit=spec.rate_limit,
        scales_to_zero=spec.scales_to_zero,
        measures_cpu=spec.measures_cpu,
        queue=spec.queue,
        task_error=task_error,
        async_policy=spec.async_policy,
        schedule=spec.schedule,
    )
