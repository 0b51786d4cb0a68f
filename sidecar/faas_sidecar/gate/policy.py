"""What the engine gate lets through to the Docker Engine (pure, no IO).

The sidecar needs a small part of the Engine API: read functions and their
tasks, networks, secrets' names and events; create, update and remove services that
are functions. Everything else is refused, so a compromised sidecar cannot
start a privileged container, mount the host or the Docker socket, publish a
port, attach a platform secret, or touch a service that is not a function.

``route`` classifies a request by method and path. ``violations`` lists what a
service spec does beyond what a function deployed by the system API needs;
a create must have none, an update may keep the ones the service already has
(the operator put them there with ``docker stack deploy``) but add none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import parse_qs

from faas_sidecar.allowlist import allowed
from faas_sidecar.containment import FUNCTION_LOG_DRIVER, FUNCTION_LOG_OPTIONS
from faas_sidecar.labels import (
    FUNCTION,
    FUNCTION_FILTER,
    SECRET,
    SECRET_FILTER,
    function_filters,
)
from faas_sidecar.model import EVENT_ACTIONS, EVENT_TYPES
from faas_sidecar.spec import is_function

_DIGEST_RE = re.compile(r"@sha256:[a-f0-9]{64}$")


class Kind(Enum):
    PASS = "pass"                          # read-only, no function data at stake
    LIST_FUNCTIONS = "list functions"      # GET /services: only with the function filter
    LIST_FUNCTION_TASKS = "list tasks"     # GET /tasks: only of services that are functions
    EVENTS = "events"                      # GET /events: only the types and actions discovery needs
    FUNCTION_READ = "function read"        # the service must be a function
    FUNCTION_LOGS = "function logs"        # a function's service logs, known parameters only
    SECRET_CREATE = "secret create"        # a platform secret: prefixed name, label, no driver
    SECRET_REMOVE = "secret remove"        # the secret must be a platform secret
    CREATE = "create"                      # the new spec must have no violation
    UPDATE = "update"                      # a function; no violation it did not have
    REMOVE = "remove"                      # the service must be a function
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Route:
    kind: Kind
    target: str = ""    # the id or name in the path, if any
    reason: str = ""    # why, when denied


_ID = r"(?P<id>[A-Za-z0-9][A-Za-z0-9_.-]{0,127})"
_ROUTES: tuple[tuple[frozenset[str], re.Pattern[str], Kind], ...] = tuple(
    (frozenset(methods.split()), re.compile(rf"^{path}$"), kind)
    for methods, path, kind in (
        ("GET HEAD", r"/_ping", Kind.PASS),
        ("GET", r"/version", Kind.PASS),
        ("GET", r"/events", Kind.EVENTS),
        ("GET", r"/tasks", Kind.LIST_FUNCTION_TASKS),
        ("GET", rf"/networks/{_ID}", Kind.PASS),
        ("GET", r"/secrets", Kind.PASS),       # names and labels; Docker never returns data
        ("GET", r"/services", Kind.LIST_FUNCTIONS),
        ("GET", rf"/services/{_ID}", Kind.FUNCTION_READ),
        ("GET", rf"/services/{_ID}/logs", Kind.FUNCTION_LOGS),
        ("POST", r"/secrets/create", Kind.SECRET_CREATE),
        ("DELETE", rf"/secrets/{_ID}", Kind.SECRET_REMOVE),
        ("POST", r"/services/create", Kind.CREATE),
        ("POST", rf"/services/{_ID}/update", Kind.UPDATE),
        ("DELETE", rf"/services/{_ID}", Kind.REMOVE),
    )
)
_VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/)")


def route(method: str, path: str) -> Route:
    """The kind of an Engine API request; ``path`` without the query string."""
    bare = _VERSION_PREFIX.sub("", path, count=1)
    for methods, pattern, kind in _ROUTES:
        match = pattern.match(bare)
        if match and method in methods:
            return Route(kind, target=match.groupdict().get("id") or "")
    return Route(Kind.DENY, reason=f"the engine gate does not allow {method} {bare}")


def _filter_values(query: str, key: str) -> list[str] | None:
    """The values of one Engine API filter in a query string (its list form or
    the older ``{"value": true}`` form); None when absent or malformed."""
    raw = parse_qs(query).get("filters")
    if not raw:
        return None
    try:
        filters = json.loads(raw[-1])
    except ValueError:
        return None
    values = filters.get(key) if isinstance(filters, dict) else None
    if isinstance(values, dict):
        values = [value for value, on in values.items() if on is True]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    return values


_PING = re.compile(r"(/v\d+\.\d+)?/_ping")


def needs_token(path: str) -> bool:
    """Every call needs the sidecar's token but ``/_ping``, which the gate's
    own health check makes from inside its container and which tells nothing
    but that the Engine answers."""
    return _PING.fullmatch(path) is None


def lists_only_functions(query: str, openfaas: bool = False) -> bool:
    """True when GET /services carries the filter label=swarmfaas.function=true
    (with ``openfaas``, OPENFAAS_FUNCTIONS, or faas-swarm's label=function=true:
    Docker ANDs label filters, so either one alone limits the listing)."""
    values = _filter_values(query, "label") or []
    return any(mark in values for mark in function_filters(openfaas))


def events_allowed(query: str) -> bool:
    """True when GET /events asks only for the events discovery uses: types
    within model.EVENT_TYPES (not images, volumes, plugins, secrets, configs or
    the daemon's own) and actions within model.EVENT_ACTIONS (never exec_*,
    whose exec_create carries a command line)."""
    types = _filter_values(query, "type")
    actions = _filter_values(query, "event")
    return (bool(types) and set(types) <= set(EVENT_TYPES)
            and bool(actions) and set(actions) <= set(EVENT_ACTIONS))


def task_services(query: str) -> list[str]:
    """The services GET /tasks asks about (its ``service`` filter); empty when it
    asks about every service, which the gate refuses."""
    return _filter_values(query, "service") or []


# The parameters of GET /services/{id}/logs that the system API's /system/logs
# sends; anything else (a future option) is refused rather than passed blind.
LOG_PARAMETERS = frozenset({"stdout", "stderr", "timestamps", "details", "follow", "tail",
                            "since"})


def refuse_logs_query(query: str) -> str | None:
    """Why GET /services/{id}/logs may not carry this query string, or None."""
    unknown = sorted(set(parse_qs(query, keep_blank_values=True)) - LOG_PARAMETERS)
    if unknown:
        return ("the engine gate reads service logs only with the parameters "
                f"{', '.join(sorted(LOG_PARAMETERS))}; not: {', '.join(unknown[:5])}")
    return None


def is_platform_secret(secret: Mapping[str, Any], prefix: str) -> bool:
    """A Docker secret (inspect JSON) the system API made: prefixed name and label."""
    spec = secret.get("Spec") or {}
    return (str(spec.get("Name") or "").startswith(prefix)
            and (spec.get("Labels") or {}).get(SECRET) == "true")


def refuse_secret_create(spec: Mapping[str, Any], prefix: str) -> str | None:
    """Why a SecretSpec may not be created, or None: only a plain secret (no
    driver, no templating) named ``<prefix>...``, labelled exactly
    ``swarmfaas.secret=true``."""
    found = []
    name = spec.get("Name")
    if not isinstance(name, str) or not name.startswith(prefix) or name == prefix:
        found.append(f"the name must start with the platform's prefix {prefix!r}")
    if spec.get("Labels") != {SECRET: "true"}:
        found.append(f"the labels must be exactly {SECRET_FILTER}")
    for key in ("Driver", "Templating"):
        if spec.get(key):
            found.append(f"{key} (only plain secrets)")
    if not found:
        return None
    return "the engine gate refuses to create this secret: " + "; ".join(found)


def refuse_secret_remove(current: Mapping[str, Any], prefix: str) -> str | None:
    if is_platform_secret(current, prefix):
        return None
    return (f"the engine gate removes only secrets named {prefix}* and labelled "
            f"{SECRET_FILTER}")


@dataclass(frozen=True, slots=True)
class SpecRules:
    """What a function's spec may use: the functions network (its name and id),
    the same image and secret allowlists as the system API, and the platform's
    own secrets. Docker checks that a reference's SecretName is its SecretID's
    name, so the name checked here is the secret's."""

    networks: frozenset[str]
    image_allowlist: tuple[str, ...]
    secret_allowlist: tuple[str, ...]
    # SYSTEM_SECRET_PREFIX: the platform's own secrets (/system/secrets), which
    # any function may get; None: only the allowlist
    secret_prefix: str | None = None


