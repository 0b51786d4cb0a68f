"""Wiring and lifecycle of one watchdog worker: start, ready, drain, exit.

Start: listen first (so /_/health answers 503 while starting), start the
runner, then mark ready and write the lock file. SIGTERM: remove the lock,
keep serving for healthcheck_interval (routers notice), then drain: let
in-flight requests finish (bounded by write_timeout) while every new request
gets 503 replica_draining (a sidecar that still routes here sends it to
another replica), for at least `drain_linger`; then stop accepting, let the
connections closing after such an answer end, stop the runner, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
from collections.abc import Mapping

from . import metrics as metrics_mod
from . import procs
from .config import Config, ConfigError
from .lockfile import lock_path
from .proxy import ProxyConnection
from .runners import make_runner
from .server import LINGER_CLOSE, HttpConnection, Server

log = logging.getLogger("fwatchdog")
SWEEP_INTERVAL = 0.5
# How each mode serves an admitted request: fork and stream run their runner
# per request (server.py); http relays it to the warm upstream (proxy.py).
CONNECTIONS: dict[str, type[HttpConnection]] = {
    "fork": HttpConnection, "stream": HttpConnection, "http": ProxyConnection,
}


def resolve_executable(config: Config, env: Mapping[str, str]) -> str:
    """fprocess's program on PATH: resolved once at start-up (`__main__`), and
    the path handed to every worker."""
    name = config.fprocess[0]
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if not found:
        raise ConfigError(f"fprocess: {name!r} is not an executable file on PATH")
    return found


def make_listener(port: int, host: str = "", reuse_port: bool = False) -> socket.socket:
    """Listen on all addresses (IPv6 and IPv4) unless `host` names one IPv4 address.

    `reuse_port`: one of several sockets on the same port, one per worker; the
    kernel spreads new connections over them.
    """
    sock = socket.socket(socket.AF_INET6 if not host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if not host:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((host or "::", port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def serve(config: Config, env: Mapping[str, str], sock: socket.socket, path: str,
                worker: int = 0, write_lock: bool = True,
                metrics: metrics_mod.Slot | None = None) -> int:
    """Run one worker until SIGTERM/SIGINT has drained it; return the exit code.

    Alone, it writes the lock file itself; in a pool (pool.py) the supervisor
    does, from the states the workers publish in their metrics slots.
    """
    loop = asyncio.get_running_loop()
    if metrics is None:
        metrics = metrics_mod.single()
    metrics.set_state(metrics_mod.STATE_STARTING)

    def orphan_reaped(pid: int, code: int) -> None:
        metrics.orphan_reaped()

    reaper = procs.Reaper(loop, orphan_reaped)
    procs.become_subreaper()
    reaper.install()
    runner = make_runner(
        config.mode, path=path, argv=config.fprocess, reaper=reaper, metrics=metrics,
        combine_output=config.combine_output, response_limit=config.response_limit,
        kill_grace=config.kill_grace, config=config, env=env,
    )
    server = Server(config, runner, metrics, env, worker, CONNECTIONS[config.mode])
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    listener = await loop.create_server(server.protocol_factory, sock=sock)
    sweeper = loop.create_task(_sweep(server))
    lock = lock_path() if write_lock and not config.suppress_lock else None
    try:
        start = loop.create_task(runner.start())
        stop_wait = loop.create_task(stop.wait())
        await asyncio.wait({start, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if start.done():
            start.result()
            server.state = "ready"
            metrics.set_state(metrics_mod.STATE_READY)
            if lock:
                with open(lock, "w"):
                    pass
            log.info("ready: mode=%s fprocess=%s port=%d worker=%d", config.mode,
                     " ".join(config.fprocess), config.port, worker)
            await stop_wait
        else:
            start.cancel()
        server.state = "stopping"
        metrics.set_state(metrics_mod.STATE_STOPPING)
        if lock:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)
        if config.healthcheck_interval:
            await asyncio.sleep(config.healthcheck_interval)
        log.info("draining: worker=%d inflight=%d", worker, server.inflight)
        server.begin_drain()
        linger_until = loop.time() + config.drain_linger
        if server.inflight:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(config.write_timeout):
                    await server.idle_event.wait()
        await asyncio.sleep(max(linger_until - loop.time(), 0.0))
        listener.close()
        server.cancel_all("shutdown")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER_CLOSE):
                await server.lingered.wait()
        await asyncio.sleep(0)
        await runner.stop()
        return 0
    finally:
        sweeper.cancel()
        if lock:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)


async def _sweep(server: Server) -> None:
    while True:
        await asyncio.sleep(SWEEP_INTERVAL)
        server.sweep()
