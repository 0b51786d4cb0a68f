"""Shared helpers for the system API tests: a real Sanic server on a real port."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import httpx
from faas_sidecar.errors import PlatformError, error_body, error_headers
from faas_sidecar.model import EMPTY_TABLE
from sanic import Sanic
from sanic.response import raw

Sanic.test_mode = True  # several apps with one name in one process

PORT_RANGE = range(18300, 18400)  # this part's share of the host ports
USER, PASSWORD = "admin", "s3cret-Pässword"


def free_port() -> int:
    for port in PORT_RANGE:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18300-18399")


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


GOOD_AUTH = basic(USER, PASSWORD)


def render_platform_errors(app: Sanic) -> None:
    """What the core's error handler does (docs/errors.md), for apps built here."""

    async def handler(request, exc: PlatformError):
        return raw(error_body(exc.status, exc.code, exc.reason), status=exc.status,
                   headers=error_headers(exc.headers))

    app.error_handler.add(PlatformError, handler)


def fake_discovery(table=EMPTY_TABLE) -> SimpleNamespace:
    return SimpleNamespace(table=table)


@asynccontextmanager
async def serving(app: Sanic) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app`` on 127.0.0.1 with its start/stop hooks; yield a client for it."""
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port,
                                     return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
