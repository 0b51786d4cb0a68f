"""The sidecar image's health check: status lines by table, then the probe
against real HTTP servers on 127.0.0.1 (and a port nothing listens on)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from faas_sidecar.healthcheck import check, main, status_ok

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("line", "ok"), [
    (b"HTTP/1.1 200 OK\r\n", True),
    (b"HTTP/1.0 204 No Content\r\n", True),
    (b"HTTP/1.1 299\r\n", True),
    (b"HTTP/1.1 503 Service Unavailable\r\n", False),
    (b"HTTP/1.1 301 Moved\r\n", False),
    (b"HTTP/1.1 404 Not Found\r\n", False),
    (b"HTTP/2 200\r\n", False),
    (b"HTTP/1.1 2000 OK\r\n", False),
    (b"HTTP/1.1 2x0 OK\r\n", False),
    (b"ICY 200 OK\r\n", False),
    (b"200 OK\r\n", False),
    (b"", False),
    (b"\r\n", False),
])
def test_status_line(line: bytes, ok: bool) -> None:
    assert status_ok(line) is ok


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/garbage":
            self.wfile.write(b"not http at all\r\n\r\n")
            return
        status = {"/healthz": 200, "/_ping": 200, "/down": 503}.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("path", "ok"), [
    ("/healthz", True), ("/_ping", True), ("/down", False), ("/missing", False),
    ("/garbage", False),
])
def test_probe_against_a_server(server: int, path: str, ok: bool) -> None:
    assert check(server, path) is ok
    assert main([str(server), path]) == (0 if ok else 1)


def test_nothing_listening_is_unhealthy() -> None:
    assert check(free_port(), "/healthz", timeout=1) is False


def test_a_silent_server_times_out_unhealthy() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert check(listener.getsockname()[1], "/healthz", timeout=0.3) is False


def test_the_port_defaults_to_sidecar_port(server: int, monkeypatch) -> None:
    monkeypatch.setenv("SIDECAR_PORT", str(server))
    assert main([]) == 0
    monkeypatch.setenv("SIDECAR_PORT", str(free_port()))
    assert main([]) == 1


def test_runs_as_a_module_with_an_exit_code(server: int) -> None:
    def run(*args: str) -> int:
        return subprocess.run([sys.executable, "-m", "faas_sidecar.healthcheck", *args],
                              cwd=ROOT / "sidecar", timeout=30).returncode
    assert run(str(server), "/healthz") == 0
    assert run(str(server), "/down") == 1
