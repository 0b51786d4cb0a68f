"""Asynchronous calls on the deployed stack, through nginx over HTTPS: the
broker, the queue worker and the sidecar as stack.yml runs them, delivering
to the asyncprobe function, which records every delivery (GET .../report)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import Platform, wait_for

pytestmark = pytest.mark.e2e

CALLS = 200


def report(platform: Platform) -> list[dict]:
    with platform.client() as c:
        r = c.get("/function/asyncprobe/report")
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def auth(platform: Platform) -> tuple[str, str]:
    assert platform.ca_file, "the stack's state folder holds the credentials"
    state = Path(platform.ca_file).parents[1]  # .state/<stack>/certs/ca.pem
    return ((state / "basic-auth-user").read_text().strip(),
            (state / "basic-auth-password").read_text().strip())


def test_every_accepted_call_is_delivered_once_as_stored(platform: Platform) -> None:
    run = uuid.uuid4().hex[:8]
    bodies = {f"e2e-{run}-{i}": os.urandom(100) + str(i).encode() for i in range(CALLS)}

    def post(item: tuple[str, bytes]) -> tuple[str, int, str, str]:
        call_id, body = item
        with platform.client() as c:
            r = c.post(f"/async-function/asyncprobe/n/{call_id}?run={run}", content=body,
                       headers={"X-Call-Id": call_id, "Content-Type": "app/octet"})
        return call_id, r.status_code, r.headers.get("x-call-id", ""), r.text

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, bodies.items()))
    for call_id, status, echoed, text in answers:
        assert status == 202, text
        assert echoed == call_id
        assert json.loads(text)["status"] == "accepted"

    def ours() -> list[dict]:
        return [r for r in report(platform) if r["call_id"] in bodies]

    seen = wait_for(lambda: (found := ours()) and len(found) >= CALLS and found, timeout=120,
                    interval=1.0)
    assert sorted(r["call_id"] for r in seen) == sorted(bodies)  # each once, none lost
    for record in seen:
        body = bodies[record["call_id"]]
        assert record["sha256"] == hashlib.sha256(body).hexdigest()
        assert (record["method"], record["path"], record["query"]) == \
            ("POST", f"/n/{record['call_id']}", f"run={run}")
        assert record["attempt"] == "1"


def test_a_call_that_always_fails_is_a_dead_letter_after_its_attempts_and_replays(
        platform: Platform) -> None:
    key = uuid.uuid4().hex[:8]
    call_id = f"e2e-dead-{key}"
    credentials = auth(platform)
    with platform.client() as c:
        r = c.post(f"/async-function/asyncprobe/fail/{key}", content=b"dead or alive",
                   headers={"X-Call-Id": call_id})
    assert r.status_code == 202, r.text

    def letter() -> dict | None:
        with platform.client(auth=credentials) as c:
            listed = c.get("/system/dead-letters", params={"function": "asyncprobe"})
        assert listed.status_code == 200, listed.text
        return next((d for d in listed.json() if d["call_id"] == call_id), None)

    dead = wait_for(letter, timeout=60, interval=0.5)
    # asyncprobe's swarmfaas.async.attempts is 3 (stack.yml)
    assert (dead["attempts"], dead["cause"], dead["status"]) == (3, "server_error", 500)
    assert [r["attempt"] for r in report(platform) if r["call_id"] == call_id] == \
        ["1", "2", "3"]
    with platform.client(auth=credentials) as c:
        whole = c.get(f"/system/dead-letters/{dead['id']}").json()
        assert whole["body_base64"] == "ZGVhZCBvciBhbGl2ZQ=="  # b"dead or alive"
        assert c.get(f"/function/asyncprobe/fix/{key}").status_code == 200
        replay = c.post(f"/system/dead-letters/{dead['id']}/replay")
    assert replay.status_code == 202, replay.text
    assert replay.headers["x-call-id"] == call_id
    attempts = wait_for(lambda: (a := [r["attempt"] for r in report(platform)
                                       if r["call_id"] == call_id]) and len(a) >= 4 and a,
                        timeout=60, interval=0.5)
    assert attempts == ["1", "2", "3", "1"]  # replayed once, and it succeeded
    assert letter() is None
