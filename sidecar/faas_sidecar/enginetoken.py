"""The bearer token the sidecar shows the engine gate (ENGINE_GATE_TOKEN_FILE).

The gate's network is internal and only the sidecar joins it; the token keeps
the sidecar the gate's only caller even if another service is attached to
that network by mistake. Both read it once at start-up from the same Docker
secret file. It is kept out of every repr and log line.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from .settings import text

SETTING = "ENGINE_GATE_TOKEN_FILE"
MIN_LENGTH = 16


def read_token(env: Mapping[str, str], error: type[ValueError],
               setting: str = SETTING) -> str | None:
    """The token in the file ``setting`` (ENGINE_GATE_TOKEN_FILE) names; None when unset."""
    path = text(env, setting)
    if path is None:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{setting}={path!r}: cannot read the token: "
                    f"{getattr(exc, 'strerror', None) or exc}") from None
    if len(token) < MIN_LENGTH or not all(c.isprintable() and not c.isspace() for c in token):
        raise error(f"{setting}={path!r}: the token must be at least {MIN_LENGTH} printable "
                    "characters without spaces")
    return token


def bearer(token: str) -> str:
    return f"Bearer {token}"


def presented(authorization: bytes | None, token: str) -> bool:
    """True when an Authorization header value carries the token (constant time)."""
    return authorization is not None and hmac.compare_digest(
        authorization.strip(), bearer(token).encode())


def authorize(session_headers: MutableMapping[str, Any], token: str | None) -> None:
    """Send the token on every request of a docker-py client (``api.headers``)."""
    if token:
        session_headers["Authorization"] = bearer(token)
