"""upstream.Connection's states, driven by hand: bytes in, states out.

A fake transport stands in for the socket (no network), so every transition
of the table in upstream.State is checked where it happens.
"""

from __future__ import annotations

import asyncio

import pytest

from faas_sidecar.upstream import (
    AWAITING_HEAD,
    BROKEN,
    CLOSED,
    DONE,
    HIGH_WATER,
    IDLE,
    READING_BODY,
    SENDING,
    Connection,
    ExchangeTimeout,
    Pool,
    UpstreamError,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"


class FakeTransport(asyncio.Transport):
    def __init__(self, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self.protocol = protocol
        self.written = bytearray()
        self.closing = False
        self.reading = True

    def write(self, data) -> None:  # type: ignore[override]
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


def connection() -> tuple[Connection, FakeTransport]:
    conn = Connection(("127.0.0.1", 1))
    transport = FakeTransport(conn)
    conn.connection_made(transport)
    return conn, transport


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_whole_answer_then_reuse():
    conn, transport = connection()
    assert conn.state is IDLE and conn.usable()
    conn.send_bytes(b"GET / HTTP/1.1\r\n\r\n", b"")
    assert conn.state is AWAITING_HEAD and transport.written.startswith(b"GET /")
    conn.data_received(OK)
    assert conn.state is DONE and conn.status == 200 and conn.take_complete_body() == b"hi"
    assert conn.recycle() and conn.state is IDLE and conn.reused and conn.status == 0
    assert conn.stale()  # nothing received yet on this exchange


@pytest.mark.parametrize(("answer", "state", "reusable"), [
    (OK, DONE, True),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", DONE, False),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", READING_BODY, False),
    (b"HTTP/1.1 100 Continue\r\n\r\n", AWAITING_HEAD, False),
    (b"HTTP/1.1 100 Continue\r\n\r\n" + OK, DONE, True),
    (b"HTTP/1.1 204 No Content\r\n\r\n", DONE, True),
    (b"garbage\r\n\r\n", BROKEN, False),
    # llhttp ends the 101 message, then refuses the upgrade: closed, nothing reused
    (b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", CLOSED, False),
])
async def test_answers_and_the_state_they_leave(answer, state, reusable):
    conn, _ = connection()
    conn.send_bytes(b"GET / HTTP/1.1\r\n\r\n", b"")
    conn.data_received(answer)
    assert conn.state is state
    assert conn.recycle() is reusable
    if state is BROKEN:
        assert isinstance(conn.error, UpstreamError)


async def test_a_head_answer_ends_at_its_head_and_is_not_reused():
    conn, _ = connection()
    conn.send_bytes(b"HEAD / HTTP/1.1\r\n\r\n", b"", head_only=True)
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n")
    assert conn.state is DONE and conn.take_complete_body() == b""
    assert not conn.recycle()


async def test_a_body_delimited_by_the_close_is_whole_at_the_close():
    conn, _ = connection()
    conn.send_bytes(b"GET / HTTP/1.1\r\n\r\n", b"")
    conn.data_received(b"HTTP/1.1 200 OK\r\n\r\nab")
    assert conn.state is READING_BODY
    body = conn.iter_body()
    assert await anext(body) == b"ab"
    waiting = asyncio.ensure_future(anext(body))
    await settle()
    conn.connection_lost(None)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 1)
    assert conn.state is CLOSED and not conn.recycle()


async def test_the_replica_closing_before_the_head_breaks_the_exchange():
    conn, _ = connection()
    conn.send_bytes(b"GET / HTTP/1.1\r\n\r\n", b"")
    conn.connection_lost(None)
    assert conn.state is BROKEN and conn.error.sent
    with pytest.raises(UpstreamError):
        await conn.read_head()


async def test_an_idle_connection_closed_by_the_replica_is_not_usable():
    conn, transport = connection()
    transport.closing = True
    conn.connection_lost(None)
    assert conn.state is CLOSED and not conn.usable()


async def test_unsolicited_bytes_close_an_idle_connection():
    conn, transport = connection()
    conn.data_received(OK)  # nobody asked
    assert conn.state is CLOSED and transport.closing and conn.status == 0


async def test_the_deadline_breaks_the_exchange_and_calls_the_listener():
    calls = []
    conn, _ = connection()
    conn.send_bytes(b"GET / HTTP/1.1\r\n\r\n", b"", listener=lambda: calls.append(conn.state))
    conn.expire()
    assert conn.state is BROKEN and isinstance(conn.error, ExchangeTimeout)
    assert calls and calls[0] is BROKEN
    conn.unlisten()
    await settle()  # connection_lost: no more calls
    assert len(calls) == 1


async def test_a_streamed_upload_is_sending_until_its_last_chunk():
    conn, transport = connection()
    seen = []

    async def body():
        seen.append(conn.state)
        yield b"abc"

    await conn.send_request(b"PUT / HTTP/1.1\r\n\r\n", body(), chunked=True)
    assert seen == [SENDING] and conn.state is AWAITING_HEAD
    assert transport.written.endswith(b"3\r\nabc\r\n0\r\n\r\n")


async def test_the_pool_keeps_only_what_recycles():
    pool = Pool(connect_timeout=1)
    good, _ = connection()
    good.send_bytes(b"GET / HTTP/1.1\r\n\r\n", b"")
    good.data_received(OK)
    pool.release(good)
    bad, bad_transport = connection()
    bad.send_bytes(b"GET / HTTP/1.1\r\n\r\n", b"")
    pool.release(bad)  # the answer never came
    assert bad_transport.closing
    assert pool.take_idle(("127.0.0.1", 1)) is good
    assert pool.take_idle(("127.0.0.1", 1)) is None
    pool.close()


async def test_a_big_answer_taken_whole_does_not_leave_reading_paused():
    conn, transport = connection()
    conn.send_bytes(b"GET / HTTP/1.1\r\n\r\n", b"")
    size = HIGH_WATER + 10
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size)
    assert not transport.reading
    assert len(conn.take_complete_body()) == size
    assert conn.recycle() and transport.reading
