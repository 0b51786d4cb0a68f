"""Container health check: nginx answers its loopback-only health path.

Docker runs this every 10 s; a bare socket keeps it cheap (urllib.request
and the renderer cost ~65 ms of CPU per check to import; this costs ~20 ms,
bench/healthcheck_cost.py). Imports nothing but ``os``, ``socket`` and ``sys``.
"""

from __future__ import annotations

import os
import socket
import sys

HEALTH_PATH = "/.swarmfaas/nginx-health"  # render.py serves it on the HTTP port
REQUEST = (f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Connection: close\r\n\r\n").encode("ascii")


def main() -> int:
    port = int(os.environ.get("LISTEN_HTTP_PORT") or 80)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(REQUEST)
            with sock.makefile("rb") as answer:
                status_line = answer.readline(1024)
    except OSError as exc:
        print(f"nginx is not healthy: {exc}", file=sys.stderr)
        return 1
    if status_line.split(None, 2)[1:2] == [b"200"]:
        return 0
    print(f"nginx is not healthy: {status_line[:80]!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
