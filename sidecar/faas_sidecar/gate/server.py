"""The engine gate's IO: one HTTP request per connection, checked, then piped.

A request is read whole (head and body, bounded), classified by ``policy``,
and either refused with a JSON error or sent to the Engine's unix socket with
``Connection: close``; the Engine's answer is piped back as it comes, which
keeps the events stream a stream. Lookups the policy needs (is this service
a function? the functions network's id) go to the Engine through docker-py
(a client from ``engineclient``, straight to the socket), in a thread, since
docker-py blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httptools

from faas_sidecar.engineclient import EngineError, api_client, engine_calls
from faas_sidecar.enginetoken import SETTING as TOKEN_SETTING
from faas_sidecar.enginetoken import presented
from faas_sidecar.labels import function_filters
from faas_sidecar.model import EVENT_ACTIONS, EVENT_TYPES
from faas_sidecar.wire import HOP_BY_HOP, request_head, response_head

from . import refusals
from .config import GateConfig
from .policy import (
    Kind,
    SpecRules,
    events_allowed,
    lists_only_functions,
    needs_token,
    refuse_create,
    refuse_for_scaler,
    refuse_function_only,
    refuse_logs_query,
    refuse_scale,
    refuse_secret_create,
    refuse_secret_remove,
    refuse_update,
    route,
    task_services,
)
from .refusals import COMPONENT, Refused

log = logging.getLogger(__name__)
# Not sent on to the Engine: hop-by-hop fields, framing the gate sets itself,
# and the gate's own token.
_NOT_FORWARDED = {name.encode() for name in HOP_BY_HOP} | {
    b"content-length", b"host", b"expect", b"authorization"}
_SERVICE_IN_PATH = re.compile(rb"(/services/)[^/?]+")
_SECRET_IN_PATH = re.compile(rb"(/secrets/)[^/?]+")


def refusal(status: int, code: str, reason: str) -> bytes:
    """A whole HTTP response: Docker's error shape (``message``, which docker-py
    shows) plus the platform's (docs/errors.md)."""
    body = json.dumps({"message": reason, "error": code, "reason": reason, "status": status,
                       "component": COMPONENT}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="engine-gate"'))
    headers += [("X-Swarmfaas-Internal", COMPONENT), ("Connection", "close")]
    return response_head(status, headers) + body


@dataclass
class Request:
    url: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False
    limit: int = 0

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body += body
        if len(self.body) > self.limit:
            raise refusals.body_too_large(self.limit)

    def on_message_complete(self) -> None:
        self.complete = True

    def header(self, name: bytes) -> bytes | None:
        """The first value of a field (``name`` in lower case)."""
        for field_name, value in self.headers:
            if field_name.lower() == name:
                return value
        return None


async def read_request(reader: asyncio.StreamReader, limit: int) -> tuple[str, Request] | None:
    """(method, request) once a whole request arrived; None if the client left first."""
    request = Request(limit=limit)
    parser = httptools.HttpRequestParser(request)
    while not request.complete:
        data = await reader.read(65536)
        if not data:
            return None
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise refusals.bad_request("protocol upgrades are not allowed") from None
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, Refused):
                raise exc.__context__ from None
            raise refusals.bad_request(f"malformed HTTP request: {exc}") from None
    return parser.get_method().decode("ascii"), request


def engine_request(method: str, request: Request) -> bytes:
    """The request as the Engine gets it: same method, URL and headers, one
    exchange per connection."""
    headers = [("Host", "docker")]
    headers += [(name.decode("latin-1"), value.decode("latin-1"))
                for name, value in request.headers if name.lower() not in _NOT_FORWARDED]
    if request.body or method in ("POST", "PUT"):
        headers.append(("Content-Length", str(len(request.body))))
    headers.append(("Connection", "close"))
    return request_head(method, request.url.decode("latin-1"), headers) + bytes(request.body)


