"""The supervisor of a pool of pre-forked workers sharing one listening socket.

One asyncio loop is one core; a fork-mode watchdog spends most of its time in
posix_spawn (the vfork blocks the loop until the child has exec'd), so N
workers, each a full watchdog loop (app.serve) with its own SO_REUSEPORT
socket on the one port, use N cores. Per-worker sockets, not one shared
socket: asyncio accepts a whole backlog at once, so with a shared socket one
worker could take every keep-alive connection and leave the others idle.

The parent runs no event loop: it blocks SIGCHLD/SIGTERM/SIGINT and takes
them one by one with sigtimedwait, which keeps it small and PID 1-safe. It
- forks the workers (before any loop exists, so each child starts clean);
- reaps everything (it is a subreaper): workers and orphans;
- restarts a worker that dies unexpectedly (backoff when one dies right after
  starting) and kills the process groups its dead worker left behind;
- writes the lock file once every worker is ready, removes it on SIGTERM,
  forwards SIGTERM to every worker (each drains itself) and exits 0 when all
  have exited, SIGKILLing any still there after the longest stop allowed
  (``longest_stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path

from . import procs
from .config import Config
from .metrics import STATE_READY, STATE_STOPPING, SharedArea
from .server import LINGER_CLOSE

log = logging.getLogger("fwatchdog")
_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}
QUICK_DEATH = 1.0  # a worker that dies sooner than this after starting gets a backoff


class Pool:
    def __init__(self, config: Config, env: Mapping[str, str], socks: list[socket.socket],
                 path: str, lock: str | None) -> None:
        self.config = config
        self.env = env
        self.path = path  # fprocess's program, resolved once (app.resolve_executable)
        self.socks = socks  # one per worker (SO_REUSEPORT)
        workers = self.size = len(socks)
        self.lock = lock
        self.area = SharedArea(workers + 1)  # the last slot is the supervisor's
        self.own = self.area.slot(workers)
        self.pids: dict[int, int] = {}  # pid -> worker index
        self.started_at: dict[int, float] = {}  # index -> time.monotonic() of its start
        self.backoff: dict[int, float] = {}  # index -> next backoff
        self.due: dict[int, float] = {}  # index -> when to restart it
        self.stopping = False
        self.deadline = 0.0
        self.ready_written = False

    # life of the pool ---------------------------------------------------
    def run(self) -> int:
        procs.become_subreaper()
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        for index in range(self.size):
            self._start(index)
        log.info("pool: %d workers, mode=%s", self.size, self.config.mode)
        try:
            while self.pids or not self.stopping:
                info = signal.sigtimedwait(_SIGNALS, self._wait_time())
                if info is not None and info.si_signo in (signal.SIGTERM, signal.SIGINT):
                    self._begin_stop()
                self._reap()
                self._tick()
        finally:
            self._unlock()
        return 0

    def _wait_time(self) -> float:
        now = time.monotonic()
        wait = 1.0 if self.ready_written or self.stopping else 0.02
        if self.due:
            wait = min(wait, max(0.0, min(self.due.values()) - now))
        if self.stopping:
            wait = min(wait, max(0.0, self.deadline - now))
        return max(wait, 0.001)

    def _tick(self) -> None:
        now = time.monotonic()
        if self.stopping:
            if now >= self.deadline and self.pids:
                log.warning("pool: %d workers still running after the drain bound; killing",
                            len(self.pids))
                for pid in self.pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.deadline = now + 3600
            return
        for index, when in list(self.due.items()):
            if when <= now:
                del self.due[index]
                self._start(index)
        if not self.ready_written and self._all_ready():
            self.ready_written = True
            if self.lock:
                Path(self.lock).touch()
            self.own.set_state(STATE_READY)  # workers' /_/health turns 200 after the lock exists
            log.info("ready: %d workers", self.size)

    def _all_ready(self) -> bool:
        return len(self.pids) == self.size and all(
            self.area.state(i) == STATE_READY for i in range(self.size))

    def _begin_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.due.clear()
        self.own.set_state(STATE_STOPPING)
        self._unlock()
        c = self.config
        self.deadline = time.monotonic() + longest_stop(c)
        for sock in self.socks:  # only the workers' copies keep the port open now
            sock.close()
        log.info("pool: stopping %d workers", len(self.pids))
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _unlock(self) -> None:
        if self.lock:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock)

    # workers -------------------------------------------------------------
    def _start(self, index: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker; never returns
            code = 1
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
                for i, sock in enumerate(self.socks):
                    if i != index:
                        sock.close()
                code = _worker_main(self.config, self.env, self.socks[index], self.path, index,
                                    self.area)
            except BaseException:  # a worker must never return into the parent's code
                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os._exit(code)
        self.pids[pid] = index
        self.started_at[index] = time.monotonic()

    def _reap(self) -> None:
        for pid, status in procs.exited_children():
            index = self.pids.pop(pid, None)
            if index is None:
                self.own.orphan_reaped()
                continue
            self.area.worker_gone(index)
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                if code != 0:
                    log.warning("pool: worker %d exited with %s while stopping", index, code)
                continue
            log.warning("pool: worker %d (pid %d) exited with %s; restarting", index, pid, code)
            self._kill_leftovers()
            lived = time.monotonic() - self.started_at.get(index, 0.0)
            if lived < QUICK_DEATH:
                delay = self.backoff.get(index, 0.1)
                self.backoff[index] = min(delay * 2, 5.0)
            else:
                delay = 0.0
                self.backoff.pop(index, None)
            self.due[index] = time.monotonic() + delay

    def _kill_leftovers(self) -> None:
        """A dead worker's function processes came to us: their clients are gone, kill them."""
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid in self.pids:
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            ppid, pgid = int(fields[1]), int(fields[2])
            if ppid != me or fields[0] == "Z":
                continue
            self.own.process_killed("client_gone")
            killed = pgid == pid and procs.signal_group(pgid, signal.SIGKILL)
            if not killed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def longest_stop(c: Config) -> float:
    """The longest a worker may take from SIGTERM to exit (app.serve):
    healthcheck_interval, its drain (in-flight bounded by write_timeout, and
    answering replica_draining for at least drain_linger), the connections
    closing after such an answer (LINGER_CLOSE), killing what still runs; 5 s
    of slack."""
    return (c.healthcheck_interval + max(c.write_timeout, c.drain_linger) + LINGER_CLOSE
            + c.kill_grace + 5.0)


def _worker_main(config: Config, env: Mapping[str, str], sock: socket.socket, path: str,
                 index: int, area: SharedArea) -> int:
    from .app import serve

    return asyncio.run(serve(config, env, sock, path, worker=index, write_lock=False,
                             metrics=area.slot(index)))


def run_pool(config: Config, env: Mapping[str, str], socks: list[socket.socket], path: str,
             lock: str | None) -> int:
    return Pool(config, env, socks, path, lock).run()
