"""The sidecar's webhook check on a call: the function's secrets read from
the sidecar's Docker secrets, the signature checked on the raw body, and
deliveries seen again answered without a second call.

``Proxy.call`` asks ``check`` before forwarding a request to a function with
``swarmfaas.webhook.*`` labels; a refusal never reaches the function.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import webhook_secret_unavailable, webhook_signature_invalid
from .signatures import verify

if TYPE_CHECKING:
    from ..metrics import Metrics
    from ..model import FunctionSpec

log = logging.getLogger("faas_sidecar.webhooks")

REPLAY_WINDOW = 24 * 3600.0  # seconds a delivery id is remembered
REPLAY_CAPACITY = 100_000  # ids remembered at most, oldest forgotten first


class ReplayWindow:
    """The delivery ids answered within the last ``window`` seconds (bounded)."""

    def __init__(self, window: float = REPLAY_WINDOW, capacity: int = REPLAY_CAPACITY) -> None:
        self._window = window
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def seen(self, key: tuple[str, str], now: float) -> bool:
        self._expire(now)
        return key in self._seen

    def remember(self, key: tuple[str, str], now: float) -> None:
        self._seen[key] = now
        self._seen.move_to_end(key)
        self._expire(now)

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen and (len(seen) > self._capacity
                        or next(iter(seen.values())) < now - self._window):
            seen.popitem(last=False)


class WebhookGuard:
    def __init__(self, secrets_dir: Path, metrics: Metrics | None = None, *,
                 clock: Callable[[], float] = time.time,
                 replays: ReplayWindow | None = None) -> None:
        self._dir = secrets_dir
        self._metrics = metrics
        self._clock = clock
        self._replays = replays or ReplayWindow()

    def check(self, spec: FunctionSpec, headers: Iterable[tuple[str, str]],
              body: bytes) -> str | None:
        """The sender's delivery id (None when it sends none) of a request
        whose signature holds; PlatformError 401 when it does not, 500 when
        the function's secrets cannot be read."""
        assert spec.webhook is not None
        secrets = self._secrets(spec)
        lowered = {name.lower(): value for name, value in headers}
        verdict = verify(spec.webhook.scheme, secrets, lowered, body, self._clock())
        if not verdict.ok:
            if self._metrics is not None:
                self._metrics.webhook_rejections.labels(spec.name, verdict.cause).inc()
            raise webhook_signature_invalid(spec.name, verdict.reason)
        return verdict.delivery_id

    def replayed(self, spec: FunctionSpec, delivery_id: str) -> bool:
        """Whether this delivery was answered already (within the window)."""
        if self._replays.seen((spec.name, delivery_id), self._clock()):
            if self._metrics is not None:
                self._metrics.webhook_replays.labels(spec.name).inc()
            return True
        return False

    def answered(self, spec: FunctionSpec, delivery_id: str) -> None:
        """The function took this delivery (an answer below 500): a
        redelivery is answered without calling it again."""
        self._replays.remember((spec.name, delivery_id), self._clock())

    def _secrets(self, spec: FunctionSpec) -> list[bytes]:
        assert spec.webhook is not None
        found = []
        for name in spec.webhook.secrets:
            try:
                value = (self._dir / name).read_bytes().strip()
            except OSError as exc:
                log.warning("function %r: webhook secret %r is not readable (%s); grant it "
                            "to the sidecar service", spec.name, name, exc.strerror)
                continue
            if value:
                found.append(value)
        if not found:
            raise webhook_secret_unavailable(spec.name)
        return found
