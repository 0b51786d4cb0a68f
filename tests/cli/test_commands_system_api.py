"""`faas logs` and `faas secret ...` as a user runs them (the CLI's main, in
this process for speed) against the real system API routes (a Sanic server; its Docker side is the
recording FakeAdmin of tests/sidecar/system/test_routes.py): output, --json,
messages and exit codes."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "sidecar" / "system"))
sys.path.insert(0, str(Path(__file__).parents[1] / "sidecar"))  # sys_harness's sidecar_swarm

from sys_harness import PASSWORD, USER, serving
from test_routes import FakeAdmin, make_app

from faas_cli.__main__ import main

SECRET_VALUE = "cli-s3cret-value-9d2e"


@pytest.fixture
async def gateway(tmp_path, monkeypatch, capsys):
    (tmp_path / "user").write_text(USER)
    (tmp_path / "pw").write_text(PASSWORD)
    secret_files = {"SYSTEM_AUTH_USER_FILE": str(tmp_path / "user"),
                    "SYSTEM_AUTH_PASSWORD_FILE": str(tmp_path / "pw")}
    admin = FakeAdmin()
    app = make_app(secret_files, admin=admin)
    monkeypatch.setenv("SWARMFAAS_CONFIG", str(tmp_path / "cfg.json"))
    for key in ("OPENFAAS_URL", "SWARMFAAS_URL", "SWARMFAAS_PASSWORD_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    async with serving(app) as http:

        async def faas(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
            """`faas ARGS` in this process (main() returns the exit code the
            console script exits with), in a thread while the server runs here."""
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
            argv = [*args, "-g", str(http.base_url), "--user", USER,
                    "--password-file", str(tmp_path / "pw")]
            code = await asyncio.to_thread(main, argv)
            captured = capsys.readouterr()
            return code, captured.out, captured.err

        faas.admin = admin  # type: ignore[attr-defined]
        yield faas


async def test_logs(gateway):
    code, out, err = await gateway("logs", "echo", "--tail", "3", "--since", "10m")
    assert code == 0, err
    assert out.splitlines() == ["2026-12-06T23:08:40.5Z (t1) hello",
                                "2026-12-06T23:08:40.5Z (t2) from two",
                                "2026-12-06T23:08:40.5Z (t1) bye"]
    (_, name, query), = [c for c in gateway.admin.calls if c[0] == "logs"]
    assert name == "echo" and query.tail == 3 and query.since is not None
    code, out, _ = await gateway("logs", "echo", "--json")
    assert code == 0
    assert [json.loads(line)["text"] for line in out.splitlines()] == [
        "hello", "from two", "bye"]
    code, out, err = await gateway("logs", "nope")
    assert code == 1 and "no function named 'nope'" in err and "faas list" in err
    code, _, err = await gateway("logs", "echo", "--since", "yesterday")
    assert code == 2 and "--since" in err


async def test_secrets(gateway, tmp_path):
    code, out, err = await gateway("secret", "create", "db", stdin=SECRET_VALUE.encode())
    assert code == 0, err
    assert "created secret db" in err
    binary = tmp_path / "key.bin"
    binary.write_bytes(b"\x00\xff" + SECRET_VALUE.encode())
    code, out, _ = await gateway("secret", "create", "bin", "--from-file", str(binary),
                                 "--json")
    assert code == 0 and json.loads(out) == {"name": "bin", "status": "created"}
    assert ("create_secret", "db", SECRET_VALUE.encode()) in gateway.admin.calls
    assert ("create_secret", "bin", binary.read_bytes()) in gateway.admin.calls
    code, out, _ = await gateway("secret", "list", "--json")
    assert json.loads(out) == [{"name": "api-key", "namespace": "swarmfaas-fn"}]
    code, out, _ = await gateway("secret", "list")
    assert code == 0 and "api-key" in out
    code, _, err = await gateway("secret", "update", "api-key", stdin=b"new")
    assert code == 0 and "updated secret api-key" in err
    code, _, err = await gateway("secret", "create", "api-key", stdin=b"x")
    assert code == 1 and "exists" in err and "secret update" in err
    code, _, err = await gateway("secret", "remove", "nope")
    assert code == 1 and "no secret named 'nope'" in err and "faas secret list" in err
    code, _, err = await gateway("secret", "create", "empty", stdin=b"")
    assert code == 2 and "empty" in err
    code, _, err = await gateway("secret", "remove", "api-key")
    assert code == 0 and "removed secret api-key" in err
    # --help everywhere
    for verb in (("logs",), ("secret", "create"), ("secret", "update"), ("secret", "list"),
                 ("secret", "remove")):
        code, out, _ = await gateway(*verb, "--help")
        assert code == 0 and "--json" in out


async def test_a_value_is_never_printed(gateway):
    for args in (("secret", "create", "db"), ("secret", "update", "api-key"),
                 ("secret", "create", "api-key")):
        _, out, err = await gateway(*args, stdin=SECRET_VALUE.encode())
        assert SECRET_VALUE not in out + err
