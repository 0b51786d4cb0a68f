"""A tiny HTTP/1.1 echo function for the sidecar's integration tests.

Answers every request with JSON describing it (method, path, headers, body,
hostname). On SIGTERM it keeps serving for DRAIN_SECONDS (as the watchdog
drains), then stops accepting and exits once in-flight requests finish.
/sleep/<seconds> sleeps that long first; /big/<bytes> answers that many bytes;
/call/<function> calls another function through the sidecar, the way every
function does: http://$SIDECAR_HOST:8080/function/<function> (internal calls).
"""

import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DRAIN_SECONDS = float(os.environ.get("DRAIN_SECONDS", "2"))
HOSTNAME = socket.gethostname()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # one write per response, flushed by the server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(length) if length else b""
        if self.path.startswith("/sleep/"):
            time.sleep(float(self.path.split("/")[2].split("?")[0]))
        if self.path.startswith("/call/"):
            target = self.path.split("/")[2]
            url = f"http://{os.environ.get('SIDECAR_HOST', 'sidecar')}:8080/function/{target}/"
            with urllib.request.urlopen(url, data=body or b"from " + HOSTNAME.encode(),
                                        timeout=10) as answer:
                out = json.dumps({"called": target, "status": answer.status,
                                  "answer": json.loads(answer.read())}).encode()
            ctype = "application/json"
        elif self.path.startswith("/untyped/"):  # an answer with no Content-Type
            out = b"x" * int(self.path.split("/")[2].split("?")[0])
            ctype = ""
        elif self.path.startswith("/big/"):
            size = int(self.path.split("/")[2].split("?")[0])
            out = b"x" * size
            ctype = "application/octet-stream"
        else:
            out = json.dumps(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body.decode("latin-1"),
                    "hostname": HOSTNAME,
                }
            ).encode()
            ctype = "application/json"
        self.send_response(200)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Echo-Host", HOSTNAME)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _answer

    def log_message(self, *args) -> None:
        pass


class Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: a burst of new connections from the
    # sidecar (tests open 200 at once) overflowed it, and a dropped SYN is only
    # retried after 1 s, past the tests' 0.5 s connect timeout.
    request_queue_size = 128


def main() -> None:
    server = Server(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    server.daemon_threads = False
    server.block_on_close = True

    def drain(signum, frame):
        def stop():
            time.sleep(DRAIN_SECONDS)
            server.shutdown()

        threading.Thread(target=stop, daemon=True).start()

    signal.signal(signal.SIGTERM, drain)
    server.serve_forever(poll_interval=0.05)
    server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
