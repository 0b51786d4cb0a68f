"""The faas CLI driven as a user drives it, against the real stack over HTTPS.

new -> build -> deploy -> invoke (binary too) -> list -> describe -> scale ->
remove for every shipped template; an unchanged faas-cli stack file; and the
errors a user meets, each with its message and exit code (docs/cli.md).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, Platform, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.slow]

BINARY = bytes(range(256)) * 4 + b"\x00\r\n\xff"


class Faas:
    """Runs `python -m faas_cli` in a project folder with its own config file."""

    def __init__(self, project: Path, platform: Platform) -> None:
        self.project = project
        self.platform = platform
        self.env = {**os.environ, "SWARMFAAS_CONFIG": str(project / "faas-config.json"),
                    "SWARMFAAS_WATCHDOG_TAG": platform.tag}
        for k in ("OPENFAAS_URL", "SWARMFAAS_URL", "SWARMFAAS_PASSWORD_FILE", "SWARMFAAS_CA"):
            self.env.pop(k, None)

    def __call__(self, *args: str, stdin: bytes = b"", timeout: float = 600
                 ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "faas_cli", *args], cwd=self.project,
                              env=self.env, input=stdin, capture_output=True, timeout=timeout)

    def ok(self, *args: str, stdin: bytes = b"") -> bytes:
        r = self(*args, stdin=stdin)
        assert r.returncode == 0, f"faas {' '.join(args)}: {r.returncode}\n{r.stderr.decode()}"
        return r.stdout


def state(platform: Platform, name: str) -> Path:
    return ROOT / ".state" / platform.stack / name


@pytest.fixture
def faas(platform: Platform, tmp_path: Path) -> Faas:
    f = Faas(tmp_path, platform)
    f.ok("login", "-g", platform.base_url, "--tls-ca", platform.ca_file or "",
         "--password-stdin", stdin=state(platform, "basic-auth-password").read_bytes())
    return f


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def describe(faas: Faas, name: str) -> dict:
    return json.loads(faas.ok("describe", name, "--json"))


def test_login_saves_mode_600_and_refuses_bad_credentials(platform: Platform, tmp_path: Path):
    f = Faas(tmp_path, platform)
    r = f("login", "-g", platform.base_url, "--tls-ca", platform.ca_file or "",
          "--password-stdin", stdin=b"wrong\n")
    assert r.returncode == 3
    assert b"refused the credentials" in r.stderr
    assert not (tmp_path / "faas-config.json").exists()
    password = state(platform, "basic-auth-password").read_bytes()
    r = f("login", "-g", platform.base_url, "--tls-ca", platform.ca_file or "",
          "--password-stdin", stdin=password)
    assert r.returncode == 0, r.stderr
    cfg = tmp_path / "faas-config.json"
    assert cfg.stat().st_mode & 0o777 == 0o600
    assert password.strip() not in r.stdout + r.stderr  # never printed
    assert f("list").returncode == 0  # later commands use the saved login


@pytest.mark.parametrize("lang", ["python", "python-http", "node", "go", "shell", "dockerfile"])
def test_template_lifecycle(faas: Faas, lang: str):
    name = unique(f"cli-{lang}")
    faas.ok("new", name, "--lang", lang)
    faas.ok("build", name)
    try:
        out = faas("deploy", name)
        assert out.returncode == 0, out.stderr
        assert f"/function/{name}".encode() in out.stderr
        # Every template's skeleton echoes; the dockerfile one counts bytes (wc -c).
        body = faas.ok("invoke", name, stdin=BINARY)
        if lang == "dockerfile":
            assert body.strip() == str(len(BINARY)).encode()
        else:
            assert body == BINARY
            assert faas.ok("invoke", name, "--data", "hello", "-q", "a=1",
                           "-H", "X-Test=yes", "-m", "PUT") == b"hello"
        listed = {f["name"]: f for f in json.loads(faas.ok("list", "--json"))}
        assert listed[name]["availableReplicas"] >= 1
        assert name.encode() in faas.ok("list")  # the table a person reads
        d = describe(faas, name)
        assert d["image"].startswith(f"swarmfaas/fn-{name}:latest-")  # pinned to the build
        faas.ok("scale", name, "2")
        wait_for(lambda: describe(faas, name)["replicas"] == 2, timeout=30)
    finally:
        faas.ok("remove", name)
    r = faas("describe", name)
    assert r.returncode == 1
    assert f"no function named '{name}'".encode() in r.stderr


def test_an_unchanged_faas_cli_stack_file_deploys(faas: Faas):
    name = unique("cli-legacy")
    handler = faas.project / name
    handler.mkdir()
    # A package from PyPI: `faas build` makes its wheel on the host, the image installs it.
    (handler / "handler.py").write_text(
        "import os\n\nimport six\n\n\ndef handle(req):\n"
        "    return six.ensure_str(os.environ['greeting'] + ' ' + req)\n")
    (handler / "requirements.txt").write_text("six\n")
    # As faas-cli writes it (lang python3, OpenFaaS's default gateway), plus the usual fields.
    (faas.project / "stack.yml").write_text(f"""
