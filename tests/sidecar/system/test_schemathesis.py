"""The system API fuzzed from its own OpenAPI document (schemathesis): a real
sidecar process behind the real engine gate on the real swarm. Every answer
to every generated request, with and without credentials, is no 5xx, a
documented status, and a body and headers that match the document.

Bounded: SCHEMATHESIS_EXAMPLES examples per operation (20 by default; the full
form in docs/reliability.md uses more). Whatever a generated request would
create is confined to the rlfz- prefix, image and network, and removed after.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sidecar_swarm import engine_gate, swarm_client_or_skip, wait_port, wait_until
from sys_harness import GOOD_AUTH, PASSWORD, USER, free_port

from faas_sidecar.system.routes import load_openapi

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PREFIX = "rlfz-"
NETWORK = "rlfz-functions"
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "20"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
SCHEMA = schemathesis.openapi.from_dict(load_openapi())
# schemathesis takes the example count from its own config, not from a
# @settings decorator (nor our hypothesis profile): set it here.
SCHEMA.config.generation.update(max_examples=EXAMPLES, deterministic=True)
ROOT = Path(__file__).resolve().parents[3]


SECRET_PREFIX = PREFIX + "secret-"  # what POST /system/secrets makes is confined too


def _remove_ours(dc) -> None:  # type: ignore[no-untyped-def]
    for service in dc.services.list():
        if service.name.startswith(PREFIX):
            service.remove()
    for secret in dc.secrets.list():
        if secret.name.startswith(SECRET_PREFIX):
            try:
                secret.remove()
            except Exception:  # still referenced by a service going away
                time.sleep(0.5)


@contextlib.contextmanager
def nats_broker(store: Path) -> Iterator[int]:
    """A real broker (nats-server -js), so the dead-letter routes answer as
    deployed; without one they are a documented 503 queue_unavailable."""
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("nats-server") or "/usr/sbin/nats-server", "-js", "-a", "127.0.0.1",
         "-p", str(port), "-sd", str(store)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    dc = swarm_client_or_skip()
    _remove_ours(dc)
    if not dc.networks.list(names=[NETWORK]):
        dc.networks.create(NETWORK, driver="overlay", attachable=True)
    secrets = tmp_path_factory.mktemp("rlfz")
    (secrets / "user").write_text(USER)
    (secrets / "password").write_text(PASSWORD)
    token = "rlfz-token-0123456789abcdef"
    (secrets / "token").write_text(token)
    (secrets / "queue-token").write_text("rlfz-queue-token-0123456789abcdef")
    with nats_broker(secrets / "js") as broker_port:
        yield from _serve(dc, secrets, token, broker_port)


def _serve(dc, secrets: Path, token: str, broker_port: int) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The engine gate and the sidecar, until the module's tests are done."""
    gate_port, port = free_port(), None
    with engine_gate(gate_port, NETWORK, images=f"swarmfaas/{PREFIX}*", token=token,
                     env={"SYSTEM_SECRET_PREFIX": SECRET_PREFIX}) as gate:
        port = free_port()
        env = {**os.environ, "FUNCTIONS_NETWORK": NETWORK, "SIDECAR_PORT": str(port),
               "SYSTEM_SERVICE_PREFIX": PREFIX, "SYSTEM_IMAGE_ALLOWLIST": f"swarmfaas/{PREFIX}*",
               "SYSTEM_SECRET_PREFIX": SECRET_PREFIX,
               "SYSTEM_AUTH_USER_FILE": str(secrets / "user"),
               "SYSTEM_AUTH_PASSWORD_FILE": str(secrets / "password"),
               "DOCKER_HOST": gate, "ENGINE_GATE_TOKEN_FILE": str(secrets / "token"),
               "QUEUE_URL": f"nats://127.0.0.1:{broker_port}",
               "QUEUE_TOKEN_FILE": str(secrets / "queue-token"),
               "PYTHONPATH": str(ROOT / "sidecar")}
        sidecar = subprocess.Popen([sys.executable, "-m", "faas_sidecar"], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: httpx.get(f"{base}/healthz").status_code == 200, 30,
                       "the sidecar answering /healthz")
            yield base
            assert sidecar.poll() is None, "the sidecar exited during the fuzzing"
        finally:
            sidecar.terminate()
            sidecar.wait(10)
            _remove_ours(dc)
            deadline = time.monotonic() + 30
            while (nets := dc.networks.list(names=[NETWORK])) and time.monotonic() < deadline:
                try:
                    nets[0].remove()
                except Exception:  # tasks still detaching
                    time.sleep(0.5)
            dc.close()


FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@SCHEMA.parametrize()
@FUZZ
def test_with_credentials_no_5xx_and_every_answer_matches_the_document(api, case) -> None:
    case.call_and_validate(base_url=api, headers=GOOD_AUTH, checks=CHECKS, timeout=30)


@SCHEMA.parametrize()
@FUZZ
def test_without_credentials_every_route_is_a_documented_401(api, case) -> None:
    response = case.call(base_url=api, timeout=30)
    case.validate_response(response, checks=CHECKS)
    # schemathesis also tries methods the route does not take: the router's 405
    # comes before authentication, which tells only that the route exists.
    documented = case.method.upper() == case.operation.method.upper()
    allowed = {401} if documented else {401, 405}
    assert response.status_code in allowed, (case.method, case.path, response.text[:300])
