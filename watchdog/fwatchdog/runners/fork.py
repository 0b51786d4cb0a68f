"""fork mode: one process per request, body on stdin, stdout is the response."""

from __future__ import annotations

import asyncio
import os
import signal

from .. import procs
from ..metrics import Slot as Metrics
from ..oom import OomCounter
from .base import CannotStart, Invocation, Outcome, OutputTooLarge, ProcessFailed, Sink


class ForkRunner:
    def __init__(self, *, path: str, argv: tuple[str, ...], reaper: procs.Reaper,
                 metrics: Metrics, combine_output: bool, response_limit: int,
                 kill_grace: float, **_: object) -> None:
        self.path = path
        self.argv = argv
        self.reaper = reaper
        self.metrics = metrics
        self.combine_output = combine_output
        self.response_limit = response_limit
        self.kill_grace = kill_grace
        # Marks of the invocations in flight (procs.INVOCATION_ENV): an orphan
        # with another mark, or none, belongs to an invocation that is over.
        self.live: set[str] = set()
        self._mark_prefix = f"{os.getpid()}."
        self._marks = 0
        self.oom = OomCounter()

    async def start(self) -> None:
        return None

    def ready(self) -> bool:
        return True

    async def stop(self) -> None:
        return None

    def sweep(self) -> None:
        """End orphans of invocations that are over (also those orphaned since)."""
        self._end_orphans()

    def _end_orphans(self) -> None:
        # Counted when reaped (fwatchdog_orphans_reaped_total), not as kills:
        # process_kills_total counts invocations.
        procs.end_orphans(self.reaper, self.live)

    def _spawn(self, invocation: Invocation) -> tuple[procs.Child, asyncio.Future[int], str]:
        self._marks += 1
        mark = f"{self._mark_prefix}{self._marks}"
        env = dict(invocation.env or {})
        env[procs.INVOCATION_ENV] = mark
        try:
            child = procs.spawn(self.path, self.argv, env, stderr_to_stdout=self.combine_output)
        except OSError as exc:  # EAGAIN at the pids limit, ENOMEM at the memory limit
            raise CannotStart(exc.strerror or str(exc)) from None
        exited = self.reaper.watch(child.pid)  # before any await: see Reaper.watch
        self.live.add(mark)
        self.metrics.process_started()
        return child, exited, mark

    def _feed(self, loop: asyncio.AbstractEventLoop, child: procs.Child,
              body: bytes) -> asyncio.Task | None:
        """Write the body to stdin: inline when the pipe takes it all (the usual case)."""
        fd = child.stdin
        assert fd is not None
        child.stdin = None
        written = 0
        if body:
            try:
                written = os.write(fd, body)
            except BlockingIOError:
                written = 0
            except (BrokenPipeError, ConnectionResetError):
                written = len(body)
        if written >= len(body):
            os.close(fd)
            return None
        return loop.create_task(procs.write_all(loop, fd, memoryview(body)[written:]))

    def _cleanup(self, loop: asyncio.AbstractEventLoop, child: procs.Child,
                 exited: asyncio.Future[int], writer: asyncio.Task | None,
                 reason: str | None, mark: str) -> None:
        """The invocation is over: nothing it started may outlive it."""
        if writer is not None and not writer.done():
            writer.cancel()
        if child.stdout is not None:
            os.close(child.stdout)
            child.stdout = None
        if not exited.done():
            self.metrics.process_killed(reason or "other")
            procs.kill_group(loop, child.pid, self.kill_grace)
        else:  # the leader is gone; what is left of its group dies with the invocation
            procs.signal_group(child.pid, signal.SIGKILL)
        self.live.discard(mark)
        self._end_orphans()

    async def run(self, invocation: Invocation, sink: Sink) -> Outcome:
        loop = asyncio.get_running_loop()
        child, exited, mark = self._spawn(invocation)
        writer = None
        reason: str | None = "cancelled"
        try:
            writer = self._feed(loop, child, invocation.body)
            assert child.stdout is not None
            try:
                outcome = await self._collect(loop, child.stdout, sink)
            except OutputTooLarge:
                reason = "response_too_large"
                raise
            code = await exited
            reason = None
            if code != 0:
                # Nothing of ours has signalled it yet: a SIGKILL is the kernel's.
                raise ProcessFailed(code, code == -signal.SIGKILL and self.oom.killed_since())
            return outcome
        except asyncio.CancelledError as exc:
            reason = kill_reason(exc)
            raise
        finally:
            self._cleanup(loop, child, exited, writer, reason, mark)

    async def _collect(self, loop: asyncio.AbstractEventLoop, stdout: int,
                       sink: Sink) -> Outcome:
        """The process's stdout, whole: the answer is sent once the process is done."""
        output = await procs.read_all(loop, stdout, self.response_limit)
        if output is None:
            raise OutputTooLarge()
        return Outcome(body=output)


def kill_reason(exc: asyncio.CancelledError) -> str:
    """The server cancels with a message (client_gone, shutdown); a bare cancel is a timeout."""
    return str(exc.args[0]) if exc.args and exc.args[0] else "timeout"
