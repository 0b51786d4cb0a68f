"""Container health check of the sidecar image (and the engine gate).

    python3 -m faas_sidecar.healthcheck [PORT [PATH]]

Exit 0 when 127.0.0.1:PORT answers ``GET PATH`` with a 2xx status, else 1.
Defaults: $SIDECAR_PORT (8080) and /healthz; the engine gate uses
``2375 /_ping``. Docker runs it every few seconds in every such container, so
it uses a bare socket: urllib.request alone costs ~50 ms of CPU to import
(bench/healthcheck_cost.py), this whole check ~20 ms.
"""

from __future__ import annotations

import os
import socket
import sys

TIMEOUT = 2.0  # below the images' 3 s health-check timeout


def status_ok(status_line: bytes) -> bool:
    """Whether an HTTP/1.x status line says 2xx. Pure; tested by table."""
    parts = status_line.split(None, 2)
    return (len(parts) >= 2 and parts[0] in (b"HTTP/1.0", b"HTTP/1.1")
            and len(parts[1]) == 3 and parts[1].isdigit() and parts[1][:1] == b"2")


def check(port: int, path: str, timeout: float = TIMEOUT) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Connection: close\r\n\r\n".encode("ascii"))
            with sock.makefile("rb") as answer:
                return status_ok(answer.readline(1024))
    except OSError:
        return False


def main(argv: list[str]) -> int:
    port = int(argv[0]) if argv else int(os.environ.get("SIDECAR_PORT") or 8080)
    path = argv[1] if len(argv) > 1 else "/healthz"
    return 0 if check(port, path) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
