"""Real processes for the nginx and certificate tests: the supervisor (which
runs the host's nginx with the same rendered configuration as the image), a
small upstream standing in for the sidecar, and TLS clients."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "nginx"), str(REPO / "certs"), str(REPO / "certs" / "certbot")]

if TYPE_CHECKING:
    from swarmfaas_nginx.supervisor import Supervisor


def need_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name}); CI installs it")
    if name == "nginx":  # the rendered config loads the Lua module (render.MODULES)
        from swarmfaas_nginx.render import MODULES

        missing = [m for m in MODULES if not Path(m).is_file()]
        if missing:
            pytest.skip(f"{', '.join(missing)} missing (apt-get install libnginx-mod-http-lua);"
                        " CI installs it")
    return path


def world_readable_dir(prefix: str) -> Path:
    """A temp dir nginx's workers (www-data) can traverse; pytest's are 0700."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


# -- the stand-in sidecar ------------------------------------------------------
@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """An HTTP/1.1 server that records every request and answers JSON."""

    port: int
    seen: list[Seen] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> Recorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                if self.path.startswith("/function/sleep"):
                    time.sleep(float(self.headers.get("X-Sleep", "3")))
                out = json.dumps({"from": "upstream", "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("X-Call-Id", "up-" + (self.headers.get("X-Call-Id") or "none"))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


# -- the front door ------------------------------------------------------------
@dataclass
class Front:
    """swarmfaas_nginx's supervisor in a subprocess, as the container runs it."""

    https_port: int
    http_port: int
    base: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def webroot(self) -> Path:
        return self.base / "www"

    @property
    def letsencrypt(self) -> Path:
        return self.base / "letsencrypt"

    @property
    def access_log(self) -> Path:
        return self.base / "access.log"

    @property
    def log(self) -> Path:
        return self.base / "supervisor.log"

    def start(self) -> Front:
        """Launch, and return once nginx listens (127.0.0.1, and ::1 if there)."""
        env = self.launch()
        try:
            wait_port(self.https_port)
            # nginx listens on 127.0.0.1 before ::1 (and retries a busy port for
            # 2.5 s while holding the first): ready means both, and still running.
            from swarmfaas_nginx.supervisor import probe_ipv6

            if probe_ipv6() and env.get("NGINX_IPV6", "auto") != "off":
                wait_port(self.https_port, host="::1")
            wait_tls(self.https_port)
            if self.process.poll() is not None:
                raise TimeoutError
        except TimeoutError:
            self.stop()
            raise AssertionError(f"the front door did not start:\n{self.log.read_text()}") from None
        return self

    def launch(self) -> dict[str, str]:
        """Start the supervisor without waiting for it; returns its environment."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "PYTHONPATH": str(REPO / "nginx"),
            "NGINX_STATE_DIR": str(self.state),
            "ACME_WEBROOT": str(self.webroot),
            "LETSENCRYPT_DIR": str(self.letsencrypt),
            "LISTEN_HTTPS_PORT": str(self.https_port),
            "LISTEN_HTTP_PORT": str(self.http_port),
            "HTTPS_PORT": str(self.https_port),
            "NGINX_BIND": "loopback",
            "NGINX_ACCESS_LOG": str(self.access_log),
            "NGINX_WATCH_INTERVAL": "0.3",
            **self.env,
        }
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "swarmfaas_nginx"], env=env, stdout=out, stderr=out
        )
        return env

    def nginx_pid(self) -> int:
        return int((self.state / "nginx.pid").read_text())

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def access_entries(self) -> list[dict[str, str]]:
        if not self.access_log.exists():
            return []
        return [json.loads(line) for line in self.access_log.read_text().splitlines() if line]


def tls_context(cafile: str | Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cafile))
    return ctx


def _complete(raw: bytes) -> bool:
    """True once `raw` holds a whole response framed by Content-Length."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return bool(length) and len(body) >= int(length.group(1))


def raw_https(
    port: int, ctx: ssl.SSLContext, server_name: str, request: bytes, timeout: float = 5.0
) -> tuple[bytes, ssl.SSLSocket]:
    """One request on a fresh TLS connection; returns the raw response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    tls = ctx.wrap_socket(sock, server_hostname=server_name)
    # nginx may answer and close before it has read all of a huge request.
    with contextlib.suppress(ssl.SSLError, OSError):
        tls.sendall(request)
    chunks = []
    while True:
        try:
            data = tls.recv(65536)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError):
            break
        if not data:
            break
        chunks.append(data)
        if _complete(b"".join(chunks)):
            # nginx lingers (lingering_timeout) for a declared body that never
            # comes; the response itself is whole.
            break
    tls.close()
    return b"".join(chunks), tls


@dataclass
class SteadyLoop:
    """Requests on fresh TLS connections, back to back, in a thread; records
    every failure and the serial number of the certificate each one saw."""

    port: int
    ctx: ssl.SSLContext
    server_name: str
    path: str = "/function/echo"
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    serials: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        from cryptography import x509

        while not self._stop.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                with self.ctx.wrap_socket(sock, server_hostname=self.server_name) as tls:
                    der = tls.getpeercert(binary_form=True)
                    tls.sendall(
                        f"GET {self.path} HTTP/1.1\r\nHost: {self.server_name}\r\n"
                        "Connection: close\r\n\r\n".encode()
                    )
                    raw = b""
                    while chunk := tls.recv(65536):
                        raw += chunk
                if not raw.startswith(b"HTTP/1.1 200"):
                    raise AssertionError(raw[:120].decode(errors="replace"))
                self.serials.append(x509.load_der_x509_certificate(der).serial_number)
                self.ok += 1
            except Exception as exc:  # every failure is the finding
                self.failures.append(repr(exc))

    def __enter__(self) -> SteadyLoop:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(15)

    def wait_for_serial_change(self, first: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.serials and self.serials[-1] != first:
                return True
            time.sleep(0.05)
        return False


def wait_tls(port: int, timeout: float = 10.0) -> None:
    """Return once a TLS handshake on 127.0.0.1:port completes (any certificate).

    A listening socket is not yet a serving nginx: CI saw the first handshake
    after the port opened refused or reset, twice in nine runs."""
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=1) as sock,
                insecure.wrap_socket(sock, server_hostname="localhost"),
            ):
                return
        except OSError:  # refused, reset, or an ssl.SSLError
            time.sleep(0.05)
    raise TimeoutError(f"no TLS handshake on 127.0.0.1:{port}")


def served_serial(port: int, ctx: ssl.SSLContext, server_name: str) -> int:
    from cryptography import x509

    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        ctx.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


@dataclass
class Supervised:
    """A supervisor's nginx whose sidecar DNS answers are ``answers[0]`` (the one
    narrow fake: the real swarm DNS is exercised by the image test)."""

    supervisor: Supervisor
    base: Path
    answers: list = field(default_factory=lambda: [()])

    def sidecars(self, *addresses: str) -> None:
        """Docker's DNS now answers ``addresses``; the supervisor writes them."""
        self.answers[0] = addresses
        assert self.supervisor.check_once() is True

    def stop(self) -> None:
        self.supervisor.stop()
        self.supervisor.process.wait(10)
        shutil.rmtree(self.base, ignore_errors=True)


def start_supervised(monkeypatch: pytest.MonkeyPatch, dev_ca: Path, prefix: str,
                     https_port: int, http_port: int, **env: str) -> Supervised:
    """The supervisor, as the image runs it, on loopback ports with the
    development certificate, and ``env`` on top of its settings."""
    from swarmfaas_nginx import upstream as upstream_mod
    from swarmfaas_nginx.settings import load_settings
    from swarmfaas_nginx.supervisor import Supervisor

    base = world_readable_dir(prefix)
    settings = load_settings({
        "DOMAIN": "localhost",
        "SIDECAR_UPSTREAM": "sidecar:8080",
        "NGINX_STATE_DIR": str(base / "state"),
        "ACME_WEBROOT": str(base / "www"),
        "LETSENCRYPT_DIR": str(base / "le"),
        "TLS_CERT_FILE": str(dev_ca / "cert.pem"),
        "TLS_KEY_FILE": str(dev_ca / "key.pem"),
        "LISTEN_HTTPS_PORT": str(https_port),
        "LISTEN_HTTP_PORT": str(http_port),
        "NGINX_BIND": "loopback",
        "NGINX_ACCESS_LOG": "off",
        **env,
    })
    supervised = Supervised(Supervisor(settings), base)
    monkeypatch.setattr(upstream_mod, "resolve", lambda host, port: supervised.answers[0])
    supervised.supervisor.start()
    return supervised
