"""Shared helpers for the system API tests: a real Sanic server on a real port."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import httpx
from sanic import Sanic
from sanic.response import raw
from sidecar_swarm import free_port_in  # tests/sidecar, on sys.path (its conftest)

from faas_sidecar.errors import PlatformError, error_body, error_headers
from faas_sidecar.model import EMPTY_TABLE

Sanic.test_mode = True  # several apps with one name in one process

PORT_RANGE = range(18300, 18400)  # this part's share of the host ports
USER, PASSWORD = "admin", "s3cret-Pässword"


def free_port() -> int:
    return free_port_in(PORT_RANGE)


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


def documented_routes(doc: dict) -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    }


def registered_system_routes(app: Sanic) -> set[tuple[str, str]]:
    """(OpenAPI-style path, method) of every route the app serves under /system."""
    found = set()
    for route in app.router.routes:
        path = "/" + route.path.lstrip("/")
        if not (path == "/system" or path.startswith("/system/")):
            continue
        path = re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", path)
        found.update((path, method) for method in route.methods)
    return found


def concrete_path(template: str) -> str:
    return template.replace("{name}", "some-function").replace("{id}", "1")


def assert_matches_openapi(doc: dict, path: str, method: str, response: httpx.Response) -> None:
    """The response's status is documented for this operation and its body fits the schema."""
    from jsonschema import Draft202012Validator

    operation = doc["paths"][path][method.lower()]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {path}: status {response.status_code} undocumented"
    if "$ref" in documented:
        documented = doc["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
    if "content" not in documented:
        assert response.content == b"", f"{method} {path}: documented without a body"
        return
    schema = documented["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    errors = sorted(validator.iter_errors(response.json()), key=str)
    assert not errors, f"{method} {path} {response.status_code}: {errors[0].message}"
    for name in documented.get("headers", {}):
        assert name in response.headers, f"{method} {path}: header {name} missing"
