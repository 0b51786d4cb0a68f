"""Alexa end to end: HTTPS -> nginx -> sidecar (Amazon's checks) -> watchdog -> skill.

Needs a stack deployed with the Alexa test material (docs/alexa.md, "Testing
end to end"): the sidecar trusts .state/<stack>/alexa-test/ca.pem and reads the
signing chain through ALEXA_CERT_MIRROR; the test signs with the matching
signer-key.pem, exactly as Amazon signs with the key of echo-api.amazon.com.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
SIGNING = ROOT / "tests" / "sidecar" / "alexa" / "alexa_signing.py"


def _signing() -> ModuleType:
    spec = importlib.util.spec_from_file_location("alexa_signing_e2e", SIGNING)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


signing = _signing()


@pytest.fixture(scope="module")
def alexa(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The deployed platform and the key to sign with; skips when either is missing."""
    try:
        platform = request.getfixturevalue("platform")
    except pytest.FixtureLookupError:
        pytest.skip("no `platform` fixture: run from tests/e2e with its conftest")
    material = ROOT / ".state" / platform.stack / "alexa-test"
    key_file = material / "signer-key.pem"
    if not key_file.exists():
        pytest.skip(f"{key_file} is missing: the stack has no Alexa test material")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(key_file.read_bytes(), password=None)
    with platform.client(timeout=30.0) as client:
        # The samples may still be starting: the sidecar holds requests for a
        # bit, and a 503 just means "not yet".
        deadline = time.monotonic() + 90
        while True:
            body = signing.envelope("LaunchRequest")
            r = client.post("/alexa", content=body, headers=signing.signed_headers(body, key))
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
        yield platform, client, key


def service_logs(stack: str, service: str) -> str:
    proc = subprocess.run(
        ["docker", "service", "logs", "--raw", f"{stack}_{service}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return proc.stdout + proc.stderr


def wait_for_log(stack: str, service: str, needle: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in service_logs(stack, service):
            return True
        time.sleep(0.5)
    return False


def request_id(body: bytes) -> str:
    return json.loads(body)["request"]["requestId"]


def speech(answer: dict) -> str:  # type: ignore[type-arg]
    out = answer["response"]["outputSpeech"]
    return out.get("text") or out.get("ssml")


@pytest.mark.parametrize("path", ["/alexa", "/"])
def test_hostname_intent_answers_with_its_container_hostname(alexa, path: str) -> None:  # type: ignore[no-untyped-def]
    platform, client, key = alexa
    body = signing.envelope("IntentRequest", intent="HostnameIntent")
    r = client.post(path, content=body, headers=signing.signed_headers(body, key))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert "x-swarmfaas-internal" not in r.headers
    # Docker sets a container's hostname to its short id.
    assert re.fullmatch(r"Your hostname is [0-9a-f]{12}\.", speech(r.json())), r.text
    assert wait_for_log(platform.stack, "hostname-intent", request_id(body))


@pytest.mark.parametrize(
    ("kind", "intent", "expected"),
    [
        ("LaunchRequest", "", "Welcome to swarmfaas"),
        ("IntentRequest", "HelloWorldIntent", "Hello world, from"),
        ("IntentRequest", "AMAZON.HelpIntent", "You can say hello"),
        ("SessionEndedRequest", "", None),
    ],
)
def test_ask_sdk_skill_answers(alexa, kind: str, intent: str, expected: str | None) -> None:  # type: ignore[no-untyped-def]
    platform, client, key = alexa
    body = signing.envelope(kind, intent=intent or "Unused")
    r = client.post("/alexa", content=body, headers=signing.signed_headers(body, key))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["version"] == "1.0"
    if expected is None:
        assert "outputSpeech" not in answer["response"]
    else:
        assert expected in speech(answer)
    assert wait_for_log(platform.stack, "alexa-skill", request_id(body))


@pytest.mark.parametrize("how", ["unsigned", "another key", "body changed after signing"])
def test_bad_signatures_get_400_and_never_reach_the_function(alexa, how: str) -> None:  # type: ignore[no-untyped-def]
    platform, client, key = alexa
    body = signing.envelope("IntentRequest", intent="HostnameIntent")
    if how == "unsigned":
        headers = {"Content-Type": "application/json"}
    elif how == "another key":
        headers = signing.signed_headers(body, signing.new_key())
    else:
        headers = signing.signed_headers(body, key)
        body = body.replace(b'"en-US"', b'"en-GB"')
    rejected_id = request_id(body)
    r = client.post("/alexa", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.headers["x-swarmfaas-internal"] == "sidecar"
    assert r.json()["error"] in ("alexa_signature_missing", "alexa_signature_invalid")

    # A good request sent after it shows up in the log, so the log is current
    # when we look for the rejected one.
    probe = signing.envelope("IntentRequest", intent="HostnameIntent")
    ok = client.post("/alexa", content=probe, headers=signing.signed_headers(probe, key))
    assert ok.status_code == 200
    assert wait_for_log(platform.stack, "hostname-intent", request_id(probe))
    assert rejected_id not in service_logs(platform.stack, "hostname-intent")


def test_unknown_skill_is_refused(alexa) -> None:  # type: ignore[no-untyped-def]
    _, client, key = alexa
    body = signing.envelope("LaunchRequest", skill_id="amzn1.ask.skill.not-ours")
    r = client.post("/alexa", content=body, headers=signing.signed_headers(body, key))
    assert (r.status_code, r.json()["error"]) == (400, "unknown_application_id")
