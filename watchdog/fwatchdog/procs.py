"""Process plumbing: spawn with posix_spawn, reap every child, kill whole groups.

Why not subprocess/asyncio subprocess: Popen forks and closes fds one by one
and asyncio's child watchers cost a thread or a pidfd per child. posix_spawn
is vfork-based in glibc (cheap whatever our RSS), our fds are already
close-on-exec, and one SIGCHLD handler calling waitpid(-1) reaps our children
and any orphan (PID 1 duty) in the same loop pass.

Containment: the watchdog is a child subreaper, so a process that leaves its
invocation's process group (`setsid`) or double-forks comes back to it as a
child when its parent dies. Each spawn carries a mark in its environment
(INVOCATION_ENV, inherited by everything it starts); when an invocation ends,
`end_orphans` SIGKILLs every such orphan whose invocation is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import os
import signal
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass

_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM,
                    signal.SIGCHLD, signal.SIGHUP, signal.SIGQUIT)
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
INVOCATION_ENV = "fwatchdog_invocation"  # the mark every spawned process inherits
# What every function process gets, and passes on to what it starts: a lower
# CPU priority than the watchdog in the same container (a fork bomb starved
# the watchdog's own timer past the sidecar's deadline), and first place for
# the kernel's out-of-memory killer (a memory hog took the watchdog, and so
# the container, with it). Both only lower a process's standing, which needs
# no capability.
FUNCTION_NICE = 10
FUNCTION_OOM_SCORE_ADJ = b"1000"
# Not SCHED_IDLE as well: tried, it cost fork mode 0.91x against 0.99x of
# the same baseline (p99 25.7 against 9.4 ms, bench/watchdog_fork.py, quiet
# machine), and a fork bomb at the 512-pid limit was answered no sooner with
# it (2.10, 9.02, 2.55 s against 2.02, 2.34, 2.99 s). The pids limit is what
# keeps a bomb small enough for the watchdog's timer (docs/watchdog.md).
_MARK = INVOCATION_ENV.encode() + b"="


def become_subreaper() -> bool:
    """Make orphans of our descendants come back to us (so we can reap them)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def forbid_new_privileges() -> bool:
    """No process from here on (the watchdog, every function process) can gain
    privileges through exec: setuid/setgid bits and file capabilities are
    ignored. Docker's `no-new-privileges`, which Swarm services cannot set."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def demote(pid: int) -> None:
    """FUNCTION_NICE and FUNCTION_OOM_SCORE_ADJ for a process just spawned.
    posix_spawn has no hook for either, so they are set from here, right after
    exec: before a function has started anything of its own, in practice, and
    all it starts inherits them. Best effort: a process already gone is fine."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, FUNCTION_NICE)
    try:
        fd = os.open(f"/proc/{pid}/oom_score_adj", os.O_WRONLY)
    except OSError:
        return
    try:
        os.write(fd, FUNCTION_OOM_SCORE_ADJ)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class Child:
    pid: int
    stdin: int | None  # our write end, non-blocking
    stdout: int | None  # our read end, non-blocking


def spawn(
    path: str,
    argv: tuple[str, ...],
    env: Mapping[str, str],
    *,
    pipe_stdin: bool = True,
    pipe_stdout: bool = True,
    stderr_to_stdout: bool = False,
) -> Child:
    """Start `argv` as the leader of a new process group, with pipes on stdin/stdout."""
    actions: list[tuple] = []
    close_after: list[int] = []
    ours_in = ours_out = None
    try:
        if pipe_stdin:
            r, ours_in = os.pipe()
            actions.append((os.POSIX_SPAWN_DUP2, r, 0))
            close_after.append(r)
        else:
            actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
        if pipe_stdout:
            ours_out, w = os.pipe()
            actions.append((os.POSIX_SPAWN_DUP2, w, 1))
            if stderr_to_stdout:
                actions.append((os.POSIX_SPAWN_DUP2, w, 2))
            close_after.append(w)
        pid = os.posix_spawn(path, argv, env, file_actions=actions, setpgroup=0,
                             setsigdef=_DEFAULT_SIGNALS, setsigmask=())
        demote(pid)
    except BaseException:
        for fd in (ours_in, ours_out):
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in close_after:
            os.close(fd)
    # One F_SETFL each (set_blocking is a get and a set): a fresh pipe end has
    # no other status flag. Only our ends: the child's must stay blocking.
    if ours_in is not None:
        fcntl.fcntl(ours_in, fcntl.F_SETFL, os.O_NONBLOCK)
    if ours_out is not None:
        fcntl.fcntl(ours_out, fcntl.F_SETFL, os.O_NONBLOCK)
    return Child(pid, ours_in, ours_out)


