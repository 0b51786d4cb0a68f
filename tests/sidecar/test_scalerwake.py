"""The sidecar's nudge to the scaler (scalerwake.py): when to nudge (a table),
and the nudges a real UDP socket receives."""

from __future__ import annotations

import asyncio
import socket

import pytest

from faas_sidecar.scalerwake import NUDGE_GAP, ScalerWake, should_nudge


@pytest.mark.parametrize(("waiting", "last", "now", "nudge"), [
    (0, None, 5.0, True),               # the first call to wait for the function
    (1, None, 5.0, False),              # another call waits already: nudged then
    (3, None, 5.0, False),
    (0, 4.5, 5.0, False),               # nudged within the gap: the round is coming
    (0, 5.0 - NUDGE_GAP, 5.0, True),    # a gap later: again
    (0, 1.0, 5.0, True),
    (2, 1.0, 5.0, False),
])
def test_should_nudge(waiting, last, now, nudge):
    assert should_nudge(waiting, last, now) is nudge


async def received(sock: socket.socket, count: int = 0) -> list[bytes]:
    """What came, once ``count`` datagrams did (2 s at most), and 50 ms more."""
    got: list[bytes] = []
    for _ in range(100):
        try:
            got.append(sock.recv(100))
            continue
        except BlockingIOError:
            if len(got) >= count:
                break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    try:
        while True:
            got.append(sock.recv(100))
    except BlockingIOError:
        return got


async def test_nudges_reach_the_port_once_per_function_per_gap(scaler_udp):
    udp = scaler_udp
    now = [100.0]
    wake = ScalerWake("localhost", udp.getsockname()[1], clock=lambda: now[0])
    try:
        wake.waiting_started("echo", 0)   # looked up first, in a task
        wake.waiting_started("other", 0)  # while the lookup runs: sent after it
        assert sorted(await received(udp, 2)) == [b"echo", b"other"]
        wake.waiting_started("echo", 0)   # within the gap
        wake.waiting_started("other", 2)  # others wait already
        now[0] += NUDGE_GAP
        wake.waiting_started("echo", 0)   # a gap later, address still fresh: at once
        assert wake.sent == 3
        assert await received(udp, 1) == [b"echo"]
    finally:
        wake.close()


async def test_a_scaler_that_cannot_be_found_costs_nothing_but_the_nudge():
    wake = ScalerWake("nonexistent.invalid", 8082)
    wake.waiting_started("echo", 0)  # never raises into the request's path
    await asyncio.sleep(0.5)
    assert wake.sent == 0
    wake.close()
