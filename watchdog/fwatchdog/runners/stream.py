"""stream mode: fork per request, stdout goes to the client as the process writes it.

Memory stays bounded: one read of the pipe at a time, and the next read waits
until the client connection has taken the previous chunk (sink back-pressure).
"""

from __future__ import annotations

import asyncio

from .. import procs
from .base import Invocation, Outcome, OutputTooLarge, ProcessFailed, Sink
from .fork import ForkRunner, kill_reason


class StreamRunner(ForkRunner):
    streams = True

    async def run(self, invocation: Invocation, sink: Sink) -> Outcome:
        loop = asyncio.get_running_loop()
        child, exited = self._spawn(invocation)
        writer = None
        reason: str | None = "cancelled"
        try:
            writer = self._feed(loop, child, invocation.body)
            assert child.stdout is not None
            sent = 0
            while True:
                chunk = await procs.read_some(loop, child.stdout, 65536)
                if not chunk:
                    break
                sent += len(chunk)
                if sent > self.response_limit:
                    reason = "response_too_large"
                    raise OutputTooLarge()
                await sink.write(chunk)
            code = await exited
            reason = None
            if code != 0:
                raise ProcessFailed(code)
            return Outcome(streamed=True)
        except asyncio.CancelledError as exc:
            reason = kill_reason(exc)
            raise
        finally:
            self._cleanup(loop, child, exited, writer, reason)
