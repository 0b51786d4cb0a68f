"""The Docker Engine adapter of discovery: only discovery's calls.

Its client comes from ``engineclient`` (the version pin, the gate's token),
and every failure comes out of it as ``engineclient.EngineError``. docker-py is
blocking; discovery calls these methods from threads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import docker
import msgspec

from . import listing
from .engineclient import API_VERSION, DEFAULT_URL, EngineError, api_client, engine_calls
from .labels import function_filters
from .model import EVENT_ACTIONS, EVENT_TYPES
from .spec import services_without_ready

# API_VERSION and EngineError are engineclient's; named here too for the code
# that imports them from engine.py.
__all__ = ["API_VERSION", "Engine", "EngineError", "EventStream"]
log = logging.getLogger(__name__)
# A task listing naming a service that is gone: the Engine's "no such service",
# the engine gate's "only tasks of functions".
_GONE = (403, 404)
# Discovery's subscription: only what can change a re-list (model.py says why).
EVENT_FILTERS = {"type": list(EVENT_TYPES), "event": list(EVENT_ACTIONS)}


class Engine:
    # How the listings are decoded: to what discovery reads of each document
    # (listing.py); a subclass that needs whole documents says so.
    SERVICES: msgspec.json.Decoder = listing.DISCOVERY_SERVICES
    TASKS: msgspec.json.Decoder = listing.DISCOVERY_TASKS

    def __init__(self, docker_host: str | None, timeout: float = 10.0,
                 token: str | None = None, openfaas: bool = False) -> None:
        self._base_url = docker_host or DEFAULT_URL
        self._timeout = timeout
        self._token = token  # the engine gate's (enginetoken.py)
        # OPENFAAS_FUNCTIONS: also list faas-swarm's function=true services
        self._filters = function_filters(openfaas)
        self._api = self._client()
        self._listings = listing.Listings(self._api, self.SERVICES, self.TASKS)

    def _client(self) -> docker.APIClient:
        return api_client(self._base_url, timeout=self._timeout, token=self._token)

    def list_functions(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Labelled services and their tasks meant to run (one consistent-enough
        view: services first, so a task never refers to a service we have not seen),
        and every task of a function that wants replicas and has none ready.

        Tasks are asked for by service ID: only functions' tasks, which is all the
        engine gate lets through (other services' task specs are not the
        sidecar's to read). A function removed between the two calls makes the
        task listing fail (404 from the Engine, 403 from the gate): the services
        are listed again and, if one of them went away, the rest are asked for
        again; if that fails too (more went away meanwhile, as a stack being
        removed does), one function at a time. A function left out that way is
        logged and is in neither list, so nobody acts on it; a refusal of a
        function that is still listed is a real refusal and raises."""
        services = self._services()
        try:
            return services, self._tasks_of(services)
        except EngineError as exc:
            if exc.status not in _GONE:
                raise
            fresh = self._services()
            if not _gone(services, fresh):
                raise  # nothing went away: the refusal is real
        log.info("function service(s) %s went away while listed: left out", _names(
            _gone(services, fresh)))
        try:
            return fresh, self._tasks_of(fresh)
        except EngineError as exc:
            if exc.status not in _GONE:
                raise
        return self._one_at_a_time(fresh)

    def _one_at_a_time(self, services: list[dict[str, Any]]
                       ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Each function's tasks in a call of its own; one whose call fails as
        gone is left out once a last listing shows it gone."""
        kept, tasks, refused = [], [], []
        for service in services:
            try:
                tasks += self._tasks_of([service])
            except EngineError as exc:
                if exc.status not in _GONE:
                    raise
                refused.append((service, exc))
            else:
                kept.append(service)
        if refused:
            still = {s.get("ID") for s in self._services()}
            for service, exc in refused:
                if service.get("ID") in still:
                    raise exc  # refused, yet there: a real refusal
            log.info("function service(s) %s went away while listed: left out",
                     _names([s for s, _ in refused]))
        return kept, tasks

    def _tasks_of(self, services: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not services:
            return []
        with engine_calls("listing services and tasks"):
            tasks = self._listings.tasks(filters={
                "desired-state": "running", "service": [s["ID"] for s in services]})
            stuck = services_without_ready(services, tasks)
            if stuck:
                # A function with no ready task: its failed tasks too (their
                # desired state is shutdown by then), for Docker's error.
                seen = {t.get("ID") for t in tasks}
                tasks += [t for t in self._listings.tasks(filters={"service": stuck})
                          if t.get("ID") not in seen]
            return tasks

    def _services(self) -> list[dict[str, Any]]:
        """Every service one of the filters lists, once (a service with both
        marks is in both listings)."""
        found: dict[str, dict[str, Any]] = {}
        with engine_calls("listing services and tasks"):
            for label in self._filters:
                for service in self._listings.services(filters={"label": label}):
                    found.setdefault(service["ID"], service)
        return list(found.values())

    def network_id(self, network: str) -> str:
        """The ID of the network named (or with the ID) ``network``."""
        with engine_calls(f"inspecting network {network!r}"):
            return self._api.inspect_network(network)["Id"]

    def events(self) -> EventStream:
        """Subscribe now; iterate the returned stream for events (blocking)."""
        # A separate client: the stream holds its connection for as long as it lives.
        api = self._client()
        with engine_calls("subscribing to Docker events"):
            stream = api.events(decode=True, filters=EVENT_FILTERS)
        return EventStream(api, stream)

    def close(self) -> None:
        self._api.close()


def _gone(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The services listed before and not after."""
    now = {s.get("ID") for s in after}
    return [s for s in before if s.get("ID") not in now]


def _names(services: list[dict[str, Any]]) -> str:
    return ", ".join(str((s.get("Spec") or {}).get("Name") or s.get("ID")) for s in services)


class EventStream:
    def __init__(self, api: docker.APIClient, stream: Any) -> None:
        self._api = api
        self._stream = stream

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with engine_calls("reading Docker events"):
            yield from self._stream

    def close(self) -> None:
        """Safe from another thread: unblocks the reader."""
        with suppress(Exception):
            self._stream.close()
        self._api.close()
