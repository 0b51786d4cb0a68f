"""Real GitHub payloads (@octokit/webhooks-examples, vendored in
tests/sidecar/webhooks/github) signed with the stack's webhook secret, sent
over HTTPS through nginx to webhookstash (swarmfaas.webhook.scheme: github):
the deployed sidecar's check lets them through and the function stores each
byte for byte, by the synchronous and the asynchronous path; a flipped byte
never reaches it."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import uuid
from pathlib import Path

import pytest

from . import tasks
from .conftest import Platform, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

PAYLOADS = sorted((Path(__file__).parents[1] / "sidecar" / "webhooks" / "github").glob("*.json"))


def secret(platform: Platform) -> bytes:
    assert platform.ca_file, "the stack's state folder holds the webhook secret"
    return (Path(platform.ca_file).parents[1] / "github-webhook-secret").read_bytes()


def github_headers(key: bytes, event: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/e2e",
            "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()}


def stash(platform: Platform) -> str:
    return tasks.containers(f"{platform.stack}_webhookstash")[0]


def test_real_github_payloads_pass_the_check_and_arrive_byte_for_byte(
        platform: Platform) -> None:
    assert len(PAYLOADS) == 5
    key = secret(platform)
    container = stash(platform)
    with platform.client() as c:
        for payload in PAYLOADS:
            body = payload.read_bytes()
            event = payload.name.split(".")[0]
            headers = github_headers(key, event, body)
            flipped = body[:100] + bytes([body[100] ^ 0x20]) + body[101:]
            refused = c.post("/function/webhookstash", content=flipped, headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"] == "webhook_signature_invalid"
            r = c.post("/function/webhookstash", content=body, headers=headers)
            assert r.status_code == 200, (payload.name, r.text)
            stored = subprocess.run(["docker", "exec", container, "cat", f"/data/{r.text.strip()}"],
                                    check=True, capture_output=True).stdout
            assert stored == body, payload.name


def test_a_real_push_payload_by_the_asynchronous_path_arrives_byte_for_byte(
        platform: Platform) -> None:
    key = secret(platform)
    body = (PAYLOADS[0].parent / "push.json").read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    listing = ("import hashlib, os\n"
               "for n in os.listdir('/data'):\n"
               "    print(hashlib.sha256(open('/data/' + n, 'rb').read()).hexdigest())\n")

    def copies() -> int:  # files in the stash with exactly these bytes
        return tasks.docker("exec", stash(platform), "python3", "-c", listing).split().count(digest)

    before = copies()
    with platform.client() as c:
        r = c.post("/async-function/webhookstash", content=body,
                   headers=github_headers(key, "push", body))
    assert r.status_code == 202, r.text
    wait_for(lambda: copies() == before + 1, timeout=60, interval=1.0)
