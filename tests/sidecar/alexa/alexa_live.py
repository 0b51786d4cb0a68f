"""Run a Sanic app on a real socket inside a test's event loop (Alexa tests)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class LiveServer:
    url: str
    app: object


async def serve(app) -> AsyncIterator[LiveServer]:  # type: ignore[no-untyped-def]
    """Run a Sanic app on a real socket on 127.0.0.1 inside the test's event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        sock.close()


def unique_app_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
