"""Callbacks: where the result of an asynchronous call may be POSTed (pure).

``X-Callback-Url`` asks the queue worker to POST the function's answer there
once the call is delivered. That is an outbound request made on the caller's
behalf, so the URL must pass ``CALLBACK_ALLOWLIST``: glob patterns over the
URL's host, or host:port (``hooks.example.com``, ``*.example.com``,
``10.0.0.5:9000``). Empty: no callbacks at all. The sidecar checks it before
storing the call (400 ``callback_not_allowed``); the worker checks it again
before it sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from ..allowlist import allowed

MAX_URL = 2048


def callback_refusal(url: str, patterns: Sequence[str]) -> str | None:
    """Why ``url`` may not be a callback, or None when it may."""
    if not patterns:
        return "callbacks are off on this platform (CALLBACK_ALLOWLIST is empty)"
    if len(url) > MAX_URL or not url.isprintable() or " " in url:
        return "the callback URL is too long or has spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the callback URL cannot be parsed"
    if parts.scheme not in ("http", "https"):
        return "a callback URL is http:// or https://"
    if parts.username is not None or parts.password is not None:
        return "a callback URL carries no user or password"
    host = (parts.hostname or "").lower()
    if not host:
        return "the callback URL has no host"
    with_port = f"{host}:{port}" if port is not None else host
    if allowed(host, patterns) or allowed(with_port, patterns):
        return None
    return f"{with_port!r} is not in CALLBACK_ALLOWLIST"


def result_headers(call_id: str, function: str, status: int | None, duration: float,
                   attempt: int, content_type: str | None) -> list[tuple[str, str]]:
    """The headers of a callback: what the caller needs to match it to its call."""
    headers = [("X-Call-Id", call_id), ("X-Function-Name", function),
               ("X-Function-Status", str(status) if status is not None else "none"),
               ("X-Duration-Seconds", f"{duration:.3f}"), ("X-Delivery-Attempt", str(attempt))]
    if content_type:
        headers.append(("Content-Type", content_type))
    return headers
