"""The /system/* routes: OpenFaaS gateway paths and shapes, behind basic auth.

``setup_system_api`` wires everything onto an app made by the sidecar's
factory: a blueprint whose request middleware authenticates every route in
it (a new route cannot forget auth), the Docker adapter's start/stop hooks,
and metrics on ``app.ctx.metrics`` when the app has a registry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata, resources
from typing import Any
from urllib.parse import parse_qs

from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, empty
from sanic.response import json as json_response

from faas_sidecar.errors import PlatformError
from faas_sidecar.model import EMPTY_TABLE, RoutingTable
from faas_sidecar.routing import NAMESPACE, check_namespace

from .auth import Credentials, check_authorization, load_credentials
from .config import SystemApiConfig
from .deadletters import setup_dead_letters
from .logs import FrameReader, log_entry, ndjson, parse_log_query
from .payloads import (
    Deployment,
    check_scale_bounds,
    parse_delete_request,
    parse_deployment,
    parse_json_body,
    parse_scale_request,
    validate_function_name,
)
from .secrets import parse_secret
from .service_spec import function_name_of, function_status
from .stats import SystemMetrics, invocation_counts
from .swarm_admin import SwarmAdmin

log = logging.getLogger(__name__)

OPENAPI_RESOURCE = "openapi.json"


def load_openapi() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(OPENAPI_RESOURCE).read_text("utf-8")
    return json.loads(text)


def platform_version() -> str:
    try:
        return metadata.version("swarmfaas")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def system_info(release: str, sha: str, arch: str) -> dict[str, Any]:
    version = {"release": release, "sha": sha}
    return {
        "provider": {"provider": "swarmfaas", "orchestration": "swarm", "version": version},
        "version": dict(version),
        "arch": arch,
    }


def available_replicas(table: RoutingTable, service: Mapping[str, Any]) -> int:
    """Ready replicas of a service in the routing snapshot (0 if not routable)."""
    spec = table.get(function_name_of(service))
    if spec is None or spec.service_id != service.get("ID"):
        return 0
    return len(spec.replicas)


def current_table(app: Sanic) -> RoutingTable:
    discovery = getattr(app.ctx, "discovery", None)
    return getattr(discovery, "table", None) or EMPTY_TABLE


def setup_system_api(app: Sanic, config: SystemApiConfig) -> None:
    """Register /system/* on ``app``; raises CredentialsError without credentials."""
    credentials: Credentials | None = None
    if config.auth_dangerously_disabled:
        log.warning("SYSTEM_AUTH_DANGEROUSLY_DISABLE=true: the system API answers anyone, "
                    "including deploy and delete. Never do this on a reachable host.")
    else:
        credentials = load_credentials(config.auth_user_file, config.auth_password_file)
    metrics = SystemMetrics.register(getattr(app.ctx, "metrics", None))
    openapi_body = json.dumps(load_openapi())
    info = system_info(platform_version(), config.git_sha, platform.machine())
    bp = Blueprint("swarmfaas_system_api", url_prefix="/system")

    def admin(request: Request) -> SwarmAdmin:
        return request.app.ctx.system_admin

    @bp.before_server_start
    async def connect_docker(app: Sanic) -> None:
        # Tests may inject their own adapter; a worker otherwise makes its own client.
        if getattr(app.ctx, "system_admin", None) is None:
            app.ctx.system_admin = SwarmAdmin.connect(
                config.docker_url, config.docker_timeout, config.engine_token,
                network=config.functions_network, service_prefix=config.service_prefix,
                health_interval=config.health_interval, secret_prefix=config.secret_prefix,
                openfaas=config.openfaas_functions,
            )

    @bp.after_server_stop
    async def close_docker(app: Sanic) -> None:
        system_admin = getattr(app.ctx, "system_admin", None)
        if system_admin is not None:
            system_admin.close()
            app.ctx.system_admin = None

    @bp.on_request(priority=1000)
    async def authenticate(request: Request) -> None:
        if credentials is None:
            return
        try:
            check_authorization(credentials, request.headers.get("authorization"))
        except PlatformError:
            metrics.auth_failed()
            raise

    def check_namespace_arg(request: Request) -> None:
        """OpenFaaS clients may send ?namespace=; only the platform's one is known."""
        namespace = request.args.get("namespace")
        if namespace:
            check_namespace(namespace)

    @bp.get("/functions")
    async def list_functions(request: Request) -> HTTPResponse:
        check_namespace_arg(request)
        services = await admin(request).list_functions()
        table = current_table(request.app)
        counts = invocation_counts(getattr(request.app.ctx, "metrics", None))
        now = datetime.now(UTC)
        statuses = [
            function_status(
                service,
                available=available_replicas(table, service),
                invocations=None if counts is None else counts.get(function_name_of(service), 0),
                now=now,
            )
            for service in services
        ]
        statuses.sort(key=lambda status: status["name"])
        return json_response(statuses)

    @bp.get("/function/<name>")
    async def get_function(request: Request, name: str) -> HTTPResponse:
        validate_function_name(name)
        check_namespace_arg(request)
        service = await admin(request).get_function(name)
        counts = invocation_counts(getattr(request.app.ctx, "metrics", None))
        return json_response(function_status(
            service,
            available=available_replicas(current_table(request.app), service),
            invocations=None if counts is None else counts.get(name, 0),
            now=datetime.now(UTC),
        ))

    async def parse_deployment_request(request: Request) -> Deployment:
        """Deploy and update take the same body, checked against the same allowlists;
        the platform's own secrets (/system/secrets) are allowed to every function."""
        doc = parse_json_body(request.body)
        platform_secrets: frozenset[str] = frozenset()
        if isinstance(doc, dict) and doc.get("secrets"):
            platform_secrets = frozenset(
                s["name"] for s in await admin(request).list_secrets())
        return parse_deployment(
            doc,
            image_allowlist=config.image_allowlist,
            secret_allowlist=config.secret_allowlist,
            max_replicas=config.max_replicas,
            platform_secrets=platform_secrets,
        )

    @bp.post("/functions")
    async def deploy_function(request: Request) -> HTTPResponse:
        deployment = await parse_deployment_request(request)
        await _mutation(metrics, "deploy", admin(request).deploy(deployment))
        return empty(status=202)

    @bp.put("/functions")
    async def update_function(request: Request) -> HTTPResponse:
        deployment = await parse_deployment_request(request)
        await _mutation(metrics, "update", admin(request).update(deployment))
        return empty(status=202)

    @bp.delete("/functions")
    async def delete_function(request: Request) -> HTTPResponse:
        name = parse_delete_request(parse_json_body(request.body))
        await _mutation(metrics, "remove", admin(request).remove(name))
        return empty(status=202)

    @bp.post("/scale-function/<name>")
    async def scale_function(request: Request, name: str) -> HTTPResponse:
        scale = parse_scale_request(name, parse_json_body(request.body),
                                    max_replicas=config.max_replicas)
        service = await admin(request).get_function(scale.name)
        check_scale_bounds(scale, (service.get("Spec") or {}).get("Labels") or {})
        await _mutation(metrics, "scale", admin(request).scale(scale.name, scale.replicas))
        return empty(status=202)

    @bp.get("/logs")
    async def get_logs(request: Request) -> HTTPResponse | None:
        query = parse_log_query(parse_qs(request.query_string, keep_blank_values=True))
        # Errors (no such function, the gate refused) come before the first byte.
        stream = await admin(request).logs(query.name, query)
        frames = FrameReader()
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            # X-Accel-Buffering: nginx in front passes each line on as it comes.
            response = await request.respond(content_type="application/x-ndjson",
                                             headers={"X-Accel-Buffering": "no"})
            try:
                async for piece in stream:
                    lines = [ndjson(entry) for entry in
                             (log_entry(query.name, payload) for payload in frames.feed(piece))
                             if query.instance is None or entry["instance"] == query.instance]
                    if lines:
                        await response.send(b"".join(lines))
            except PlatformError as exc:  # the head is out: end the stream, say why in the log
                log.warning("the log stream of %s ended early: %s", query.name, exc.reason)
            await response.eof()
        return None

    @bp.get("/namespaces")
    async def list_namespaces(request: Request) -> HTTPResponse:
        return json_response([NAMESPACE])

    @bp.get("/secrets")
    async def list_secrets(request: Request) -> HTTPResponse:
        check_namespace_arg(request)
        return json_response(await admin(request).list_secrets())

    # A secret's value is in the body only: never in a log line, an error or an answer.
    async def set_secret(request: Request, operation: str, status: int) -> HTTPResponse:
        secret = parse_secret(parse_json_body(request.body), config.secret_prefix,
                              with_value=True)
        set_value = getattr(admin(request), operation)  # create_secret or replace_secret
        await _mutation(metrics, operation, set_value(secret.name, secret.value), status)
        return empty(status=status)

    @bp.post("/secrets")
    async def create_secret(request: Request) -> HTTPResponse:
        return await set_secret(request, "create_secret", 201)

    @bp.put("/secrets")
    async def replace_secret(request: Request) -> HTTPResponse:
        return await set_secret(request, "replace_secret", 200)

    @bp.delete("/secrets")
    async def remove_secret(request: Request) -> HTTPResponse:
        secret = parse_secret(parse_json_body(request.body), config.secret_prefix,
                              with_value=False)
        await _mutation(metrics, "remove_secret", admin(request).remove_secret(secret.name), 204)
        return empty(status=204)

    @bp.get("/info")
    async def get_info(request: Request) -> HTTPResponse:
        return json_response(info)

    @bp.get("/openapi.json")
    async def get_openapi(request: Request) -> HTTPResponse:
        return HTTPResponse(openapi_body, content_type="application/json")

    setup_dead_letters(bp)
    app.blueprint(bp)


async def _mutation(metrics: SystemMetrics, operation: str, call: Any,
                    status: int = 202) -> None:
    try:
        await call
    except PlatformError as exc:
        metrics.operation(operation, exc.status)
        raise
    metrics.operation(operation, status)
