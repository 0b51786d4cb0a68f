"""Why a request was turned away: raised by the pure checks, rendered by the handler."""

from __future__ import annotations


class Rejected(Exception):
    """A request the function must never see. ``code`` is a stable snake_case id."""

    def __init__(self, code: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.status = status
