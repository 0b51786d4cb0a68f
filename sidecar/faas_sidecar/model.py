"""The routing table: immutable snapshots built by discovery, read by handlers.

Discovery builds a whole new ``RoutingTable`` and swaps one reference; a request
reads the reference once and works on that snapshot (see docs/sidecar.md,
"Discovery"). The label keys and their defaults are ``labels``'.
Other parts of the sidecar (Alexa routing, the system API, metrics) read the
same snapshot and parse the labels they own from ``FunctionSpec.labels``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .callqueue import QueueBounds
from .labels import DEFAULT_PORT, DEFAULT_TIMEOUT
from .queue.labels import DEFAULT_POLICY, AsyncPolicy
from .ratelimit import RateLimit
from .schedule import Schedule
from .webhooks.labels import WebhookCheck

# The Docker events discovery subscribes to (and all the engine gate passes):
# these types, with these actions. Docker matches an action up to its ": "
# detail, so "health_status" covers "health_status: healthy". Left out are the
# actions that change no task listing: exec_* above all (each health check
# makes three, and exec_create carries the command line, which can hold a
# secret), and attach, resize, top, copy, export, commit, rename, pause.
EVENT_TYPES = ("service", "container", "network", "node")
EVENT_ACTIONS = (
    "create", "update", "remove",                   # services, nodes, networks
    "start", "die", "kill", "stop", "destroy",      # containers
    "health_status",
    "connect", "disconnect",                        # networks
)


@dataclass(frozen=True, slots=True)
class Replica:
    """One running, ready task of a function, reachable at ``address:port``."""

    task_id: str
    address: str
    port: int
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A function as its service labels describe it (docs/labels.md)."""

    name: str
    service_id: str
    service_name: str
    image: str
    port: int = DEFAULT_PORT
    timeout: float = DEFAULT_TIMEOUT
    desired_replicas: int | None = None  # None for global services
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    replicas: tuple[Replica, ...] = ()
    webhook: WebhookCheck | None = None  # the signature every request must carry
    rate_limit: RateLimit | None = None  # calls a second this sidecar lets through
    # swarmfaas.scale.zero (or OpenFaaS's): a request at zero waits for a start
    scales_to_zero: bool = False
    # swarmfaas.scale.type=cpu (or OpenFaaS's): the sidecar keeps its replicas'
    # CPU reports (cpumeter.py); other functions' reports are only taken out
    measures_cpu: bool = False
    # max_inflight in the service's environment: full replicas queue calls
    queue: QueueBounds | None = None
    # Docker's newest task error while no replica is ready (an image that
    # cannot start): the 503's reason names it
    task_error: str = ""
    # swarmfaas.async*: how stored calls of it are delivered (and whether
    # /function/<name> stores them too)
    async_policy: AsyncPolicy = DEFAULT_POLICY
    schedule: Schedule | None = None  # swarmfaas.schedule: invoked on each tick


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """A complete, immutable snapshot of the routable functions."""

    functions: Mapping[str, FunctionSpec] = field(default_factory=lambda: MappingProxyType({}))
    built_at: float = 0.0  # time.time() when the snapshot was built
    generation: int = 0
    # Labelled services that are not routable, by service name -> why (bad label,
    # duplicate function name). Reported by /system/functions and the logs.
    invalid: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, name: str) -> FunctionSpec | None:
        return self.functions.get(name)


EMPTY_TABLE = RoutingTable()


def slot_maker(cls: type) -> Callable[..., Any]:
    """A function that makes a ``cls``, a frozen slots dataclass, from its
    fields in order, as ``cls(...)`` does positionally, in a fifth of the
    time: where thousands are made at once (the routing table's build). The
    dataclass's ``__init__`` stores each field through ``object.__setattr__``
    (it is frozen); this one stores them into a plain class with the same
    slots, then sets the object's ``__class__`` to ``cls``, which Python
    allows because the two layouts are the same. Generated as dataclasses
    generates ``__init__``: one plain store a field."""
    names: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    namespace = {"cls": cls, "slots": type(f"{cls.__name__}Slots", (), {"__slots__": names})}
    stores = "".join(f"    made.{name} = {name}\n" for name in names)
    source = (f"def make_{cls.__name__}({', '.join(names)}):\n    made = slots()\n{stores}"
              "    made.__class__ = cls\n    return made\n")
    exec(source, namespace)  # the names are the dataclass's fields: identifiers
    return namespace[f"make_{cls.__name__}"]  # type: ignore[return-value]
