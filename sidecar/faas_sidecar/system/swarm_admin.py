"""The Docker edge of the system API: reads and mutations of function services.

docker-py is blocking, so every call runs in a worker thread
(``asyncio.to_thread``) and never on the event loop. The client comes from
``engineclient`` and its exceptions become ``PlatformError`` through
``engineclient.platform_error``; none reaches a handler.
Only services labelled ``swarmfaas.function=true`` are ever found, scaled,
updated or removed: anything else is "no such function".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import docker

from faas_sidecar import errors
from faas_sidecar import labels as keys
from faas_sidecar.errors import PlatformError
from faas_sidecar.labels import FUNCTION_FILTER

from ..engineclient import docker_client
from ..engineclient import platform_error as translate_docker_error
from .payloads import Deployment
from .service_spec import function_name_of, is_function, replicas_of, service_kwargs

log = logging.getLogger(__name__)
T = TypeVar("T")
__all__ = ["SwarmAdmin", "translate_docker_error"]


class SwarmAdmin:
    """Async facade over a docker-py client; one per Sanic worker."""

    def __init__(self, client: docker.DockerClient, *, network: str, service_prefix: str,
                 secret_lookup: Callable[[str], str] | None = None,
                 health_interval: float = 0.0) -> None:
        self._client = client
        self._network = network
        self._prefix = service_prefix
        self._health_interval = health_interval
        self._secret_lookup = secret_lookup or self._secret_id

    @classmethod
    def connect(cls, base_url: str, timeout: float, token: str | None = None,
                **kwargs: Any) -> SwarmAdmin:
        return cls(docker_client(base_url, timeout=timeout, token=token), **kwargs)

    def close(self) -> None:
        self._client.close()

    async def _run(self, action: str, func: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(func, *args)
        except Exception as exc:
            raise translate_docker_error(exc, action) from exc

    # -- reads ---------------------------------------------------------------

    async def list_functions(self) -> list[Mapping[str, Any]]:
        return await self._run("list", self._list_function_attrs)

    async def get_function(self, name: str) -> Mapping[str, Any]:
        service = await self._run("inspect", self._find, name)
        return service.attrs

    # -- mutations -----------------------------------------------------------

    async def deploy(self, deployment: Deployment) -> str:
        return await self._run("deploy", self._deploy, deployment)

    async def update(self, deployment: Deployment) -> None:
        await self._run("update", self._update, deployment)

    async def scale(self, name: str, replicas: int) -> None:
        await self._run("scale", self._scale, name, replicas)

    async def remove(self, name: str) -> None:
        await self._run("remove", self._remove, name)

    # -- blocking helpers, run in a thread -----------------------------------

    def _list_function_attrs(self) -> list[Mapping[str, Any]]:
        services = self._client.services.list(filters={"label": FUNCTION_FILTER})
        # The filter is Docker's; check again so a filter bug can't widen the set.
        return [s.attrs for s in services if is_function(s.attrs)]

    def _find(self, name: str) -> Any:
        services = self._client.services.list(filters={"label": FUNCTION_FILTER})
        matches = [
            s for s in services if is_function(s.attrs) and function_name_of(s.attrs) == name
        ]
        if not matches:
            raise errors.function_not_found(name)
        if len(matches) > 1:
            ids = ", ".join(s.name for s in matches)
            raise errors.ambiguous_function(name, ids)
        return matches[0]

    def _secret_id(self, name: str) -> str:
        for secret in self._client.secrets.list(filters={"name": name}):
            if secret.name == name:
                return secret.id
        raise errors.secret_not_found(name)

    def _deploy(self, deployment: Deployment) -> str:
        try:
            self._find(deployment.name)
        except PlatformError as exc:
            if exc.status != 404:
                raise
        else:
            raise errors.function_exists(deployment.name)
        kwargs = service_kwargs(
            deployment,
            service_name=self._prefix + deployment.name,
            network=self._network,
            replicas=deployment.initial_replicas,
            secret_ids={name: self._secret_lookup(name) for name in deployment.secrets},
            health_interval=self._health_interval,
        )
        service = self._client.services.create(**kwargs)
        log.info("deployed function %s (service %s, image %s)",
                 deployment.name, service.id, deployment.image)
        return service.id

    def _update(self, deployment: Deployment) -> None:
        service = self._find(deployment.name)
        current = replicas_of(service.attrs)
        if current is None:
            raise errors.global_service(f"function {deployment.name!r} is a global service; "
                                        "update it with its stack file")
        kwargs = service_kwargs(
            deployment,
            service_name=service.name,  # never renamed
            network=self._network,
            replicas=current,  # an update keeps the scale
            secret_ids={name: self._secret_lookup(name) for name in deployment.secrets},
            health_interval=self._health_interval,
        )
        # Keep the stack's own labels, so a stack-deployed function stays in its stack.
        kept = {k: v for k, v in (service.attrs["Spec"].get("Labels") or {}).items()
                if k.startswith(keys.DOCKER_PREFIX)}
        kwargs["labels"] = {**kept, **kwargs["labels"]}
        # Replace the whole spec (what was not sent is dropped), like OpenFaaS.
        service.update(fetch_current_spec=False, **kwargs)
        log.info("updated function %s (service %s, image %s)",
                 deployment.name, service.id, deployment.image)

    def _scale(self, name: str, replicas: int) -> None:
        service = self._find(name)
        if replicas_of(service.attrs) is None:
            raise errors.global_service(
                f"function {name!r} is a global service and cannot be scaled")
        service.scale(replicas)
        log.info("scaled function %s to %d replicas", name, replicas)

    def _remove(self, name: str) -> None:
        service = self._find(name)
        service.remove()
        log.info("removed function %s (service %s)", name, service.id)
