"""The one way to make a Docker Engine client, and the one map of its exceptions.

Every component that talks to the Engine (discovery's ``engine.py``, the system
API's ``system/swarm_admin.py``, the engine gate's lookups in ``gate/server.py``;
later a scaler or a queue worker) gets its docker-py client from
``api_client`` / ``docker_client``: the API version pinned, the engine gate's
token on every request, a timeout. Its calls run inside ``engine_calls``,
which turns every docker-py / requests exception into ``EngineError``; no
docker-py exception type leaves an adapter. ``platform_error`` then says which
platform error (docs/errors.md) a client of the platform sees for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import docker
import docker.errors
import requests.exceptions

from . import errors
from .enginetoken import authorize
from .errors import PlatformError

# Engine 20.10; later engines still serve it. Pinned, not "auto": auto asks the
# Engine for its version in the constructor, before the gate's token is set.
API_VERSION = "1.41"
DEFAULT_URL = "unix:///var/run/docker.sock"
# What "the Engine did not answer" looks like from docker-py: its own errors,
# the transport's (requests, the socket), and a garbled JSON answer.
_UNREACHABLE = (docker.errors.DockerException, requests.exceptions.RequestException, OSError,
                json.JSONDecodeError)
# Actions on one function found by name first: a 404 means it went away meanwhile.
_ON_A_FOUND_FUNCTION = frozenset({"scale", "update", "remove"})


class EngineError(Exception):
    """A Docker Engine call failed. ``status`` is the Engine's HTTP status; None
    when there was no answer (unreachable, timed out, garbled)."""

    def __init__(self, message: str, *, action: str = "", status: int | None = None,
                 detail: str = "") -> None:
        super().__init__(message)
        self.action = action
        self.status = status
        self.detail = detail or message  # the Engine's explanation, or the failure's kind


def api_client(base_url: str | None, *, timeout: float,
               token: str | None = None) -> docker.APIClient:
    """docker-py's low-level client (discovery, the gate)."""
    with engine_calls("connecting to the Docker Engine"):
        api = docker.APIClient(base_url=base_url or DEFAULT_URL, version=API_VERSION,
                               timeout=timeout)
    authorize(api.headers, token)  # the engine gate's (enginetoken.py)
    return api


def docker_client(base_url: str | None, *, timeout: float,
                  token: str | None = None) -> docker.DockerClient:
    """docker-py's object client (the system API); ``.api`` is set up as above."""
    with engine_calls("connecting to the Docker Engine"):
        client = docker.DockerClient(base_url=base_url or DEFAULT_URL, version=API_VERSION,
                                     timeout=timeout)
    authorize(client.api.headers, token)
    return client


def engine_error(exc: BaseException, action: str) -> EngineError:
    """A docker-py / requests exception -> ``EngineError``; anything else (a bug)
    is raised again as it is."""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, docker.errors.APIError):
        return EngineError(f"{action}: {exc}", action=action, status=exc.status_code or 0,
                           detail=exc.explanation or str(exc))
    if isinstance(exc, _UNREACHABLE):
        return EngineError(f"{action}: {exc}", action=action, detail=type(exc).__name__)
    raise exc


@contextmanager
def engine_calls(action: str) -> Iterator[None]:
    """Run docker-py calls; what they raise comes out as ``EngineError``."""
    try:
        yield
    except (EngineError, PlatformError):
        raise
    except Exception as exc:
        raise engine_error(exc, action) from exc


def platform_error(exc: Exception, action: str) -> PlatformError:
    """The platform error a client sees when an Engine call on its behalf failed.

    Takes an ``EngineError`` or a raw docker-py / requests exception; a
    ``PlatformError`` passes through and anything else (a bug) is raised again."""
    if isinstance(exc, PlatformError):
        return exc
    err = engine_error(exc, action)
    status, detail = err.status, err.detail
    if status is None:
        return errors.docker_unavailable(action, detail)
    if status == 403:
        # The engine gate (docs/engine-gate.md) refused what this would do.
        return errors.refused_by_engine_gate(action, detail)
    if status == 409:
        return errors.conflict(action, detail)
    if status == 404 and action in _ON_A_FOUND_FUNCTION:
        # The service vanished between our lookup and the call.
        return errors.function_not_found(reason=f"{action}: {detail}")
    if status in (400, 404):
        # A spec Docker refuses: unknown network or secret, bad constraint...
        return errors.rejected_by_docker(action, detail)
    return errors.docker_error(action, status, detail)

