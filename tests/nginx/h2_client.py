"""A deliberately careless HTTP/2 client for the hostile-input tests: the `h2`
library with its own header checks off (so it sends what a broken or hostile
client would), plus raw frames (hyperframe) for what no client library sends."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events


def h2_context(cafile: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["h2"])
    return ctx


@dataclass
class H2Result:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset: int | None = None  # RST_STREAM error code
    goaway: int | None = None  # GOAWAY error code
    closed: bool = False  # the connection ended without GOAWAY


def _connect(port: int, ctx: ssl.SSLContext, timeout: float) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    tls = ctx.wrap_socket(sock, server_hostname="localhost")
    assert tls.selected_alpn_protocol() == "h2"
    return tls


def exchange(
    port: int,
    ctx: ssl.SSLContext,
    headers: list[tuple[bytes, bytes]],
    body: bytes | None = None,
    raw: bytes = b"",
    end_stream: bool = True,
    timeout: float = 5.0,
) -> H2Result:
    """One request on stream 1 (and `raw` frames after it); what came back.

    `ctx` must offer only h2 by ALPN (see h2_context)."""
    config = h2.config.H2Configuration(
        client_side=True,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
    )
    conn = h2.connection.H2Connection(config)
    conn.initiate_connection()
    tls = _connect(port, ctx, timeout)
    result = H2Result()
    try:
        if headers:
            conn.send_headers(1, headers, end_stream=body is None and end_stream)
            if body is not None:
                # In frames of the size the server allows (bodies within the
                # initial flow-control window: no WINDOW_UPDATE is awaited).
                size = conn.max_outbound_frame_size
                parts = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
                for n, part in enumerate(parts):
                    conn.send_data(1, part, end_stream=end_stream and n == len(parts) - 1)
        tls.sendall(conn.data_to_send() + raw)
        while True:
            try:
                data = tls.recv(65536)
            except (ssl.SSLError, OSError):
                data = b""
            if not data:
                result.closed = result.goaway is None
                return result
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                return result
            for event in events:
                if isinstance(event, h2.events.ResponseReceived):
                    result.headers = {k.decode(): v.decode() for k, v in event.headers}
                    result.status = int(result.headers[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    result.body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    if isinstance(event, h2.events.StreamReset):
                        result.reset = int(event.error_code)
                    return result
                elif isinstance(event, h2.events.ConnectionTerminated):
                    result.goaway = int(event.error_code)
                    return result
            tls.sendall(conn.data_to_send())
    finally:
        tls.close()


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    """A raw HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id."""
    head = len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big")
    return head + payload
