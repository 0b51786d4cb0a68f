"""A small HTTP upstream for http-mode tests: echoes the request, /crash makes it exit.

    python upstream_app.py PORT [DELAY_BEFORE_LISTEN]

Paths: /binary (body echoed as is), /chunked (body echoed in 3 chunks),
/close-delimited (HTTP/1.0 style, body runs to close), /half (promises 1000
bytes, sends 10, closes), /own-headers (sends its own X-Duration-Seconds,
X-Call-Id and Connection: close), /slow (5 s), /crash, /log (the paths seen so
far, as JSON), /created (201); anything else: the request as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEEN: list[str] = []


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path != "/log":
            SEEN.append(self.path)
        if self.path == "/crash":
            os._exit(3)
        if self.path == "/slow":
            time.sleep(5)
        if self.path == "/chunked":
            self._chunked(body)
            return
        if self.path in ("/close-delimited", "/half"):
            self._raw(body)
            return
        if self.path.startswith("/binary"):
            payload, ctype = body, "application/octet-stream"
        elif self.path == "/log":
            payload, ctype = json.dumps(SEEN).encode(), "application/json"
        else:
            payload = json.dumps({"method": self.command, "path": self.path,
                                  "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "body_len": len(body), "pid": os.getpid()}).encode()
            ctype = "application/json"
        self.send_response(201 if self.path == "/created" else 200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Upstream", "yes")
        if self.path == "/own-headers":
            self.send_header("X-Duration-Seconds", "999")
            self.send_header("X-Call-Id", "from-upstream")
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _chunked(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        third = len(body) // 3 + 1
        for at in range(0, len(body), third):
            piece = body[at:at + third]
            self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def _raw(self, body: bytes) -> None:
        if self.path == "/half":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
        else:
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body)
        self.wfile.flush()
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    if len(sys.argv) > 2:
        time.sleep(float(sys.argv[2]))
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
