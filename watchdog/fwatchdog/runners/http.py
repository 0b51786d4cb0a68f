"""http mode: one warm process, each request proxied to its HTTP port.

This runner owns the upstream process, the pool of keep-alive connections
to it and the exec_timeout of the requests relayed to it (one `Deadlines`
per loop): the process is started once, restarted when it dies, and the
runner is not ready until it answers HTTP. The relaying itself is `proxy.py`
(client side) and `upstream.py` (this pool's connections), callbacks only, no
task per request: measured faster than the generic `run()` interface, so
this runner has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from .. import procs
from ..config import Config
from ..deadlines import Deadlines
from ..httpwire import request_head
from ..metrics import Slot as Metrics
from ..upstream import UpstreamPool

log = logging.getLogger("fwatchdog")
PROBE_INTERVAL = 0.05


class HttpRunner:

    def __init__(self, *, path: str, argv: tuple[str, ...], reaper: procs.Reaper,
                 metrics: Metrics, response_limit: int, kill_grace: float, config: Config,
                 env: dict[str, str], **_: object) -> None:
        self.path = path
        self.argv = argv
        self.reaper = reaper
        self.metrics = metrics
        self.response_limit = response_limit
        self.kill_grace = kill_grace
        self.env = env
        host, port = config.upstream_host_port
        self.host_header = f"{host}:{port}"
        self.pool = UpstreamPool(host, port, response_limit)
        self.deadlines = Deadlines(config.exec_timeout)
        self.pid: int | None = None
        self._ready = False
        self._ready_event = asyncio.Event()
        self._stopping = False
        self._supervisor: asyncio.Task | None = None
        self._live: set[str] = set()  # the running upstream's procs.INVOCATION_ENV mark

    def ready(self) -> bool:
        return self._ready

    def sweep(self) -> None:
        """End orphans of an upstream that is gone (the live one's are its own)."""
        procs.end_orphans(self.reaper, self._live)

    async def start(self) -> None:
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        await self._ready_event.wait()

    async def _supervise(self) -> None:
        backoff = 0.1
        first = True
        while not self._stopping:
            mark = f"{os.getpid()}.upstream.{time.monotonic_ns()}"
            child = procs.spawn(self.path, self.argv, {**self.env, procs.INVOCATION_ENV: mark},
                                pipe_stdin=False, pipe_stdout=False)
            exited = self.reaper.watch(child.pid)
            self._live = {mark}
            self.pid = child.pid
            self.metrics.process_started()
            if not first:
                self.metrics.upstream_restarted()
            first = False
            started = time.monotonic()
            probe = asyncio.get_running_loop().create_task(self._probe_until_up())
            code = await exited
            probe.cancel()
            self._ready = False
            self.pid = None
            self._live = set()
            self.sweep()
            self.pool.close_all()
            if self._stopping:
                return
            log.warning("upstream %s exited with %s; restarting", self.argv[0], code)
            backoff = 0.1 if time.monotonic() - started > 10 else min(backoff * 2, 5.0)
            await asyncio.sleep(backoff)

    async def _probe_until_up(self) -> None:
        while True:
            if await self._probe():
                self._ready = True
                self._ready_event.set()
                return
            await asyncio.sleep(PROBE_INTERVAL)

    async def _probe(self) -> bool:
        """Does the upstream answer HTTP at all (any status)?"""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.pool.host, self.pool.port), 1.0)
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(request_head("GET", "/", [("Host", self.host_header),
                                                   ("Connection", "close")]))
            line = await asyncio.wait_for(reader.readline(), 2.0)
            return line.startswith(b"HTTP/1.")
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    async def stop(self) -> None:
        self._stopping = True
        self.pool.close_all()
        pid = self.pid
        if pid is not None and self._supervisor is not None:
            procs.kill_group(asyncio.get_running_loop(), pid, self.kill_grace)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._supervisor), self.kill_grace + 1)
        if self._supervisor is not None:
            self._supervisor.cancel()
