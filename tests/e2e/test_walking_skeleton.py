"""The whole path, for real: HTTPS -> nginx -> sidecar -> watchdog -> process."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from .conftest import Platform, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def test_echo_returns_a_small_text_body(platform: Platform) -> None:
    with platform.client() as c:
        r = c.post("/function/echo", content=b"hello")
    assert r.status_code == 200
    assert r.content == b"hello"
    # No Content-Type came in, so none goes out (not the string "None").
    assert "content-type" not in r.headers, r.headers


def test_echo_returns_1_mib_of_binary_byte_for_byte(platform: Platform) -> None:
    body = os.urandom(1024 * 1024)
    with platform.client() as c:
        r = c.post(
            "/function/echo", content=body, headers={"Content-Type": "application/octet-stream"}
        )
    assert r.status_code == 200
    assert len(r.content) == len(body)
    assert r.content == body


def test_x_function_header_routes_any_path(platform: Platform) -> None:
    with platform.client() as c:
        r = c.post("/some/other/path", content=b"via header", headers={"X-Function": "echo"})
    assert r.status_code == 200
    assert r.content == b"via header"


def test_unknown_function_is_a_json_404_naming_it(platform: Platform) -> None:
    with platform.client() as c:
        r = c.post("/function/no-such-function", content=b"x")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers.get("x-swarmfaas-internal")
    doc = r.json()
    assert "no-such-function" in doc["reason"]
    assert doc["status"] == 404


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def test_a_service_created_at_run_time_becomes_callable_and_leaves_on_rm(
    platform: Platform,
) -> None:
    name = f"e2e-dyn-{uuid.uuid4().hex[:8]}"
    _docker(
        "service", "create", "--detach", "--name", name,
        "--label", "swarmfaas.function=true",
        "--network", platform.functions_network,
        "--endpoint-mode", "dnsrr",
        "--env", "fprocess=cat",
        f"swarmfaas/fn-echo:{platform.tag}",
    )  # fmt: skip
    try:
        with platform.client() as c:

            def called() -> bool:
                r = c.post(f"/function/{name}", content=b"dynamic")
                return r.status_code == 200 and r.content == b"dynamic"

            wait_for(called, timeout=60)
            _docker("service", "rm", name)
            wait_for(lambda: c.post(f"/function/{name}", content=b"x").status_code == 404, 30)
    finally:
        subprocess.run(["docker", "service", "rm", name], capture_output=True)


def test_webhookstash_stores_a_json_webhook_byte_for_byte(platform: Platform) -> None:
    payload = json.dumps(
        {"action": "opened", "number": 7, "zen": "Keep it logically awesome. ✓"},
        ensure_ascii=False,
        indent=1,
    ).encode()
    assert platform.ca_file, "the stack's state folder holds the webhook secret"
    state = Path(platform.ca_file).parents[1]  # .state/<stack>/certs/ca.pem
    secret = (state / "github-webhook-secret").read_bytes()
    delivery = str(uuid.uuid4())
    signature = "sha256=" + hmac.new(secret, payload, hashlib.sha256).hexdigest()
    github = {"Content-Type": "application/json", "X-GitHub-Event": "issues",
              "X-GitHub-Delivery": delivery}
    with platform.client() as c:
        unsigned = c.post("/function/webhookstash", content=payload, headers=github)
        forged = c.post("/function/webhookstash", content=payload + b" ",
                        headers={**github, "X-Hub-Signature-256": signature})
        r = c.post("/function/webhookstash", content=payload,
                   headers={**github, "X-Hub-Signature-256": signature})
        redelivered = c.post("/function/webhookstash", content=payload,
                             headers={**github, "X-Hub-Signature-256": signature})
    for refused in (unsigned, forged):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "webhook_signature_invalid"
        assert refused.headers["x-swarmfaas-internal"] == "sidecar"
    assert redelivered.status_code == 200 and redelivered.json()["status"] == "duplicate"
    assert r.status_code == 200, r.text
    filename = r.text.strip()
    assert filename.isdigit(), filename
    container = _docker(
        "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={platform.stack}_webhookstash"
    ).split()[0]
    stored = subprocess.run(
        ["docker", "exec", container, "cat", f"/data/{filename}"], check=True, capture_output=True
    ).stdout
    assert stored == payload


def test_plain_http_redirects_to_https(platform: Platform) -> None:
    r = httpx.get(f"http://127.0.0.1:{platform.http_port}/function/echo", follow_redirects=False)
    assert r.status_code in (301, 308)
    assert r.headers["location"].startswith("https://")


def test_a_function_calls_another_through_the_sidecar(platform: Platform) -> None:
    with platform.client() as c:
        r = c.post(
            "/function/relay", content=b"inside the swarm", headers={"X-Target": "echo"}
        )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "via": "relay",
        "function": "echo",
        "status": 200,
        "body": "inside the swarm",
    }


def test_relay_to_a_missing_function_reports_the_sidecars_404(platform: Platform) -> None:
    with platform.client() as c:
        r = c.post("/function/relay", content=b"x", headers={"X-Target": "nope-nothing"})
    assert r.status_code == 200
    doc = r.json()
    assert doc["status"] == 404
    assert json.loads(doc["body"])["error"] == "function_not_found"
