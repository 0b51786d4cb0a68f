"""HTTP/1.1 on the wire, without IO: bytes in, request values out, and back.

Lean on purpose: the watchdog's hot path parses one request head and writes one
response per process spawned, so a small parser over bytes.find/split beats a
general one. It accepts what RFC 9112 requires of a server and rejects the rest
with a status hint (400, 413, 431, 501).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .cgroupcpu import cpu_header

MAX_HEAD = 64 * 1024
_TOKEN_CHARS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Found", 304: "Not Modified",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


class HttpError(Exception):
    """A request the server must refuse; `status` is the response to send."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class RequestHead:
    method: str
    target: str
    path: str
    query: str
    version: str
    headers: list[tuple[str, str]]  # names lower-cased, in arrival order
    keep_alive: bool
    content_length: int | None  # None with chunked transfer coding
    chunked: bool
    expect_continue: bool = False
    raw: bytes = b""  # the head as received, without the final CRLFCRLF

    def header(self, name: str, default: str = "") -> str:
        for key, value in self.headers:
            if key == name:
                return value
        return default


@dataclass
class Request:
    head: RequestHead
    body: bytes = b""


def parse_head(data: bytes, request_limit: int) -> RequestHead:
    """Parse one request head (without the final CRLFCRLF); raise HttpError."""
    try:
        text = data.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
        raise HttpError(400, "undecodable request head") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not method or not set(method.encode()) <= _TOKEN_CHARS:
        raise HttpError(400, "malformed method")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        if version.startswith("HTTP/"):
            raise HttpError(400, "unsupported HTTP version")
        raise HttpError(400, "malformed request line")
    if not target or " " in target or any(c < " " or c == "\x7f" for c in target):
        raise HttpError(400, "malformed request target")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name[-1] in " \t" or not set(name.encode()) <= _TOKEN_CHARS:
            raise HttpError(400, "malformed header line")
        value = value.strip(" \t")
        if "\x00" in value or "\r" in value or "\n" in value:
            raise HttpError(400, "invalid character in header value")
        headers.append((name.lower(), value))

    content_length: int | None = 0
    chunked = False
    connection = ""
    expect_continue = False
    lengths = set()
    for name, value in headers:
        if name == "content-length":
            lengths.add(value)
        elif name == "transfer-encoding":
            codings = [c.strip().lower() for c in value.split(",")]
            if codings[-1] != "chunked" or any(c not in ("chunked",) for c in codings):
                raise HttpError(501, f"unsupported transfer-encoding {value!r}")
            chunked = True
        elif name == "connection":
            connection = value.lower()
        elif name == "expect" and value.lower() == "100-continue":
            expect_continue = True
    if chunked:
        if lengths:
            raise HttpError(400, "both content-length and transfer-encoding")
        content_length = None
    elif lengths:
        if len(lengths) != 1:
            raise HttpError(400, "conflicting content-length headers")
        raw = lengths.pop()
        # isascii: str.isdigit() also accepts digits int() refuses, such as "²".
        if not (raw.isascii() and raw.isdigit()):
            raise HttpError(400, "malformed content-length")
        content_length = int(raw)
        if content_length > request_limit:
            raise HttpError(413, f"request body of {content_length} bytes is over the limit of "
                                 f"{request_limit} bytes")
    tokens = {t.strip() for t in connection.split(",")}
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    path, _, query = target.partition("?")
    return RequestHead(method, target, path, query, version, headers, keep_alive,
                       content_length, chunked, expect_continue, data)


