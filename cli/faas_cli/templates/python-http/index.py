"""Warm HTTP server for the watchdog's http mode: one process, handle(event, context) per request.

The handler module is imported once at start, so heavy imports cost once per
replica. handle returns a dict {"statusCode", "body", "headers"}, or a str,
bytes, or any JSON value (then 200).
"""

import json
import os
import socket
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from function import handler


@dataclass
class Event:
    body: bytes
    headers: dict
    method: str
    query: dict
    path: str


@dataclass
class Context:
    hostname: str = field(default_factory=socket.gethostname)


def _encode(body) -> tuple[bytes, str]:
    if body is None:
        return b"", ""
    if isinstance(body, bytes | bytearray):
        return bytes(body), ""
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body).encode(), "application/json"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the watchdog keeps connections alive

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        event = Event(body, dict(self.headers.items()), self.command,
                      {k: v[0] for k, v in parse_qs(url.query).items()}, url.path)
        try:
            res = handler.handle(event, Context())
        except Exception as exc:  # the handler's failure is a 500, the server lives on
            self.log_error("handler raised %r", exc)
            res = {"statusCode": 500, "body": f"handler failed: {exc}\n"}
        if isinstance(res, dict) and "statusCode" in res:
            status, out = int(res["statusCode"]), res.get("body")
            headers = dict(res.get("headers") or {})
        else:
            status, headers, out = 200, {}, res
        data, ctype = _encode(out)
        self.send_response(status)
        if ctype and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = ctype
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def log_request(self, code="-", size="-") -> None:  # errors are logged, requests not
        pass


def main() -> None:
    port = int(os.environ.get("HANDLER_PORT", "5000"))
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
