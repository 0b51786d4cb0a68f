"""Least privilege for the Docker socket, in the deployed stack: only the engine
gate holds it, and the sidecar still discovers, deploys, scales and removes
functions through it."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from .conftest import ROOT, Platform, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
SOCKET = "/var/run/docker.sock"


def _inspect(*args: str) -> list[dict]:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def sidecar_metric(platform: Platform, name: str) -> float:
    """A value of the sidecar's /metrics, read inside its container (nginx does
    not publish /metrics by default)."""
    (container,) = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"name={platform.stack}_sidecar."],
        capture_output=True, text=True, check=True).stdout.split()[:1]
    text = subprocess.run(
        ["docker", "exec", container, "python3", "-c",
         "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/metrics')"
         ".read().decode())"], capture_output=True, text=True, check=True).stdout
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the sidecar's metrics")


def test_only_the_engine_gate_holds_the_docker_socket(platform: Platform) -> None:
    names = subprocess.run(
        ["docker", "service", "ls", "-q", "--filter",
         f"label=com.docker.stack.namespace={platform.stack}"],
        capture_output=True, text=True, check=True).stdout.split()
    services = _inspect("service", "inspect", *names)
    holders = {s["Spec"]["Name"] for s in services
               for m in s["Spec"]["TaskTemplate"]["ContainerSpec"].get("Mounts") or []
               if m.get("Source") == SOCKET}
    assert holders == {f"{platform.stack}_engine-gate"}
    (sidecar,) = [s for s in services if s["Spec"]["Name"] == f"{platform.stack}_sidecar"]
    env = sidecar["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert "DOCKER_HOST=tcp://engine-gate:2375" in env
    (network,) = _inspect("network", "inspect", f"{platform.stack}_engine")
    assert network["Internal"] is True
    on_it = {s["Spec"]["Name"] for s in services
             for n in s["Spec"]["TaskTemplate"].get("Networks") or []
             if n["Target"] == network["Id"]}
    # The autoscaler reads replica counts and scales through the gate too.
    assert on_it == {f"{platform.stack}_engine-gate", f"{platform.stack}_sidecar",
                     f"{platform.stack}_scaler"}


# Run inside the sidecar's container: the gate's answer to a call without the
# token and to one with the token from the sidecar's own Docker secret.
_CALL_THE_GATE = """
import urllib.error, urllib.request
url = 'http://engine-gate:2375/v1.41/version'
def status(headers):
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers)).status
    except urllib.error.HTTPError as exc:
        return exc.code
token = open('/run/secrets/engine-gate-token').read().strip()
print(status({}), status({'Authorization': 'Bearer ' + token}))
"""


def test_the_gate_answers_only_with_the_sidecars_token(platform: Platform) -> None:
    (container,) = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"name={platform.stack}_sidecar."],
        capture_output=True, text=True, check=True).stdout.split()[:1]
    out = subprocess.run(["docker", "exec", container, "python3", "-c", _CALL_THE_GATE],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["401", "200"]
    (gate,) = _inspect("service", "inspect", f"{platform.stack}_engine-gate")
    env = gate["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert "ENGINE_GATE_TOKEN_FILE=/run/secrets/engine-gate-token" in env


def test_the_system_api_works_through_the_gate(platform: Platform) -> None:
    state = ROOT / ".state" / platform.stack
    auth = ((state / "basic-auth-user").read_text().strip(),
            (state / "basic-auth-password").read_text().strip())
    name = f"e2e-gated-{uuid.uuid4().hex[:6]}"
    try:
        with platform.client(auth=auth) as c:
            r = c.post("/system/functions", json={
                "service": name, "image": f"swarmfaas/fn-echo:{platform.tag}",
                "envProcess": "cat"})
            assert r.status_code == 202, r.text
            wait_for(lambda: c.post(f"/function/{name}", content=b"gated").content == b"gated",
                     timeout=60)
            r = c.post(f"/system/scale-function/{name}", json={"replicas": 2})
            assert r.status_code == 202, r.text
            wait_for(lambda: c.get(f"/system/function/{name}").json().get(
                "availableReplicas") == 2, timeout=60)
            # The system API's own allowlist answers first; the gate is the second line.
            r = c.post("/system/functions", json={"service": f"{name}-x",
                                                  "image": "debian:bookworm-slim"})
            assert r.status_code == 403 and r.json()["error"] == "image_not_allowed"
            r = c.request("DELETE", "/system/functions", json={"functionName": name})
            assert r.status_code == 202, r.text
            wait_for(lambda: c.post(f"/function/{name}", content=b"x").status_code == 404, 30)
    finally:
        subprocess.run(["docker", "service", "rm", name], capture_output=True)


def test_the_sidecar_follows_a_restarted_gate(platform: Platform) -> None:
    """The gate is replaced (a stack update, a crash): the sidecar's events stream
    breaks, reconnects through the new gate and re-lists; routing never stops."""
    gate = f"{platform.stack}_engine-gate"
    reconnects = sidecar_metric(platform, "swarmfaas_discovery_reconnects_total")
    subprocess.run(["docker", "service", "update", "--force", "--detach=false", gate],
                   check=True, capture_output=True, timeout=120)
    wait_for(lambda: sidecar_metric(platform, "swarmfaas_discovery_reconnects_total")
             > reconnects and sidecar_metric(platform, "swarmfaas_discovery_stream_connected")
             == 1.0, timeout=30)
    name = f"e2e-after-gate-{uuid.uuid4().hex[:6]}"
    try:
        with platform.client() as c:
            assert c.post("/function/echo", content=b"still").content == b"still"
            subprocess.run(
                ["docker", "service", "create", "--detach", "--name", name,
                 "--label", "swarmfaas.function=true", "--network", platform.functions_network,
                 "--endpoint-mode", "dnsrr", "--health-interval", "1s",
                 f"swarmfaas/fn-echo:{platform.tag}"], check=True, capture_output=True)
            # Only discovery through the new gate can make it routable.
            wait_for(lambda: c.post(f"/function/{name}", content=b"new").content == b"new",
                     timeout=60)
    finally:
        subprocess.run(["docker", "service", "rm", name], capture_output=True)
