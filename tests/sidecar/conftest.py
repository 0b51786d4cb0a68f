"""Shared fixtures for the sidecar core tests (tests/sidecar)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ECHO = Path(__file__).parent / "images" / "echo" / "echo.py"

# Helper modules of these tests (sidecar_swarm, sidecar_relay) import by name.
sys.path.insert(0, str(Path(__file__).parent))

from sidecar_swarm import wait_port  # noqa: E402


@pytest.fixture
def echo_server():
    """Start real echo upstreams (tests/sidecar/images/echo/echo.py) on 127.0.0.1."""
    procs: list[subprocess.Popen] = []

    def start(port: int, drain: float = 0.5) -> subprocess.Popen:
        env = {**os.environ, "PORT": str(port), "DRAIN_SECONDS": str(drain)}
        proc = subprocess.Popen([sys.executable, str(ECHO)], env=env)
        procs.append(proc)
        wait_port(port)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture
def scaler_udp():
    """A UDP socket on 127.0.0.1 standing in for the scaler's wake port
    (SCALER_WAKE); read it with test_scalerwake.received."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        yield sock


def pytest_configure(config):
    # Also asked for in pyproject's markers; registered here so --strict-markers
    # accepts it before that lands.
    config.addinivalue_line(
        "markers", "disruptive: restarts the shared dockerd; runs only in CI (CI=true) "
        "or with SC_DISRUPTIVE=1")
