"""The Docker Engine adapter of discovery: only discovery's calls.

Its client comes from ``engineclient`` (the version pin, the gate's token),
and every failure comes out of it as ``engineclient.EngineError``. docker-py is
blocking; discovery calls these methods from threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import docker

from .engineclient import API_VERSION, DEFAULT_URL, EngineError, api_client, engine_calls
from .labels import function_filters
from .model import EVENT_ACTIONS, EVENT_TYPES
from .spec import services_without_ready

# API_VERSION and EngineError are engineclient's; named here too for the code
# that imports them from engine.py.
__all__ = ["API_VERSION", "Engine", "EngineError", "EventStream"]
# Discovery's subscription: only what can change a re-list (model.py says why).
EVENT_FILTERS = {"type": list(EVENT_TYPES), "event": list(EVENT_ACTIONS)}


class Engine:
    def __init__(self, docker_host: str | None, timeout: float = 10.0,
                 token: str | None = None, openfaas: bool = False) -> None:
        self._base_url = docker_host or DEFAULT_URL
        self._timeout = timeout
        self._token = token  # the engine gate's (enginetoken.py)
        # OPENFAAS_FUNCTIONS: also list faas-swarm's function=true services
        self._filters = function_filters(openfaas)
        self._api = self._client()

    def _client(self) -> docker.APIClient:
        return api_client(self._base_url, timeout=self._timeout, token=self._token)

    def list_functions(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Labelled services and their tasks meant to run (one consistent-enough
        view: services first, so a task never refers to a service we have not seen),
        and every task of a function that wants replicas and has none ready.

        Tasks are asked for by service ID: only functions' tasks, which is all the
        engine gate lets through (other services' task specs are not the
        sidecar's to read). A function removed between the two calls makes the
        second fail (404 from the Engine, 403 from the gate): list again, once."""
        try:
            return self._functions_and_tasks()
        except EngineError as exc:
            if exc.status not in (403, 404):
                raise
            return self._functions_and_tasks()

    def _functions_and_tasks(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with engine_calls("listing services and tasks"):
            services = self._services()
            if not services:
                return services, []
            tasks = self._api.tasks(filters={
                "desired-state": "running", "service": [s["ID"] for s in services]})
            stuck = services_without_ready(services, tasks)
            if stuck:
                # A function with no ready task: its failed tasks too (their
                # desired state is shutdown by then), for Docker's error.
                seen = {t.get("ID") for t in tasks}
                tasks += [t for t in self._api.tasks(filters={"service": stuck})
                          if t.get("ID") not in seen]
            return services, tasks

    def _services(self) -> list[dict[str, Any]]:
        """Every service one of the filters lists, once (a service with both
        marks is in both listings)."""
        found: dict[str, dict[str, Any]] = {}
        for label in self._filters:
            for service in self._api.services(filters={"label": label}):
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
