"""Shared pieces of the Alexa tests: the local PKI, envelopes, a live Sanic app."""

from __future__ import annotations

import sys
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
