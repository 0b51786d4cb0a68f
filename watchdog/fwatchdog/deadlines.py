"""exec_timeout for http mode's relayed exchanges: one timer per loop, not one per request."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

COMPACT_MIN = 1024  # queue length that triggers dropping finished exchanges


class Timed(Protocol):
    """What Deadlines needs of an exchange (proxy.Exchange)."""

    deadline: float  # the loop's clock
    over: bool

    def timed_out(self) -> None: ...


class Deadlines:
    """exec_timeout for every exchange of one loop, with one timer in all.

    All exchanges get the same timeout, so their deadlines come in the order
    they start: a FIFO queue is a deadline queue, and one timer, armed for the
    oldest unfinished exchange, is enough. Finished exchanges are dropped from
    the front as new ones come, and filtered out when one slow exchange at the
    front holds many behind it (so memory follows the live ones). Cheaper than
    a call_later handle per request (heap push and cancel): docs/watchdog.md.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.queue: deque[Timed] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.compact_at = COMPACT_MIN

    def add(self, exchange: Timed) -> None:
        queue = self.queue
        while queue and queue[0].over:
            queue.popleft()
        if len(queue) >= self.compact_at:
            queue = self.queue = deque(e for e in queue if not e.over)
            self.compact_at = max(COMPACT_MIN, 2 * len(queue))
        queue.append(exchange)
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_at(exchange.deadline, self._expire)

    def _expire(self) -> None:
        self.timer = None
        queue = self.queue
        now = asyncio.get_running_loop().time()
        while queue:
            exchange = queue[0]
            if not exchange.over and exchange.deadline > now:
                self.timer = asyncio.get_running_loop().call_at(exchange.deadline, self._expire)
                return
            queue.popleft()
            if not exchange.over:
                exchange.timed_out()