version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:8080
functions:
  {name}:
    lang: python3
    handler: ./{name}
    image: swarmfaas/fn-{name}:latest
    environment:
      greeting: hello
    labels:
      com.openfaas.scale.min: "1"
    annotations:
      topic: tests
    limits:
      memory: 128Mi
    requests:
      cpu: 100m
""")
    faas.ok("up")  # build, push (says there is no registry), deploy
    try:
        assert faas.ok("invoke", name, "--data", "world") == b"hello world"
        d = describe(faas, name)
        assert d["annotations"] == {"topic": "tests"}
        assert d["labels"]["com.openfaas.scale.min"] == "1"
        assert d["limits"]["memory"]
    finally:
        faas.ok("remove")  # every function of the stack file


def test_a_handler_that_fails_to_import(faas: Faas):
    name = unique("cli-broken")
    faas.ok("new", name, "--lang", "python")
    (faas.project / name / "handler.py").write_text("import no_such_module_here\n")
    r = faas("build", name)
    assert r.returncode == 1
    assert b"No module named 'no_such_module_here'" in r.stderr  # the build ran its test
    # Without the test the image builds, deploys, and each call says the process failed.
    faas.ok("build", name, "--build-arg", "TEST_ENABLED=false")
    faas.ok("deploy", name)
    try:
        r = faas("invoke", name, "--data", "x")
        assert r.returncode == 1
        assert b"from the watchdog" in r.stderr and f"faas logs {name}".encode() in r.stderr
    finally:
        faas.ok("remove", name)


def test_a_broken_dockerfile(faas: Faas):
    name = unique("cli-baddf")
    faas.ok("new", name, "--lang", "dockerfile")
    with (faas.project / name / "Dockerfile").open("a") as f:
        f.write("RUN no-such-command-anywhere\n")
    r = faas("build", name)
    assert r.returncode == 1
    assert b"docker build failed" in r.stderr
    assert b"no-such-command-anywhere: not found" in r.stderr
    assert b"fix the Dockerfile" in r.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("args", "code", "message"), [
    (("invoke", "no-such-function-here", "--data", "x"), 1,
     b"no function named 'no-such-function-here'"),
    (("describe", "no-such-function-here"), 1, b"faas list"),
    (("scale", "no-such-function-here", "1"), 1, b"no function named"),
    (("remove", "no-such-function-here"), 1, b"no function named"),
    (("scale", "echo", "-1"), 2, b""),  # click: -1 is not an option value
    (("build",), 2, b"no stack file here"),
    (("new", "Bad_Name", "--lang", "python"), 2, b"is not valid"),
    (("new", "ok-name", "--lang", "cobol"), 2, b"no template for lang 'cobol'"),
])
def test_errors_have_a_message_and_an_exit_code(faas: Faas, args, code, message):
    r = faas(*args)
    assert r.returncode == code, r.stderr
    assert message in r.stderr
    assert b"Traceback" not in r.stderr


def test_logs_and_secrets_through_the_deployed_gateway(faas: Faas):
    """`faas logs` and `faas secret` against the stack: the system API reads the
    function's service logs and manages secrets through the real engine gate."""
    faas.ok("invoke", "echo", "--data", "hello")
    r = faas("logs", "echo", "--tail", "20", "--json")
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        entry = json.loads(line)
        assert entry["name"] == "echo" and entry["namespace"] == "swarmfaas-fn"
        assert entry["instance"] and entry["timestamp"].startswith("20")
    r = faas("logs", "no-such-function")
    assert r.returncode == 1 and b"no function named" in r.stderr
    name, value = unique("cli-secret"), f"value-{secrets.token_hex(8)}"
    faas.ok("secret", "create", name, stdin=value.encode())
    try:
        listed = json.loads(faas.ok("secret", "list", "--json"))
        assert {"name": name, "namespace": "swarmfaas-fn"} in listed
        r = faas("secret", "create", name, stdin=value.encode())
        assert r.returncode == 1 and b"exists" in r.stderr
        faas.ok("secret", "update", name, stdin=(value + "2").encode())
    finally:
        r = faas("secret", "remove", name)
    assert r.returncode == 0, r.stderr
    assert name not in [s["name"] for s in json.loads(faas.ok("secret", "list", "--json"))]
    assert value.encode() not in r.stdout + r.stderr


def test_bad_credentials_and_platform_down(faas: Faas, tmp_path: Path):
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    r = faas("list", "--password-file", str(wrong))
    assert r.returncode == 3
    assert b"refused the credentials" in r.stderr and b"faas login" in r.stderr
    r = faas("list", "-g", f"https://127.0.0.1:{free_port()}")
    assert r.returncode == 4
    assert b"cannot reach the gateway" in r.stderr
    r = faas("list", "--tls-ca", "/etc/ssl/certs/ca-certificates.crt")
    assert r.returncode == 4
    assert b"not trusted" in r.stderr
