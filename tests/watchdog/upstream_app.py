"""A small HTTP upstream for http-mode tests: echoes the request, /crash makes it exit.

    python upstream_app.py PORT [DELAY_BEFORE_LISTEN]
"""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/crash":
            os._exit(3)
        if self.path == "/slow":
            time.sleep(5)
        if self.path.startswith("/binary"):
            payload, ctype = body, "application/octet-stream"
        else:
            payload = json.dumps({"method": self.command, "path": self.path,
                                  "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "body_len": len(body), "pid": os.getpid()}).encode()
            ctype = "application/json"
        self.send_response(201 if self.path == "/created" else 200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Upstream", "yes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    if len(sys.argv) > 2:
        time.sleep(float(sys.argv[2]))
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
