"""The whole Alexa path on one machine, with real parts only where it matters.

Real: the Sanic app with the sidecar's own error renderer and proxy, the
Alexa endpoint, a local HTTP server standing in for S3 (the chain is read
through ALEXA_CERT_MIRROR), and real fwatchdog processes running both sample
functions (hostname-intent, and the ask-sdk-core skill). The routing table is
built by hand instead of by Docker discovery (that is the only stand-in).
"""

from __future__ import annotations

import asyncio
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import alexa_signing
import httpx
import pytest
from alexa_live import ROOT, serve, unique_app_name
from sanic import Sanic

from faas_sidecar.alexa import AlexaConfig, setup_alexa
from faas_sidecar.app import setup_errors, setup_metrics
from faas_sidecar.model import FunctionSpec, Replica, RoutingTable
from faas_sidecar.proxy import Proxy

pytestmark = pytest.mark.slow
SKILL = alexa_signing.SKILL_ID


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Watchdog:
    port: int
    log: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_watchdog(fprocess: str, tmp: Path) -> Watchdog:
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "watchdog.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT / "watchdog"),
        "TMPDIR": str(tmp),  # the watchdog's lock file stays ours
        "fprocess": fprocess,
        "port": str(port),
        "fwatchdog_host": "127.0.0.1",
        "content_type": "application/json",
        "exec_timeout": "8s",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fwatchdog"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fwatchdog exited: {log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_/health", timeout=1).status_code == 200:
                return Watchdog(port, log, proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"fwatchdog did not become ready: {log.read_text()}")


@pytest.fixture(scope="module")
def watchdogs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Watchdog]]:
    base = tmp_path_factory.mktemp("watchdogs")
    started = {
        "hostname-intent": start_watchdog(
            f"python3 -S {ROOT / 'functions/hostname-intent/handler.py'}", base / "hostname"
        ),
        "alexa-skill": start_watchdog(
            f"{sys.executable} {ROOT / 'functions/alexa-skill/skill.py'}", base / "skill"
        ),
    }
    yield started
    for dog in started.values():
        dog.proc.terminate()
        try:
            dog.proc.wait(10)
        except subprocess.TimeoutExpired:
            dog.proc.kill()


@pytest.fixture(scope="module")
def s3_stand_in(mirror_dir: Path) -> Iterator[str]:
    """A real HTTP server with the chain, as S3 would serve it, counting GETs."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        gets = 0

        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(mirror_dir), **kwargs)

        def do_GET(self) -> None:
            Handler.gets += 1
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class HandBuiltDiscovery:
    def __init__(self, table: RoutingTable) -> None:
        self.table = table
        self._changed = asyncio.Event()

    def changed(self) -> asyncio.Event:
        return self._changed


def table_for(watchdogs: dict[str, Watchdog]) -> RoutingTable:
    labels = {
        "hostname-intent": {"swarmfaas.alexa.skill_ids": SKILL},
        "alexa-skill": {"swarmfaas.alexa.skill_ids": SKILL, "swarmfaas.alexa.default": "true"},
    }
    functions = {
        name: FunctionSpec(
            name=name,
            service_id=f"id-{name}",
            service_name=f"ax_{name}",
            image=f"swarmfaas/fn-{name}",
            timeout=8,
            labels=MappingProxyType({"swarmfaas.function": "true", **labels[name]}),
            replicas=(Replica(f"task-{name}", "127.0.0.1", dog.port),),
        )
        for name, dog in watchdogs.items()
    }
    return RoutingTable(functions=MappingProxyType(functions), built_at=time.time(), generation=1)


@pytest.fixture
async def sidecar(watchdogs, s3_stand_in, roots_file):  # type: ignore[no-untyped-def]
    app = Sanic(unique_app_name("alexa_integration"))
    app.config.MOTD = False
    app.config.TOUCHUP = False
    setup_errors(app)
    setup_metrics(app)
    discovery = HandBuiltDiscovery(table_for(watchdogs))
    app.ctx.discovery = discovery
    app.ctx.proxy = Proxy(
        lambda: discovery.table,
        discovery.changed,
        app.ctx.sidecar_metrics,
        connect_timeout=2.0,
        hold_timeout=0.0,
        buffer_limit=1024 * 1024,
    )
    config = AlexaConfig.from_env(
        {"ALEXA_TRUST_ROOTS": str(roots_file), "ALEXA_CERT_MIRROR": s3_stand_in}
    )
    setup_alexa(app, config)
    async for server in serve(app):
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            yield client, watchdogs
    app.ctx.proxy.pool.close()


def speech(answer: dict) -> str:  # type: ignore[type-arg]
    out = answer["response"]["outputSpeech"]
    return out.get("text") or out.get("ssml")


async def test_hostname_intent_answers_through_the_real_path(sidecar, signer) -> None:  # type: ignore[no-untyped-def]
    client, dogs = sidecar
    body = alexa_signing.envelope("IntentRequest", intent="HostnameIntent")
    response = await client.post(
        "/alexa", content=body, headers=alexa_signing.signed_headers(body, signer[1])
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert speech(response.json()) == f"Your hostname is {socket.gethostname()}."
    request_id = alexa_signing.json.loads(body)["request"]["requestId"]
    assert request_id in dogs["hostname-intent"].output()


@pytest.mark.parametrize(
    ("kind", "intent", "expected"),
    [
        ("LaunchRequest", "", "Welcome to swarmfaas"),
        ("IntentRequest", "HelloWorldIntent", "Hello world, from"),  # unclaimed: the default
        ("IntentRequest", "AMAZON.HelpIntent", "You can say hello"),
    ],
)
async def test_ask_sdk_skill_answers_through_the_real_path(
    sidecar, signer, kind: str, intent: str, expected: str
) -> None:  # type: ignore[no-untyped-def]
    client, _ = sidecar
    body = alexa_signing.envelope(kind, intent=intent or "Unused")
    response = await client.post(
        "/", content=body, headers=alexa_signing.signed_headers(body, signer[1])
    )
    assert response.status_code == 200, response.text
    assert expected in speech(response.json())


@pytest.mark.parametrize("how", ["unsigned", "another key", "flipped byte"])
async def test_rejected_requests_never_reach_the_watchdog(sidecar, signer, how: str) -> None:  # type: ignore[no-untyped-def]
    client, dogs = sidecar
    body = alexa_signing.envelope("IntentRequest", intent="HostnameIntent")
    request_id = alexa_signing.json.loads(body)["request"]["requestId"]
    if how == "unsigned":
        headers: dict[str, str] = {"Content-Type": "application/json"}
    elif how == "another key":
        headers = alexa_signing.signed_headers(body, alexa_signing.new_key())
    else:
        headers = alexa_signing.signed_headers(body, signer[1])
        body = body.replace(b"HostnameIntent", b"HostnameIntenT")
    response = await client.post("/alexa", content=body, headers=headers)
    assert response.status_code == 400
    assert response.headers["x-swarmfaas-internal"] == "sidecar"
    await asyncio.sleep(0.2)
    assert request_id not in dogs["hostname-intent"].output()
