"""stream mode: fork per request, stdout goes to the client as the process writes it.

Memory stays bounded: one read of the pipe at a time, and the next read waits
until the client connection has taken the previous chunk (sink back-pressure).
"""

from __future__ import annotations

import asyncio

from .. import procs
from .base import Outcome, OutputTooLarge, Sink
from .fork import ForkRunner


class StreamRunner(ForkRunner):
    async def _collect(self, loop: asyncio.AbstractEventLoop, stdout: int,
                       sink: Sink) -> Outcome:
        """The process's stdout to the client as it comes, within the response limit."""
        sent = 0
        while chunk := await procs.read_some(loop, stdout, 65536):
            sent += len(chunk)
            if sent > self.response_limit:
                raise OutputTooLarge()
            await sink.write(chunk)
        return Outcome(streamed=True)