class Gate:
    def __init__(self, config: GateConfig) -> None:
        self.config = config
        # The gate's own client goes to the real socket: no token, no gate.
        self._api = api_client(f"unix://{config.socket}", timeout=config.timeout)

    # -- lookups (blocking docker-py, run in a thread) -------------------------

    def _inspect_service(self, service: str) -> Mapping[str, Any]:
        return self._inspect("service", self._api.inspect_service, service)

    def _inspect_secret(self, secret: str) -> Mapping[str, Any]:
        return self._inspect("secret", self._api.inspect_secret, secret)

    def _inspect(self, kind: str, inspect: Any, target: str) -> Mapping[str, Any]:
        try:
            with engine_calls(f"inspecting {kind} {target}"):
                return inspect(target)
        except EngineError as exc:
            if exc.status != 404:
                raise
            raise refusals.not_found(target, kind) from None

    def _function_ids(self) -> frozenset[str]:
        ids: set[str] = set()
        with engine_calls("listing function services"):
            for label in function_filters(self.config.openfaas_functions):
                ids.update(str(s.get("ID", "")) for s in self._api.services(
                    filters={"label": label}))
        return frozenset(ids)

    def _rules(self) -> SpecRules:
        with engine_calls("inspecting the functions network"):
            network = self._api.inspect_network(self.config.functions_network)
        return SpecRules(networks=frozenset({self.config.functions_network, network["Id"],
                                             network.get("Name", "")}),
                         image_allowlist=self.config.image_allowlist,
                         secret_allowlist=self.config.secret_allowlist,
                         secret_prefix=self.config.secret_prefix)

    async def _lookup(self, func: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(func, *args)
        except Refused:
            raise
        except Exception as exc:  # the Engine cannot answer (or a bug): refuse, never guess
            raise refusals.docker_unavailable(
                f"the engine gate could not check the request: {exc}") from exc

    # -- the decision ------------------------------------------------------------

    async def check(self, method: str, request: Request) -> None:
        """Return if the request may reach the Engine; raise Refused otherwise.

        A request about one service is sent on naming that service by the full
        ID that was checked, so a name or ID prefix cannot come to mean another
        service between the check and the call."""
        url = request.url.decode("latin-1")
        if not url.startswith("/"):
            raise refusals.bad_request("only origin-form request targets are accepted")
        path, _, query = url.partition("?")
        token, authorization = self.config.token, request.header(b"authorization")
        scaler = bool(self.config.scaler_token) and presented(authorization,
                                                              self.config.scaler_token or "")
        if (token and needs_token(path) and not scaler
                and not presented(authorization, token)):
            raise refusals.unauthorized("the engine gate answers only the sidecar: "
                                        f"Authorization: Bearer <the token in {TOKEN_SETTING}>")
        where = route(method, path)
        openfaas = self.config.openfaas_functions
        if scaler and (why := refuse_for_scaler(where.kind)):
            raise refusals.forbidden(why)
        if where.kind is Kind.PASS:
            return
        if where.kind is Kind.DENY:
            raise refusals.forbidden(where.reason)
        if where.kind is Kind.LIST_FUNCTIONS:
            if not lists_only_functions(query, self.config.openfaas_functions):
                raise refusals.forbidden(
                    "the engine gate lists services only with the filter label="
                    + " or label=".join(function_filters(openfaas)))
            return
        if where.kind is Kind.EVENTS:
            if not events_allowed(query):
                raise refusals.forbidden("the engine gate streams only events of types "
                                         f"{', '.join(EVENT_TYPES)} (a type filter) with actions "
                                         f"{', '.join(EVENT_ACTIONS)} (an event filter)")
            return
        if where.kind is Kind.LIST_FUNCTION_TASKS:
            # By full ID only: Docker would also resolve a name or an ID prefix.
            wanted = task_services(query)
            if not wanted:
                raise refusals.forbidden("the engine gate lists tasks only of function "
                                         "services: filter by service=<function service ID>")
            others = sorted(set(wanted) - await self._lookup(self._function_ids))
            if others:
                raise refusals.forbidden("the engine gate lists tasks only of function "
                                         "services, by full ID; not: " + ", ".join(others[:5]))
            return
        if where.kind is Kind.SECRET_CREATE:
            why = _checked(refuse_secret_create, _json(request.body), self.config.secret_prefix)
            if why:
                raise refusals.forbidden(why)
            return
        if where.kind is Kind.SECRET_REMOVE:
            secret = await self._lookup(self._inspect_secret, where.target)
            request.url = _SECRET_IN_PATH.sub(
                lambda m: m.group(1) + str(secret.get("ID", "")).encode("ascii"),
                request.url, count=1)
            if why := refuse_secret_remove(secret, self.config.secret_prefix):
                raise refusals.forbidden(why)
            return
        if where.kind is Kind.FUNCTION_LOGS and (why := refuse_logs_query(query)):
            raise refusals.forbidden(why)
        if where.kind is Kind.CREATE:
            spec = _json(request.body)
            why = _checked(refuse_create, spec, await self._lookup(self._rules))
        else:
            current = await self._lookup(self._inspect_service, where.target)
            request.url = _SERVICE_IN_PATH.sub(
                lambda m: m.group(1) + str(current.get("ID", "")).encode("ascii"),
                request.url, count=1)
            if where.kind is Kind.UPDATE and scaler:
                why = _checked(refuse_scale, current, _json(request.body), openfaas)
            elif where.kind is Kind.UPDATE:
                spec = _json(request.body)
                why = _checked(refuse_update, current, spec, await self._lookup(self._rules),
                               openfaas)
            else:
                action = {Kind.REMOVE: "remove", Kind.FUNCTION_LOGS: "read the logs of"}.get(
                    where.kind, "read")
                why = refuse_function_only(current, action, openfaas)
        if why:
            raise refusals.forbidden(why)

    # -- the connection ----------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                got = await asyncio.wait_for(read_request(reader, self.config.max_body),
                                             self.config.timeout)
                if got is None:
                    return
                method, request = got
                await self.check(method, request)
            except Refused as exc:
                log.warning("refused: %s (%s)", exc.reason, exc.status)
                writer.write(refusal(exc.status, exc.code, exc.reason))
                await writer.drain()
                await _linger(reader, writer)
                return
            except TimeoutError:
                return
            log.debug("%s %s", method, request.url.decode("latin-1"))
            await self._forward(method, request, reader, writer)
        except (ConnectionError, OSError) as exc:
            log.debug("connection ended: %s", exc)
        finally:
            writer.close()

    async def _forward(self, method: str, request: Request, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.config.socket)
        except OSError as exc:
            down = refusals.docker_unavailable(f"the Docker Engine cannot be reached: {exc}")
            writer.write(refusal(down.status, down.code, down.reason))
            await writer.drain()
            return
        try:
            up_writer.write(engine_request(method, request))
            await up_writer.drain()

            async def answer() -> None:
                while data := await up_reader.read(65536):
                    writer.write(data)
                    await writer.drain()

            async def client_left() -> None:
                while await reader.read(65536):
                    pass  # one request per connection: anything more is dropped

            tasks = {asyncio.create_task(answer()), asyncio.create_task(client_left())}
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            for task in (*done, *pending):
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                    await task
        finally:
            up_writer.close()

    def close(self) -> None:
        self._api.close()


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then drop what the client still sends (up to a second), so a
    refused client reads the answer instead of a reset."""
    with contextlib.suppress(Exception):
        writer.write_eof()
        async with asyncio.timeout(1):
            while await reader.read(65536):
                pass


def _checked(refuse: Any, *args: Any) -> str | None:
    """The policy's verdict; a spec whose parts have the wrong JSON types is a 400."""
    try:
        return refuse(*args)
    except (AttributeError, TypeError, ValueError):
        raise refusals.bad_request("the service spec does not have the shape of a "
                                   "Docker ServiceSpec") from None


def _json(body: bytearray) -> Mapping[str, Any]:
    try:
        doc = json.loads(body or b"null")
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise refusals.bad_request("the body must be a JSON service spec") from None
    if not isinstance(doc, dict):
        raise refusals.bad_request("the body must be a JSON service spec")
    return doc


async def serve(config: GateConfig) -> None:
    gate = Gate(config)
    server = await asyncio.start_server(gate.handle, config.host, config.port,
                                        limit=1 << 16)
    log.info("engine gate on %s:%d -> %s (functions network %s)", config.host, config.port,
             config.socket, config.functions_network)
    if config.token is None:
        log.warning("no %s: every caller that reaches the gate's port is trusted",
                    TOKEN_SETTING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # PID 1 gets no default action
        loop.add_signal_handler(sig, stop.set)
    try:
        async with server:
            await stop.wait()
    finally:
        gate.close()