def violations(spec: Mapping[str, Any], rules: SpecRules) -> frozenset[str]:
    """Everything in a ServiceSpec that a function does not need; empty if none.

    Each entry is a stable sentence, so the entries of two specs compare."""
    found: set[str] = set()
    if (spec.get("Labels") or {}).get(FUNCTION) != "true":
        found.add(f"the service is not labelled {FUNCTION_FILTER}")
    task = spec.get("TaskTemplate") or {}
    if task.get("Runtime") not in (None, "", "container"):
        found.add(f"runtime {task.get('Runtime')!r} (only containers)")
    for key in ("PluginSpec", "NetworkAttachmentSpec"):
        if task.get(key):
            found.add(f"TaskTemplate.{key} (only containers)")
    log_driver = task.get("LogDriver") or {}
    if log_driver and (log_driver.get("Name") != FUNCTION_LOG_DRIVER
                       or (log_driver.get("Options") or {}) != FUNCTION_LOG_OPTIONS):
        found.add(f"log driver {log_driver.get('Name')!r} (only the platform's "
                  f"rotated {FUNCTION_LOG_DRIVER})")
    container = task.get("ContainerSpec") or {}
    image = str(container.get("Image") or "")
    if not allowed(_DIGEST_RE.sub("", image), rules.image_allowlist):
        found.add(f"image {image!r} is not in the image allowlist")
    for mount in container.get("Mounts") or []:
        if mount.get("Type") != "tmpfs":
            found.add(f"{mount.get('Type') or 'volume'} mount {mount.get('Source') or ''!s}"
                      f" -> {mount.get('Target')}")
    privileges = container.get("Privileges") or {}
    for key, value in sorted(privileges.items()):
        if value:
            found.add(f"privileges: {key}")
    for key in ("CapabilityAdd", "Sysctls", "Configs"):
        if container.get(key):
            found.add(f"ContainerSpec.{key}")
    if container.get("Isolation") not in (None, "", "default"):
        found.add(f"isolation {container['Isolation']!r}")
    for secret in container.get("Secrets") or []:
        name = str(secret.get("SecretName") or secret.get("SecretID") or "")
        if not allowed(name, rules.secret_allowlist) and not (  # the system API's check
                rules.secret_prefix and name.startswith(rules.secret_prefix)):
            found.add(f"secret {name!r} is not in the secret allowlist")
    attached = [*(task.get("Networks") or []), *(spec.get("Networks") or [])]
    for network in attached:
        target = str(network.get("Target") or "")
        if target not in rules.networks:
            found.add(f"network {target!r} (only the functions network)")
    if ((spec.get("EndpointSpec") or {}).get("Ports")):
        found.add("published ports (functions are reached through the sidecar)")
    return frozenset(found)


