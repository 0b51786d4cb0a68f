"""The app factory: ``create_app(config)`` wires small ``setup_x(app, ...)`` pieces.

Each piece registers its own routes and start/stop hooks. Discovery lives in
every worker process (one table per worker; docs/sidecar.md says why).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanic import HTTPResponse, Request, Sanic
from sanic.exceptions import SanicException

from .config import SidecarConfig
from .discovery import Discovery
from .engine import Engine
from .errors import PlatformError, error_body, error_headers, internal_error, not_found
from .metrics import CONTENT_TYPE, Metrics
from .model import EMPTY_TABLE
from .proxy import Proxy
from .routing import ASYNC_PREFIX, FUNCTION_HEADER, check_name, header_name, resolve
from .scalerwake import ScalerWake
from .webhooks.guard import WebhookGuard

if TYPE_CHECKING:  # imported when set up: a sidecar without them does not load them
    from .alexa import AlexaConfig
    from .system import SystemApiConfig

log = logging.getLogger("faas_sidecar")

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
APP_NAME = "swarmfaas_sidecar"
FIRST_TABLE_WAIT = 5.0  # seconds a worker waits for its first table before serving


@dataclass(frozen=True, slots=True)
class AppConfig:
    """Everything ``create_app`` needs; built by ``main()`` from the environment."""

    sidecar: SidecarConfig
    system: SystemApiConfig | None = None  # None: no /system routes
    alexa: AlexaConfig | None = None  # None: no /alexa, and POST / goes to X-Function


class SidecarApp(Sanic):
    """Sanic, serving with ``FunctionProtocol`` (fastpath.py) unless told
    otherwise: plain ``/function/*`` requests skip Sanic's request cycle, all
    others are Sanic's as before. ``FAST_PATH=false`` turns it off."""

    def prepare(self, *args: Any, protocol: Any = None, **kwargs: Any) -> None:
        super().prepare(*args, protocol=protocol or self._default_protocol(), **kwargs)

    async def create_server(self, *args: Any, protocol: Any = None, **kwargs: Any) -> Any:
        return await super().create_server(*args, protocol=protocol or
                                            self._default_protocol(), **kwargs)

    def _default_protocol(self) -> Any:
        config = getattr(self.ctx, "sidecar_config", None)
        if config is not None and not config.fast_path:
            return None  # Sanic's default
        from .fastpath import FunctionProtocol

        return FunctionProtocol


def create_app(config: AppConfig, name: str = APP_NAME) -> Sanic:
    app = SidecarApp(name)
    setup_sanic_config(app, config.sidecar)
    setup_errors(app)
    setup_metrics(app)
    setup_discovery(app, config.sidecar, partial(
        Engine, config.sidecar.docker_host, token=config.sidecar.engine_token,
        openfaas=config.sidecar.openfaas_functions))
    setup_proxy(app, config.sidecar)
    setup_schedules(app)
    setup_health(app)
    if config.system is not None:
        from .system import setup_system_api

        setup_system_api(app, config.system)
    if config.alexa is not None:
        from .alexa import setup_alexa

        setup_alexa(app, config.alexa)
    setup_function_routes(app, root_post=config.alexa is None)
    return app


def setup_sanic_config(app: Sanic, config: SidecarConfig) -> None:
    # Per-function deadlines (timeout label + 1 s) bound each request, so
    # Sanic's own response timeout must never cut in first.
    app.config.RESPONSE_TIMEOUT = 24 * 3600 + 60
    app.config.ACCESS_LOG = False
    app.config.NOISY_EXCEPTIONS = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.MOTD = False
    app.ctx.sidecar_config = config


def setup_errors(app: Sanic) -> None:
    """One handler: every error becomes docs/errors.md JSON, marked as ours."""

    async def render(request: Request, exc: Exception) -> HTTPResponse:
        call_id = getattr(request.ctx, "call_id", None) if request else None
        if not isinstance(exc, (PlatformError, SanicException)):
            log.exception("unexpected error on %s %s", request.method if request else "?",
                          request.path if request else "?")
            exc = internal_error()
        if isinstance(exc, PlatformError):
            status, code, reason, extra = exc.status, exc.code, exc.reason, exc.headers
        else:
            status = exc.status_code
            code = _snake(type(exc).__name__)
            reason = str(exc) or code.replace("_", " ")
            extra = dict(getattr(exc, "headers", None) or {})
        return HTTPResponse(error_body(status, code, reason, call_id), status=status,
                            headers=error_headers({**extra, **({"X-Call-Id": call_id}
                                                              if call_id else {})}))

    app.error_handler.add(Exception, render)


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    # Sanic's PayloadTooLarge is the platform's body_too_large; URITooLong's
    # capitals are one word. errors.SANIC_CODES lists what comes out.
    return {"payload_too_large": "body_too_large", "u_r_i_too_long": "uri_too_long"}.get(out, out)


def setup_metrics(app: Sanic) -> None:
    metrics = Metrics()
    app.ctx.sidecar_metrics = metrics
    app.ctx.metrics = metrics.registry  # the one registry other pieces register on
    metrics.watch_table(lambda: (getattr(app.ctx, "discovery", None) and app.ctx.discovery.table)
                        or EMPTY_TABLE)

    @app.get("/metrics", name="metrics")
    async def metrics_route(request: Request) -> HTTPResponse:
        return HTTPResponse(metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def setup_discovery(app: Sanic, config: SidecarConfig, engine_factory) -> None:
    discovery = Discovery(engine_factory, config.functions_network, app.ctx.sidecar_metrics,
                          relist_interval=config.relist_interval, debounce=config.debounce,
                          openfaas=config.openfaas_functions)
    app.ctx.discovery = discovery

    @app.before_server_start
    async def start_discovery(app_: Sanic, _loop=None) -> None:
        await discovery.start()
        if not await discovery.wait_ready(FIRST_TABLE_WAIT):
            log.warning("no routing table yet after %.0f s: serving; functions will "
                        "appear when the Docker Engine answers", FIRST_TABLE_WAIT)

    @app.after_server_stop
    async def stop_discovery(app_: Sanic, _loop=None) -> None:
        await discovery.stop()


def setup_proxy(app: Sanic, config: SidecarConfig) -> None:
    discovery: Discovery = app.ctx.discovery
    proxy = Proxy(lambda: discovery.table, discovery.changed, app.ctx.sidecar_metrics,
                  connect_timeout=config.connect_timeout, hold_timeout=config.hold_timeout,
                  buffer_limit=config.buffer_limit,
                  cold_start_timeout=config.cold_start_timeout,
                  webhooks=WebhookGuard(Path(config.webhook_secrets_dir),
                                        app.ctx.sidecar_metrics),
                  queue=_broker(config.queue_url), queue_token=config.queue_token,
                  async_body_limit=config.async_body_limit,
                  callback_allowlist=config.callback_allowlist,
                  circuit_breaker=config.circuit_breaker,
                  scaler_wake=ScalerWake(*config.scaler_wake) if config.scaler_wake else None)
    app.ctx.proxy = proxy

    @app.after_server_stop
    async def close_pool(app_: Sanic, _loop=None) -> None:
        proxy.close()
        if proxy.queue is not None:
            await proxy.queue.close()


def setup_schedules(app: Sanic) -> None:
    """Scheduled functions (swarmfaas.schedule), where there is a broker: every
    sidecar process stores each due tick; the broker keeps one per tick."""
    proxy: Proxy = app.ctx.proxy
    if proxy.queue is None:
        return
    from .queue.scheduler import Scheduler

    discovery: Discovery = app.ctx.discovery
    scheduler = Scheduler(lambda: discovery.table, discovery.changed, proxy.queue,
                          app.ctx.sidecar_metrics.schedule_ticks)

    @app.after_server_start
    async def start_schedules(app_: Sanic, _loop=None) -> None:
        app_.ctx.scheduler_task = asyncio.get_running_loop().create_task(scheduler.run())

    @app.before_server_stop
    async def stop_schedules(app_: Sanic, _loop=None) -> None:
        task = getattr(app_.ctx, "scheduler_task", None)
        if task is not None:
            task.cancel()


def _broker(url: str | None) -> Any:
    if url is None:
        return None
    from .queue.broker import Broker  # nats-py loads only with a broker

    return Broker(url)


def setup_health(app: Sanic) -> None:
    @app.get("/healthz", name="healthz")
    async def healthz(request: Request) -> HTTPResponse:
        discovery: Discovery = request.app.ctx.discovery
        table = discovery.table
        # Healthy once a table was built: a broken events stream is not a
        # reason to restart, the last good table keeps serving.
        ok = table.generation > 0
        return HTTPResponse(
            f'{{"status": "{"ok" if ok else "starting"}", "table_generation": '
            f'{table.generation}, "events_stream": '
            f'{"true" if discovery.stream_connected else "false"}}}',
            status=200 if ok else 503, headers={"Content-Type": "application/json"})


def setup_function_routes(app: Sanic, *, root_post: bool) -> None:
    """``/function/<name>[/<rest>]`` on every method; ``X-Function`` on every other
    path the platform does not own. All stream (bodies are not read up front)."""

    async def by_path(request: Request, rest: str = "") -> HTTPResponse:
        route = resolve(request.path, None)
        return await request.app.ctx.proxy.forward(request, route.name, path=route.path)

    async def by_header(request: Request, rest: str = "") -> HTTPResponse:
        name = header_name(request.headers.getall(FUNCTION_HEADER, []))
        if name is None:
            raise not_found(request.path)
        check_name(name)
        return await request.app.ctx.proxy.forward(request, name, path=request.path)

    async def stored(request: Request, rest: str = "") -> HTTPResponse:
        route = resolve(request.path, None, ASYNC_PREFIX)
        return await request.app.ctx.proxy.forward(request, route.name, path=route.path,
                                                   asynchronous=True)

    app.add_route(by_path, "/function/<rest:path>", methods=ALL_METHODS, stream=True,
                  name="function_path")
    # Stored and answered 202 (docs/webhooks.md); the worker delivers it later.
    app.add_route(stored, "/async-function/<rest:path>", methods=ALL_METHODS, stream=True,
                  name="async_function_path")
    app.add_route(by_path, "/function", methods=ALL_METHODS, stream=True,
                  name="function_bare")
    app.add_route(by_header, "/<rest:path>", methods=ALL_METHODS, stream=True,
                  name="function_header")
    root_methods = ALL_METHODS if root_post else [m for m in ALL_METHODS if m != "POST"]
    app.add_route(by_header, "/", methods=root_methods, stream=True, name="function_root")
