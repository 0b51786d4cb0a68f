from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ng_harness import Front, Recorder, need_binary, world_readable_dir

# Ports: this suite owns 18500-18599.
UPSTREAM_PORT = 18503


@pytest.fixture(scope="session")
def dev_ca() -> Path:
    """The project's own development CA and localhost certificate."""
    import dev_cert

    out = world_readable_dir("ng-devca-")
    dev_cert.ensure(str(out))
    yield out
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="session")
def upstream() -> Recorder:
    recorder = Recorder(UPSTREAM_PORT).start()
    yield recorder
    recorder.stop()


@pytest.fixture(scope="session")
def start_front(dev_ca):
    """Start a front door with extra settings; stopped at the end of the session."""
    need_binary("nginx")
    started: list[Front] = []

    def start(https_port: int, http_port: int, **env: str) -> Front:
        base = world_readable_dir("ng-front-")
        settings = {
            "TLS_CERT_FILE": str(dev_ca / "cert.pem"),
            "TLS_KEY_FILE": str(dev_ca / "key.pem"),
            "SIDECAR_UPSTREAM": f"127.0.0.1:{UPSTREAM_PORT}",
            **env,
        }
        front = Front(https_port, http_port, base, settings).start()
        started.append(front)
        return front

    yield start
    for front in started:
        front.stop()
        shutil.rmtree(front.base, ignore_errors=True)


@pytest.fixture(scope="session")
def front(start_front, upstream):
    """The production shape: DOMAIN=localhost, small limits so tests stay fast."""
    return start_front(
        18501,
        18502,
        DOMAIN="localhost",
        NGINX_MAX_BODY_SIZE="1k",
        NGINX_CLIENT_HEADER_TIMEOUT="2",
        NGINX_CLIENT_BODY_TIMEOUT="2",
        NGINX_PROXY_TIMEOUT="2",
        NGINX_RATE_LIMIT="1000",
        NGINX_RATE_BURST="1000",
    )


@pytest.fixture(scope="session")
def have_docker():
    """Skips unless a Docker Engine answers and the base image exists."""
    from test_image import docker

    if shutil.which("docker") is None or docker("info").returncode != 0:
        pytest.skip("no Docker Engine here (scripts/engine.sh starts one)")
    if docker("image", "inspect", "debian:bookworm-slim").returncode != 0:
        pytest.skip("no debian:bookworm-slim base image (scripts/base-image.sh makes it)")
