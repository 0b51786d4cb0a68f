"""fork mode: one process per request, body on stdin, stdout is the response."""

from __future__ import annotations

import asyncio
import os

from .. import procs
from ..metrics import Slot as Metrics
from .base import Invocation, Outcome, OutputTooLarge, ProcessFailed, Sink


class ForkRunner:
    streams = False

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

    async def start(self) -> None:
        return None

    def ready(self) -> bool:
        return True

    async def stop(self) -> None:
        return None

    def _spawn(self, invocation: Invocation) -> tuple[procs.Child, asyncio.Future[int]]:
        child = procs.spawn(self.path, self.argv, invocation.env or {},
                            stderr_to_stdout=self.combine_output)
        exited = self.reaper.watch(child.pid)  # before any await: see Reaper.watch
        self.metrics.process_started()
        return child, exited

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
                 reason: str | None) -> None:
        if writer is not None and not writer.done():
            writer.cancel()
        if child.stdout is not None:
            os.close(child.stdout)
            child.stdout = None
        if reason is not None and not exited.done():
            self.metrics.process_killed(reason)
            procs.kill_group(loop, child.pid, self.kill_grace)

    async def run(self, invocation: Invocation, sink: Sink) -> Outcome:
        loop = asyncio.get_running_loop()
        child, exited = self._spawn(invocation)
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
                raise ProcessFailed(code)
            return outcome
        except asyncio.CancelledError as exc:
            reason = kill_reason(exc)
            raise
        finally:
            self._cleanup(loop, child, exited, writer, reason)

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
