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

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import quote, urlencode, urlsplit

import docker
import docker.errors
import httptools
import msgspec
import requests.exceptions

from . import errors
from .enginetoken import authorize, bearer
from .errors import PlatformError
from .wire import request_head

# Engine 20.10; later engines still serve it. Pinned, not "auto": auto asks the
# Engine for its version in the constructor, before the gate's token is set.
API_VERSION = "1.41"
DEFAULT_URL = "unix:///var/run/docker.sock"
# What "the Engine did not answer" looks like from docker-py: its own errors,
# the transport's (requests, the socket), and a garbled JSON answer.
# A garbled answer counts too: docker-py's json, or listing.py's msgspec (a
# listing of another shape is a ValidationError, a DecodeError).
_UNREACHABLE = (docker.errors.DockerException, requests.exceptions.RequestException, OSError,
                json.JSONDecodeError, msgspec.DecodeError)
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



# -- one streamed GET, for what docker-py can only read in a blocking thread ----------


class _Answer:
    """httptools callbacks of one Engine answer: status, then body pieces."""

    def __init__(self) -> None:
        self.status = 0
        self.pieces: list[bytes] = []
        self.complete = False
        self.headers_done = False

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.pieces.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


async def _open(base_url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = urlsplit(base_url or DEFAULT_URL)
    if url.scheme in ("unix", "http+unix"):
        return await asyncio.open_unix_connection(url.path)
    if url.scheme in ("tcp", "http") and url.hostname:
        return await asyncio.open_connection(url.hostname, url.port or 2375)
    raise EngineError(f"unsupported DOCKER_HOST {base_url!r} for a stream",
                      detail="unsupported DOCKER_HOST")


async def stream_get(base_url: str | None, path: str, params: Mapping[str, str], *,
                     token: str | None, timeout: float, action: str) -> AsyncIterator[bytes]:
    """``GET <path>?<params>`` on the Engine (or the engine gate); returns, once
    the answer's head is in, its body as it comes, de-chunked. An error answer
    raises ``EngineError`` here, with the Engine's status and message, so a
    caller can still answer it before sending anything. Async, so a follow
    stream costs no thread; closing the returned iterator closes the connection,
    which ends the Engine's stream (the gate sees its client leave and closes its
    own connection to the socket)."""
    target = f"/v{API_VERSION}{quote(path)}?{urlencode(params)}"
    headers = [("Host", "docker"), ("Connection", "close")]
    if token:
        headers.append(("Authorization", bearer(token)))
    try:
        reader, writer = await asyncio.wait_for(_open(base_url or DEFAULT_URL), timeout)
    except (OSError, TimeoutError) as exc:
        raise EngineError(f"{action}: {exc}", action=action, detail=type(exc).__name__) from exc
    answer = _Answer()
    parser = httptools.HttpResponseParser(answer)
    try:
        writer.write(request_head("GET", target, headers))
        await writer.drain()
        while not answer.headers_done:  # the head comes within the timeout
            await _feed(reader, parser, action, timeout)
        status = parser.get_status_code()
        if status != 200:
            while not answer.complete:
                await _feed(reader, parser, action, timeout)
            detail = _message(b"".join(answer.pieces))
            raise EngineError(f"{action}: {detail}", action=action, status=status,
                              detail=detail)
    except BaseException:
        writer.close()
        raise
    return _body(reader, writer, parser, answer, action)


async def _feed(reader: asyncio.StreamReader, parser: httptools.HttpResponseParser,
                action: str, timeout: float | None) -> bool:
    """One read into the parser; False at the end of the stream."""
    try:
        data = await asyncio.wait_for(reader.read(65536), timeout)
        if not data:
            if timeout is not None:
                raise EngineError(f"{action}: the Engine closed the connection",
                                  action=action, detail="closed")
            return False
        parser.feed_data(data)
        return True
    except httptools.HttpParserError as exc:
        raise EngineError(f"{action}: a garbled answer: {exc}", action=action,
                          detail="garbled") from exc
    except (OSError, TimeoutError) as exc:
        raise EngineError(f"{action}: {exc}", action=action, detail=type(exc).__name__) from exc


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message") or body[:200])
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")


async def _body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                parser: httptools.HttpResponseParser, answer: _Answer,
                action: str) -> AsyncIterator[bytes]:
    try:
        while True:
            while answer.pieces:
                yield answer.pieces.pop(0)
            if answer.complete:
                return
            # No timeout: a follow stream may be quiet for long.
            if not await _feed(reader, parser, action, None):
                return
    finally:
        writer.close()