def refuse_create(spec: Mapping[str, Any], rules: SpecRules) -> str | None:
    """Why a new service may not be created, or None."""
    found = violations(spec, rules)
    return _sentence("create", found) if found else None


def refuse_update(current: Mapping[str, Any], spec: Mapping[str, Any],
                  rules: SpecRules, openfaas: bool = False) -> str | None:
    """Why ``current`` (the service's inspect JSON) may not take ``spec``, or None.
    With ``openfaas`` a faas-swarm function (function=true) counts as a function:
    an update adds no violation it did not have, as for any other."""
    if not is_function(current, openfaas):
        return "the engine gate only updates services labelled " + FUNCTION_FILTER
    added = violations(spec, rules) - violations(current.get("Spec") or {}, rules)
    return _sentence("update", added) if added else None


def refuse_function_only(current: Mapping[str, Any], action: str,
                         openfaas: bool = False) -> str | None:
    if is_function(current, openfaas):
        return None
    return f"the engine gate only lets the sidecar {action} services labelled {FUNCTION_FILTER}"


def _sentence(action: str, found: Iterable[str]) -> str:
    return f"the engine gate refuses to {action} this service: " + "; ".join(sorted(found))


# --- the scaler's narrow rule ---------------------------------------------------
# A caller with the scaler's token (ENGINE_GATE_SCALER_TOKEN_FILE) lists functions
# and their tasks and changes one thing: a function's replica count.
SCALER_KINDS = frozenset({Kind.PASS, Kind.LIST_FUNCTIONS, Kind.LIST_FUNCTION_TASKS,
                          Kind.UPDATE})


def refuse_for_scaler(kind: Kind) -> str | None:
    """Why the scaler may not make a call of this kind, or None."""
    if kind in SCALER_KINDS:
        return None
    return (f"the engine gate lets the scaler only list functions and set their replica "
            f"count, not {kind.value}")


def _but_replicas(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with its replica count blanked out."""
    mode = spec.get("Mode") or {}
    replicated = mode.get("Replicated")
    if not isinstance(replicated, dict):
        return dict(spec)
    return {**spec, "Mode": {**mode, "Replicated": {**replicated, "Replicas": None}}}


def refuse_scale(current: Mapping[str, Any], spec: Mapping[str, Any],
                 openfaas: bool = False) -> str | None:
    """Why ``spec`` is more than a new replica count for ``current`` (the service's
    inspect JSON), or None: the scaler's update must be the service's own spec
    with only ``Mode.Replicated.Replicas`` changed."""
    if not is_function(current, openfaas):
        return "the engine gate lets the scaler scale only services labelled " + FUNCTION_FILTER
    before = current.get("Spec") or {}
    if not isinstance((before.get("Mode") or {}).get("Replicated"), dict):
        return "the engine gate lets the scaler scale only replicated services"
    replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        return "the scaler's update must set Mode.Replicated.Replicas to a count"
    if _but_replicas(spec) != _but_replicas(before):
        return ("the engine gate lets the scaler change only the replica count; this update "
                "changes more of the service's spec")
    return None
