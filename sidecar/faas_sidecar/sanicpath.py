"""The Sanic adapter of the call policy: a Sanic request in, a Sanic response out.

``forward`` (``Proxy.forward``, the contract the routes and Alexa code
against; docs/sidecar.md) turns a Sanic request into ``Proxy.call``'s plain
arguments and its ``Reply`` into an ``HTTPResponse``. The policy itself
(admission, retries, timeouts, metrics) is proxy.py's; the function path
(fastpath.py) is the other adapter of the same policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from sanic import HTTPResponse, Request

from .headers import call_id_for
from .labels import is_decimal
from .routing import FUNCTION_HEADER, resolve

if TYPE_CHECKING:
    from .proxy import Proxy


class RelayedResponse(HTTPResponse):
    """A replica's answer with its headers as they came.

    Sanic fills a missing Content-Type with the response's own, which is
    ``None`` here, and would send the string "None"; an answer without one
    keeps none.
    """

    @property
    def processed_headers(self) -> Iterator[tuple[bytes, bytes]]:
        if "content-type" in self.headers:
            return super().processed_headers
        encoded = list(super().processed_headers)  # with Sanic's content-type added
        self.headers.popall("content-type", None)
        return iter([(name, value) for name, value in encoded if name.lower() != b"content-type"])


class UpstreamResponse(RelayedResponse):
    """A response whose body is still arriving from the replica.

    Sanic sends a handler's response with ``send(end_stream=True)``; this
    override relays the replica's body there, chunk by chunk, so ``forward``
    can return an ordinary response object (the contract Alexa codes against)
    while bodies stream.
    """

    def __init__(self, status: int, headers: list[tuple[str, str]],
                 chunks: AsyncIterator[bytes], done: Callable[[bool], None]) -> None:
        super().__init__(None, status=status, headers=headers)
        self._chunks = chunks
        self._done = done
        self._pumped = False

    async def send(self, data=None, end_stream=None) -> None:  # type: ignore[override]
        if self._pumped or data is not None or end_stream is False:
            await super().send(data, end_stream)
            return
        self._pumped = True
        ok = False
        try:
            async for chunk in self._chunks:
                await super().send(chunk, False)
            await super().send(None, True)
            ok = True
        finally:
            self._done(ok)


def as_received(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The header fields as the client sent their bytes, in the form the wire
    writer takes (one character per byte, latin-1). Sanic decodes a head as
    UTF-8 with surrogateescape, so a value with "€" or a stray byte could not be
    written again and the call was a 500; ASCII values, nearly all, pass as they are."""
    return [(name, value if value.isascii()
             else value.encode("utf-8", "surrogateescape").decode("latin-1"))
            for name, value in headers]


async def forward(proxy: Proxy, request: Request, function_name: str, *,
                  body: bytes | None = None, path: str | None = None,
                  asynchronous: bool = False) -> HTTPResponse:
    call_id = call_id_for(request.headers.get("x-call-id"))
    request.ctx.call_id = call_id
    if path is None:
        path = resolve(request.path, request.headers.get(FUNCTION_HEADER)).path
    reply = await proxy.call(
        function_name, request.method, path, request.query_string,
        as_received(request.headers.items()),
        client_ip=request.ip or "", scheme=request.scheme, call_id=call_id, body=body,
        source=None if body is not None else RequestBody(request, proxy.buffer_limit),
        asynchronous=asynchronous)
    if reply.body is not None:
        return RelayedResponse(reply.body, status=reply.status, headers=reply.headers)
    return UpstreamResponse(reply.status, reply.headers, reply.chunks,  # type: ignore[arg-type]
                            reply.done)


class RequestBody:
    """A Sanic request's body, read once the call is admitted (``Proxy.call``):
    a small one whole, so the request can be retried; a big one streamed."""

    __slots__ = ("_limit", "_request")

    def __init__(self, request: Request, limit: int) -> None:
        self._request = request
        self._limit = limit

    async def read(self) -> tuple[bytes | None, AsyncIterator[bytes] | None, int | None]:
        """(the body, None, its length) or (None, its chunks, the declared length
        or None for chunked)."""
        request = self._request
        stream = request.stream
        if stream is None or not getattr(stream, "request_body", None):
            body = request.body or b""
            return body, None, len(body)
        length = request.headers.get("content-length")
        if length is not None and is_decimal(length) and int(length) <= self._limit:
            await request.receive_body()
            return request.body, None, len(request.body)
        return None, _chunks(request), int(length) if length is not None and is_decimal(length) \
            else None


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    while True:
        chunk = await request.stream.read()  # type: ignore[union-attr]
        if chunk is None:
            return
        yield chunk
