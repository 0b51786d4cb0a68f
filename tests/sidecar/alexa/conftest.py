"""Shared pieces of the Alexa tests: the local PKI, envelopes, a live Sanic app."""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))  # alexa_signing, next to this file
try:
    import faas_sidecar  # noqa: F401
except ImportError:  # the package is not installed: use the checkout
    sys.path.insert(0, str(ROOT / "sidecar"))

import alexa_signing  # noqa: E402


@pytest.fixture(scope="session")
def pki() -> alexa_signing.TestPKI:
    return alexa_signing.TestPKI()


@pytest.fixture(scope="session")
def signer(pki: alexa_signing.TestPKI):  # type: ignore[no-untyped-def]
    """A valid Amazon-like signing certificate and its key."""
    return pki.issue()


@pytest.fixture(scope="session")
def roots_file(pki: alexa_signing.TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("roots") / "ca.pem"
    path.write_bytes(pki.root_pem())
    return path


@pytest.fixture(scope="session")
def mirror_dir(pki, signer, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """A directory standing in for https://s3.amazonaws.com/echo.api/."""
    path = tmp_path_factory.mktemp("echo.api")
    (path / "echo-api-cert.pem").write_bytes(pki.chain_pem(signer[0]))
    return path


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
