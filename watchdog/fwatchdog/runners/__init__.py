"""One runner per mode behind one small interface; chosen once at start-up."""

from __future__ import annotations

from .base import (
    CannotStart,
    Invocation,
    Outcome,
    OutputTooLarge,
    ProcessFailed,
    Runner,
    Sink,
    Supervised,
    UpstreamUnavailable,
)

__all__ = [
    "CannotStart",
    "Invocation",
    "Outcome",
    "OutputTooLarge",
    "ProcessFailed",
    "Runner",
    "Sink",
    "Supervised",
    "UpstreamUnavailable",
    "make_runner",
]


def make_runner(mode: str, **kwargs) -> Supervised:
    if mode == "fork":
        from .fork import ForkRunner
        return ForkRunner(**kwargs)
    if mode == "stream":
        from .stream import StreamRunner
        return StreamRunner(**kwargs)
    if mode == "http":
        from .http import HttpRunner
        return HttpRunner(**kwargs)
    raise ValueError(f"unknown mode {mode!r}")
