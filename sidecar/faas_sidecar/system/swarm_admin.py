"""The Docker edge of the system API: reads and mutations of function services.

docker-py is blocking, so every call runs in a worker thread
(``asyncio.to_thread``) and never on the event loop. The client comes from
``engineclient`` and its exceptions become ``PlatformError`` through
``engineclient.platform_error``; none reaches a handler.
Only this platform's functions, by the rule routing uses
(``spec.is_platform_function``: labelled ``swarmfaas.function=true``, or
faas-swarm's ``function=true`` with OPENFAAS_FUNCTIONS, and attached to its
functions network) are ever found, scaled, updated or removed: anything else
is "no such function" (a function of another stack on the same swarm belongs
to that stack's gateway, as in routing). Secrets likewise: only
``<SYSTEM_SECRET_PREFIX>*`` labelled ``swarmfaas.secret=true``.
Log streams do not go through docker-py (its streams block a thread until the
next line): ``engineclient.stream_get`` reads them asynchronously.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import docker

from faas_sidecar import errors
from faas_sidecar import labels as keys
from faas_sidecar.errors import PlatformError
from faas_sidecar.labels import SECRET_FILTER, function_filters
from faas_sidecar.spec import is_platform_function

from ..engineclient import EngineError, docker_client, stream_get
from ..engineclient import platform_error as translate_docker_error
from .logs import LogQuery, engine_params
from .payloads import Deployment
from .secrets import describe, docker_name, is_platform_secret, platform_labels
from .service_spec import function_name_of, replicas_of, service_kwargs

log = logging.getLogger(__name__)
T = TypeVar("T")
__all__ = ["SwarmAdmin", "translate_docker_error"]


class SwarmAdmin:
    """Async facade over a docker-py client; one per Sanic worker."""

    def __init__(self, client: docker.DockerClient, *, network: str, service_prefix: str,
                 health_interval: float = 0.0, secret_prefix: str = "swarmfaas-fn-",
                 base_url: str | None = None, token: str | None = None,
                 timeout: float = 30.0, openfaas: bool = False) -> None:
        self._client = client
        self._network = network
        self._openfaas = openfaas  # OPENFAAS_FUNCTIONS: faas-swarm's function=true too
        self._prefix = service_prefix
        self._health_interval = health_interval
        self._secret_prefix = secret_prefix
        # For log streams, which open their own connection (engineclient.stream_get).
        self._stream_to = (base_url, token, timeout)

    @classmethod
    def connect(cls, base_url: str, timeout: float, token: str | None = None,
                **kwargs: Any) -> SwarmAdmin:
        return cls(docker_client(base_url, timeout=timeout, token=token),
                   base_url=base_url, token=token, timeout=timeout, **kwargs)

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

    async def logs(self, name: str, query: LogQuery) -> AsyncIterator[bytes]:
        """The Engine's multiplexed log stream of the function's service (raw
        bytes; ``logs.FrameReader`` splits it). The 404 for an unknown function
        comes before the first byte, so a handler can still answer it."""
        service = await self.get_function(name)
        base_url, token, timeout = self._stream_to
        try:
            stream = await stream_get(base_url, f"/services/{service['ID']}/logs",
                                      engine_params(query), token=token, timeout=timeout,
                                      action="logs")
        except EngineError as exc:
            raise translate_docker_error(exc, "logs") from exc
        return _translated(stream, "logs")

    async def list_secrets(self) -> list[dict[str, str]]:
        return await self._run("list secrets", self._list_secrets)

    async def create_secret(self, name: str, value: bytes) -> None:
        await self._run("create secret", self._create_secret, name, value)

    async def replace_secret(self, name: str, value: bytes) -> None:
        await self._run("replace secret", self._replace_secret, name, value)

    async def remove_secret(self, name: str) -> None:
        await self._run("remove secret", self._remove_secret, name)

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

    def _own_functions(self) -> list[Any]:
        """This platform's function services: labelled (Docker's filter, one
        listing per mark as Docker ANDs label filters; checked again so a
        filter bug can't widen the set) and on its functions network."""
        services = {s.id: s for label in function_filters(self._openfaas)
                    for s in self._client.services.list(filters={"label": label})}
        network = self._client.networks.get(self._network)
        return [s for s in services.values()
                if is_platform_function(s.attrs, self._network, network.id, self._openfaas)]

    def _list_function_attrs(self) -> list[Mapping[str, Any]]:
        return [s.attrs for s in self._own_functions()]

    def _find(self, name: str) -> Any:
        matches = [s for s in self._own_functions() if function_name_of(s.attrs) == name]
        if not matches:
            raise errors.function_not_found(name)
        if len(matches) > 1:
            ids = ", ".join(s.name for s in matches)
            raise errors.ambiguous_function(name, ids)
        return matches[0]

    def _secret_ref(self, name: str) -> tuple[str, str]:
        """(ID, Docker name) of the secret a function asks for by ``name``: the
        platform's ``<prefix><name>`` first (made by /system/secrets), else the
        Docker secret of that exact name (SYSTEM_SECRET_ALLOWLIST)."""
        try:
            secret = self._find_secret(name)
            return secret.id, secret.name
        except PlatformError:
            pass
        for secret in self._client.secrets.list(filters={"name": name}):
            if secret.name == name:
                return secret.id, secret.name
        raise errors.secret_not_found(name)

    def _secret_refs(self, deployment: Deployment) -> dict[str, Any]:
        """service_kwargs' ``secret_ids`` and ``secret_names`` for a deployment."""
        refs = {name: self._secret_ref(name) for name in deployment.secrets}
        return {"secret_ids": {n: ref[0] for n, ref in refs.items()},
                "secret_names": {n: ref[1] for n, ref in refs.items()}}

    def _platform_secrets(self) -> list[Any]:
        secrets = self._client.secrets.list(filters={"label": SECRET_FILTER})
        return [s for s in secrets if is_platform_secret(s.attrs, self._secret_prefix)]

    def _find_secret(self, name: str) -> Any:
        wanted = docker_name(self._secret_prefix, name)
        for secret in self._platform_secrets():
            if secret.name == wanted:
                return secret
        raise errors.no_such_secret(name)

    def _list_secrets(self) -> list[dict[str, str]]:
        return sorted((describe(s.attrs, self._secret_prefix) for s in self._platform_secrets()),
                      key=lambda d: d["name"])

    def _create_secret(self, name: str, value: bytes) -> None:
        try:
            self._client.secrets.create(name=docker_name(self._secret_prefix, name),
                                        data=value, labels=platform_labels())
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise errors.secret_exists(name) from None
            raise
        log.info("created secret %s", name)  # the name only, never the value

    def _replace_secret(self, name: str, value: bytes) -> None:
        """Swarm secrets are immutable: remove and create again under the same
        name, which Docker allows only while no service references it."""
        self._remove_secret(name)
        self._create_secret(name, value)
        log.info("replaced secret %s", name)

    def _remove_secret(self, name: str) -> None:
        secret = self._find_secret(name)
        try:
            self._client.api.remove_secret(secret.id)
        except docker.errors.APIError as exc:
            if "in use" in str(exc.explanation or ""):
                raise errors.secret_in_use(name, str(exc.explanation)) from None
            raise
        log.info("removed secret %s", name)

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
            health_interval=self._health_interval,
            **self._secret_refs(deployment),
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
            health_interval=self._health_interval,
            **self._secret_refs(deployment),
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


async def _translated(stream: AsyncIterator[bytes], action: str) -> AsyncIterator[bytes]:
    """The stream, its Engine errors as platform errors; closing it closes ``stream``."""
    try:
        async for piece in stream:
            yield piece
    except EngineError as exc:
        raise translate_docker_error(exc, action) from exc
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