class Reaper:
    """Reaps every child on SIGCHLD; resolves a future for the ones we watch."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 on_orphan: Callable[[int, int], None] | None = None) -> None:
        self._loop = loop
        self._waiters: dict[int, asyncio.Future[int]] = {}
        self._on_orphan = on_orphan

    def install(self) -> None:
        self._loop.add_signal_handler(signal.SIGCHLD, self.reap)
        self.reap()  # children that ended before the handler existed

    def watch(self, pid: int) -> asyncio.Future[int]:
        """A future for the exit code of `pid` (-N: killed by signal N).

        Call it right after spawning, before yielding to the loop, so the
        SIGCHLD handler cannot reap the child first.
        """
        fut = self._loop.create_future()
        self._waiters[pid] = fut
        return fut

    def reap(self) -> None:
        for pid, status in exited_children():
            code = os.waitstatus_to_exitcode(status)
            fut = self._waiters.pop(pid, None)
            if fut is None:
                if self._on_orphan:
                    self._on_orphan(pid, code)
            elif not fut.done():
                fut.set_result(code)

    def watching(self) -> int:
        return len(self._waiters)

    def orphans(self) -> list[int]:
        """Our children that we did not spawn: reparented to us (we are the subreaper)."""
        try:
            with open(self._children_file, "rb") as f:
                pids = f.read().split()
        except OSError:  # no /proc, or a kernel without CONFIG_PROC_CHILDREN
            return []
        return [pid for pid in map(int, pids) if pid not in self._waiters]

    @property
    def _children_file(self) -> str:
        # Reparented orphans and spawned children are both the main thread's.
        pid = os.getpid()
        return f"/proc/{pid}/task/{pid}/children"


def invocation_mark(pid: int) -> str | None:
    """The INVOCATION_ENV value `pid` was started with; None when it has none
    (or is gone, or a zombie)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
    except OSError:
        return None
    for entry in environ.split(b"\0"):
        if entry.startswith(_MARK):
            return entry[len(_MARK):].decode("latin-1")
    return None


def end_orphans(reaper: Reaper, live: Container[str]) -> int:
    """SIGKILL every orphan whose invocation is over, and its process group.

    Over: its mark is not in `live`, or it has none (it cleared its
    environment, so it cannot be told apart: ended rather than left running).
    The reaper then reaps them. Returns how many were signalled.
    """
    ended = 0
    for pid in reaper.orphans():
        if invocation_mark(pid) in live:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:  # it leads a group (setsid): its own children too
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            ended += 1
    return ended


def exited_children() -> Iterator[tuple[int, int]]:
    """(pid, wait status) of each child that has exited, reaping it; never blocks."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children at all
        if pid == 0:
            return  # children, none exited
        yield pid, status


def signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def kill_group(loop: asyncio.AbstractEventLoop, pgid: int, grace: float) -> None:
    """SIGTERM the whole group now and SIGKILL it after `grace` seconds.

    The SIGKILL goes to the group even when the leader is gone: its children may
    ignore SIGTERM. A pgid cannot be reused while any member lives.
    """
    signal_group(pgid, signal.SIGTERM)
    if grace <= 0:
        signal_group(pgid, signal.SIGKILL)
    else:
        loop.call_later(grace, signal_group, pgid, signal.SIGKILL)


async def read_all(loop: asyncio.AbstractEventLoop, fd: int, limit: int) -> bytes | None:
    """Read `fd` to EOF; None when the output goes over `limit` bytes.

    One reader registration for the whole output (not one per read) and no
    read before the first wake-up: a child just spawned has not written yet.
    """
    collector = _Collector(loop.create_future(), limit)
    loop.add_reader(fd, collector.readable, fd)
    try:
        return await collector.done
    finally:
        loop.remove_reader(fd)


class _Collector:
    __slots__ = ("chunks", "done", "limit", "size")

    def __init__(self, done: asyncio.Future, limit: int) -> None:
        self.done = done
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0

    def readable(self, fd: int) -> None:
        if self.done.done():
            return
        try:
            chunk = os.read(fd, 262144)
        except BlockingIOError:
            return
        except OSError as exc:
            self.done.set_exception(exc)
            return
        if not chunk:
            self.done.set_result(b"".join(self.chunks))
            return
        self.size += len(chunk)
        if self.size > self.limit:
            self.done.set_result(None)
            return
        self.chunks.append(chunk)


async def read_some(loop: asyncio.AbstractEventLoop, fd: int, n: int = 262144) -> bytes:
    """One non-blocking read, waiting for readability when needed; b'' at EOF."""
    try:
        return os.read(fd, n)
    except BlockingIOError:
        pass
    fut = loop.create_future()
    loop.add_reader(fd, _wake, fut)
    try:
        await fut
    finally:
        loop.remove_reader(fd)
    return os.read(fd, n)


async def write_all(loop: asyncio.AbstractEventLoop, fd: int, data: bytes | memoryview) -> None:
    """Write everything to `fd` then close it; a reader that went away is not an error."""
    view = memoryview(data)
    try:
        while view:
            try:
                view = view[os.write(fd, view):]
                continue
            except BlockingIOError:
                pass
            fut = loop.create_future()
            loop.add_writer(fd, _wake, fut)
            try:
                await fut
            finally:
                loop.remove_writer(fd)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)
