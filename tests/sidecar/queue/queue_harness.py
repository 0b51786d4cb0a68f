"""Real parts for the queue tests: a NATS JetStream server process, a function
that records what reaches it, and a sidecar (the real app pieces) in front."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sidecar_swarm import free_port_in, wait_port  # tests/sidecar, on sys.path (its conftest)

PORTS = range(18620, 18660)  # this part's share of the host ports


def free_port() -> int:
    return free_port_in(PORTS)


class NatsServer:
    """``nats-server -js`` on 127.0.0.1, its store in ``store``."""

    def __init__(self, store: Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        assert Path(binary).exists(), "nats-server is missing: apt-get install nats-server " \
                                      "(scripts/test.sh installs it)"
        self.binary = binary
        self.store = store
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd",
             str(self.store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def call_id(self) -> str:
        return self.headers.get("x-call-id", "")

    @property
    def attempt(self) -> int:
        return int(self.headers.get("x-delivery-attempt", "0"))


@dataclass
class Recorder:
    """A function that records every request. Paths choose how it answers:
    /fail (500 until ``fixed``), /flaky/<n> (503 before attempt n), /hang-first
    (the first attempt waits ``hang`` seconds), anything else 200."""

    port: int = field(default_factory=free_port)
    seen: list[Seen] = field(default_factory=list)
    fixed: bool = False
    hang: float = 30.0
    _server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                seen = Seen(self.command, path, query,
                            {k.lower(): v for k, v in self.headers.items()}, body)
                recorder.seen.append(seen)
                status = 200
                if path.startswith("/fail") and not recorder.fixed:
                    status = 500
                elif path.startswith("/flaky/") and seen.attempt < int(path.split("/")[2]):
                    status = 503
                elif path.startswith("/hang-first") and seen.attempt == 1:
                    time.sleep(recorder.hang)
                out = json.dumps({"ok": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def calls(self, call_id: str) -> list[Seen]:
        return [s for s in self.seen if s.call_id == call_id]
