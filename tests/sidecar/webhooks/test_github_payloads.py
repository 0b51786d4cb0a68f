"""Real GitHub payloads (@octokit/webhooks-examples, tests/sidecar/webhooks/github)
through the sidecar's GitHub check: signed with a test secret they pass, and a
flipped byte anywhere, a wrong secret or a missing header is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from faas_sidecar.webhooks.signatures import Scheme, verify

PAYLOADS = sorted((Path(__file__).parent / "github").glob("*.json"))
SECRET = b"It's a Secret to Everybody"  # a test secret, in no deployment
GITHUB = Scheme("github")


def signed(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    return {"x-github-event": "push", "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "x-hub-signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
            "content-type": "application/json"}


def test_the_vendored_payloads_are_there_and_are_github_events() -> None:
    names = {p.name for p in PAYLOADS}
    assert names == {"ping.json", "push.json", "pull_request.opened.json",
                     "issues.opened.json", "issue_comment.created.json"}
    events = {p.name: json.loads(p.read_bytes()) for p in PAYLOADS}
    assert "hook" in events["ping.json"] and "zen" in events["ping.json"]
    assert events["push.json"]["ref"].startswith("refs/")
    assert events["pull_request.opened.json"]["pull_request"]["number"] >= 1
    for event in events.values():
        assert "repository" in event or "hook" in event


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.name)
def test_a_real_payload_signed_with_the_secret_passes(payload: Path) -> None:
    body = payload.read_bytes()
    verdict = verify(GITHUB, [b"an old secret", SECRET], signed(body), body, now=0.0)
    assert verdict.ok, verdict.reason
    assert verdict.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.name)
def test_a_real_payload_changed_or_badly_signed_is_refused(payload: Path) -> None:
    body = payload.read_bytes()
    headers = signed(body)
    for at in (0, len(body) // 2, len(body) - 1):
        flipped = body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1:]
        verdict = verify(GITHUB, [SECRET], headers, flipped, now=0.0)
        assert (verdict.ok, verdict.cause) == (False, "mismatch"), at
    wrong = verify(GITHUB, [SECRET], signed(body, b"not the secret"), body, now=0.0)
    assert (wrong.ok, wrong.cause) == (False, "mismatch")
    unsigned = {k: v for k, v in headers.items() if k != "x-hub-signature-256"}
    missing = verify(GITHUB, [SECRET], unsigned, body, now=0.0)
    assert (missing.ok, missing.cause) == (False, "missing")
