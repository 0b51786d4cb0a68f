"""After the corpus: no credential, token or signing key of the stack appears
in any service's log or in any answer the suite received.

The secrets are the ones scripts/secrets.sh made in .state/<stack>/ (and the
Alexa test material scripts/deploy.sh made): the system API's basic-auth
password (and the Authorization header it makes), the engine gate's tokens,
the webhook secret, and the private keys (TLS, its CA, the Alexa signer),
matched by every line of their PEM bodies.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ..conftest import ROOT, Platform
from . import stackwatch

RAW_SECRETS = ("basic-auth-password", "engine-gate-token", "engine-gate-scaler-token",
               "github-webhook-secret")
PRIVATE_KEYS = ("certs/key.pem", "certs/ca-key.pem", "alexa-test/signer-key.pem")
MIN_PEM_LINE = 32  # a shorter base64 run could occur by chance


def needles(state: Path) -> dict[str, str]:
    """Every string whose appearance would leak a secret, by what it is."""
    found: dict[str, str] = {}
    for name in RAW_SECRETS:
        path = state / name
        if path.exists() and path.read_text().strip():
            found[name] = path.read_text().strip()
    user_file, password = state / "basic-auth-user", found.get("basic-auth-password")
    if password and user_file.exists():
        pair = f"{user_file.read_text().strip()}:{password}".encode()
        found["Authorization header"] = base64.b64encode(pair).decode()
    for name in PRIVATE_KEYS:
        path = state / name
        if not path.exists():
            continue
        lines = [line.strip() for line in path.read_text().splitlines()
                 if line.strip() and not line.startswith("-----")]
        for n, line in enumerate(lines):
            if len(line) >= MIN_PEM_LINE:
                found[f"{name} line {n + 1}"] = line
    return found


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets that occur in `text`."""
    return [name for name, value in secrets.items() if value in text]


def test_leaks_finds_a_planted_secret_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "basic-auth-user").write_text("admin")
    (tmp_path / "basic-auth-password").write_text("s3cret-Pa55word-xyz\n")
    (tmp_path / "engine-gate-token").write_text("tok" * 12)
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "key.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\n" + "A" * 64 + "\nB\n-----END PRIVATE KEY-----\n")
    secrets = needles(tmp_path)
    assert set(secrets) == {"basic-auth-password", "engine-gate-token", "Authorization header",
                            "certs/key.pem line 1"}
    auth = base64.b64encode(b"admin:s3cret-Pa55word-xyz").decode()
    log = f"GET /system/functions 200\nAuthorization: Basic {auth}\n"
    assert leaks(log, secrets) == ["Authorization header"]
    assert leaks("x" + "A" * 64 + "x", secrets) == ["certs/key.pem line 1"]
    assert leaks("all clean", secrets) == []


@pytest.mark.e2e
@pytest.mark.docker
def test_no_secret_in_any_log_or_answer(platform: Platform, received: list[bytes]) -> None:
    state = ROOT / ".state" / platform.stack
    secrets = needles(state)
    assert {"basic-auth-password", "engine-gate-token", "github-webhook-secret"} <= set(secrets), (
        f"the stack's secrets are not in {state}")
    found = {}
    for service in stackwatch.services(platform.stack):
        hit = leaks(stackwatch.logs(service), secrets)
        if hit:
            found[service] = hit
    answers = b"\n".join(received).decode("latin-1")
    hit = leaks(answers, secrets)
    if hit:
        found["answers the suite received"] = hit
    assert found == {}, f"secrets in the logs or answers: {found}"
    assert received, "the corpus ran before this test and recorded its answers"
