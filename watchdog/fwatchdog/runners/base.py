"""The runner interface. Runners get plain values and never see the client's HTTP.

Cancelling `run` (client gone, exec_timeout, shutdown) is how the server asks
a runner to stop: a runner then kills what it started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Invocation:
    method: str
    target: str  # path and query as received
    headers: list[tuple[str, str]]  # end-to-end request headers (lower-case names)
    body: bytes
    env: Mapping[str, str] | None = None  # full child environment (fork and stream modes)


@dataclass
class Outcome:
    body: bytes = b""
    status: int = 200  # only the http runner sets another
    headers: list[tuple[str, str]] = field(default_factory=list)
    streamed: bool = False  # the body already went to the sink


class Sink(Protocol):
    """Where a streaming runner writes output as it comes; awaits for back-pressure."""

    async def write(self, chunk: bytes) -> None: ...


class ProcessFailed(Exception):
    def __init__(self, code: int, out_of_memory: bool = False) -> None:
        super().__init__(f"exit code {code}")
        self.code = code
        self.out_of_memory = out_of_memory  # the kernel's OOM killer ended it


class OutputTooLarge(Exception):
    pass


class CannotStart(Exception):
    """The function process could not be spawned (the OSError's text): in
    practice the container is at its pids or memory limit, for a moment."""


class UpstreamUnavailable(Exception):
    pass


class Supervised(Protocol):
    """What every mode's runner does: start, say whether it is ready, sweep, stop."""

    async def start(self) -> None: ...

    def ready(self) -> bool: ...

    def sweep(self) -> None:
        """Called every SWEEP_INTERVAL: end what outlived its invocation."""
        ...

    async def stop(self) -> None: ...


class Runner(Supervised, Protocol):
    """Fork and stream modes: one run per request. (HTTP mode only supervises
    the warm upstream; proxy.py relays requests to it without a run.)"""

    async def run(self, invocation: Invocation, sink: Sink) -> Outcome: ...
