"""The sidecar's nudge to the scaler: a call starts waiting for a function that
had none waiting here.

The scaler reads every sidecar once a round (``SCALER_INTERVAL``, at most 1 s).
A call held for a function at zero replicas, or queued in front of full
replicas, is the signal to scale up, and waiting for the next round costs up
to a whole interval. So when a call starts waiting for a function that had no
call waiting in this sidecar, the sidecar sends the scaler one UDP datagram,
the function's name, to ``SCALER_WAKE``; the scaler then starts its next round
at once (scaler/service.py). The nudge carries no decision: the scaler still
reads every sidecar and decides alone (docs/scaling.md).

Best effort by design: nothing waits for the nudge, a request's path never
waits on DNS (a stale address is looked up again in a task), and a nudge that
is lost (the scaler restarting, a full buffer) costs at most the round it would
have saved.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# At most one nudge per function per sidecar process in this many seconds: the
# scaler's longest interval, after which its own round comes anyway.
NUDGE_GAP = 1.0
# The scaler's address is looked up again after this long (dnsrr: a new task,
# a new address).
RESOLVE_EVERY = 5.0


def should_nudge(waiting: int, last: float | None, now: float, gap: float = NUDGE_GAP) -> bool:
    """A call starts waiting: nudge when no other call of the function was
    waiting here, and the function was not nudged within ``gap`` seconds."""
    return waiting == 0 and (last is None or now - last >= gap)


class ScalerWake:
    """Sends the nudges of one sidecar process to ``host``:``port`` (UDP)."""

    def __init__(self, host: str, port: int, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._host, self._port = host, port
        self._clock = clock
        self._last: dict[str, float] = {}
        self._sock: socket.socket | None = None
        self._address: tuple[str, int] | None = None
        self._resolved_at = -math.inf
        self._lookup: asyncio.Task[None] | None = None
        self._pending: set[str] = set()  # nudges waiting for the lookup
        self.sent = 0

    def waiting_started(self, name: str, waiting: int) -> None:
        """A call of ``name`` starts waiting; ``waiting`` others already were."""
        now = self._clock()
        if not should_nudge(waiting, self._last.get(name), now):
            return
        self._last[name] = now
        if self._sock is not None and now - self._resolved_at < RESOLVE_EVERY:
            self._send(name)
            return
        self._pending.add(name)
        if self._lookup is None or self._lookup.done():
            self._lookup = asyncio.get_running_loop().create_task(self._resolve_and_send())

    async def _resolve_and_send(self) -> None:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                self._host, self._port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            self._pending.clear()
            log.debug("scaler wake: cannot resolve %s: %s", self._host, exc)
            return
        family, kind, proto, _, address = infos[0]
        if self._sock is None or self._sock.family != family:
            self._close_socket()
            self._sock = socket.socket(family, kind, proto)
            self._sock.setblocking(False)
        self._address = (str(address[0]), int(address[1]))
        self._resolved_at = self._clock()
        pending, self._pending = self._pending, set()
        for name in pending:
            self._send(name)

    def _send(self, name: str) -> None:
        assert self._sock is not None and self._address is not None
        try:
            self._sock.sendto(name.encode("ascii", "replace"), self._address)
            self.sent += 1
        except OSError as exc:  # a full buffer, no route: the next round comes anyway
            log.debug("scaler wake to %s failed: %s", self._address, exc)

    def close(self) -> None:
        if self._lookup is not None:
            self._lookup.cancel()
        self._close_socket()

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