class ChunkedDecoder:
    """Incremental decoder of a chunked request body, bounded by `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.body = bytearray()
        self.done = False
        self._state = "size"  # size | data | data_crlf | trailer
        self._remaining = 0

    def feed(self, buf: bytearray) -> None:
        """Consume what it can from `buf` (in place); raise HttpError on bad input."""
        while not self.done:
            if self._state == "size":
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > 1024:
                        raise HttpError(400, "chunk size line too long")
                    return
                line = bytes(buf[:end]).split(b";", 1)[0].strip()
                del buf[: end + 2]
                try:
                    size = int(line, 16)
                except ValueError:
                    raise HttpError(400, "malformed chunk size") from None
                if size < 0:
                    raise HttpError(400, "malformed chunk size")
                if size == 0:
                    self._state = "trailer"
                    continue
                if len(self.body) + size > self.limit:
                    raise HttpError(413, f"request body is over the limit of {self.limit} bytes")
                self._remaining = size
                self._state = "data"
            elif self._state == "data":
                take = min(self._remaining, len(buf))
                if take == 0:
                    return
                self.body += buf[:take]
                del buf[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "data_crlf"
            elif self._state == "data_crlf":
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise HttpError(400, "missing CRLF after chunk data")
                del buf[:2]
                self._state = "size"
            else:  # trailer fields, ignored, up to an empty line
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise HttpError(431, "trailer too large")
                    return
                del buf[: end + 2]
                if end == 0:
                    self.done = True


# Writers: every head and chunk frame the watchdog sends is made here.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


def response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    """Serialize a status line and headers (values must already be clean)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def request_head(method: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    """Serialize an HTTP/1.1 request line and headers (values must already be clean)."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def relayed_head(head: bytes, duration: float, call_id: bytes = b"",
                 content_type: bytes = b"", close: bool = False) -> bytes:
    """An upstream's response head as relayed: its status line and fields as
    received (hop-by-hop ones already cut, no final CRLF) with the watchdog's
    fields added as bytes, without parsing the head again."""
    parts = [head]
    if call_id:
        parts.append(b"\r\nX-Call-Id: " + call_id)
    if content_type:
        parts.append(b"\r\nContent-Type: " + content_type)
    parts.append(b"\r\nX-Duration-Seconds: %.6f\r\n" % duration)
    if cpu := cpu_header():
        parts.append(b"X-Swarmfaas-Cpu: %b\r\n" % cpu.encode("ascii"))
    if close:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def closed_head(head: bytes, body: bytes = b"") -> bytes:
    """A head kept as received (without its final CRLFCRLF), ended again and
    followed by its body: how a request goes to the upstream unchanged."""
    return b"%b\r\n\r\n%b" % (head, body)


def chunk(data: bytes) -> bytes:
    """One frame of the chunked transfer coding (never empty: that is LAST_CHUNK)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


@dataclass
class ResponseHead:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_length: int | None = None
    chunked: bool = False
    keep_alive: bool = True


def parse_response_head(data: bytes, request_method: str) -> ResponseHead:
    """Parse an upstream response head (without the final CRLFCRLF); raise HttpError(502)."""
    lines = data.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    code = parts[1] if len(parts) >= 2 else ""
    if not parts[0].startswith("HTTP/1.") or not (code.isascii() and code.isdigit()):
        raise HttpError(502, "upstream sent a malformed status line")
    status = int(parts[1])
    headers: list[tuple[str, str]] = []
    length: int | None = None
    chunked = False
    keep_alive = parts[0] == "HTTP/1.1"
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name:
            raise HttpError(502, "upstream sent a malformed header line")
        name = name.strip()
        value = value.strip(" \t")
        lname = name.lower()
        if lname == "content-length":
            if not (value.isascii() and value.isdigit()):
                raise HttpError(502, "upstream sent a malformed content-length")
            length = int(value)
        elif lname == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif lname == "connection":
            tokens = {t.strip().lower() for t in value.split(",")}
            if "close" in tokens:
                keep_alive = False
            elif "keep-alive" in tokens:
                keep_alive = True
        headers.append((name, value))
    if request_method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        length, chunked = 0, False
    elif chunked:
        length = None
    elif length is None:
        keep_alive = False  # body runs to close
    return ResponseHead(status, headers, length, chunked, keep_alive)
