"""Fetching and caching Amazon's signing certificate chains (the IO edge).

The fetch runs in a thread (urllib, short timeout, bounded size, no
redirects) so the event loop never waits on S3. A verified chain is cached
by its canonical URL until the TTL or the leaf's expiry, whichever is first;
concurrent misses for one URL share a single fetch.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.x509.verification import Store

from . import rejection
from .certurl import CANONICAL_PREFIX
from .verify import check_chain, check_validity, parse_chain

Fetch = Callable[[str], Awaitable[bytes]]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None  # a redirect could point anywhere: treat it as a failure


class UrlFetcher:
    """Fetch a canonical chain URL, or the same file from a configured mirror."""

    def __init__(self, timeout: float, max_bytes: int, mirror: str | None = None) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.mirror = mirror
        self._opener = urllib.request.build_opener(_NoRedirect)

    def location(self, url: str) -> str:
        """Where the bytes of a canonical URL are read from."""
        if not url.startswith(CANONICAL_PREFIX):
            raise rejection.cert_url_invalid("only canonical echo.api URLs are fetched")
        if self.mirror is None:
            return url
        return self.mirror + url[len(CANONICAL_PREFIX) :]

    async def __call__(self, url: str) -> bytes:
        return await asyncio.to_thread(self._read, self.location(url))

    def _read(self, where: str) -> bytes:
        try:
            if where.startswith("file:"):
                with Path(unquote(urlsplit(where).path)).open("rb") as f:
                    data = f.read(self.max_bytes + 1)
            else:
                with self._opener.open(where, timeout=self.timeout) as response:
                    data = response.read(self.max_bytes + 1)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise rejection.cert_unavailable(
                f"the certificate chain could not be fetched: {exc}"
            ) from None
        if len(data) > self.max_bytes:
            raise rejection.cert_unavailable(
                f"the certificate chain is over {self.max_bytes} bytes"
            )
        return data


class CertCache:
    """Canonical URL -> verified signing certificate, bounded in size and time."""

    def __init__(
        self,
        fetch: Fetch,
        store: Store | None,
        ttl: float,
        size: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetch = fetch
        self.store = store
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, x509.Certificate]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[x509.Certificate]] = {}
        self.fetches = 0  # how many downloads happened (tests, metrics)

    async def signing_cert(self, url: str, now: datetime) -> x509.Certificate:
        entry = self._entries.get(url)
        if entry is not None and entry[0] > self.clock():
            self._entries.move_to_end(url)
            check_validity(entry[1], now)  # it may have expired since it was cached
            return entry[1]
        pending = self._inflight.get(url)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[x509.Certificate] = asyncio.get_running_loop().create_future()
        self._inflight[url] = future
        try:
            leaf = await self._load(url, now)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        else:
            future.set_result(leaf)
            return leaf
        finally:
            del self._inflight[url]

    async def _load(self, url: str, now: datetime) -> x509.Certificate:
        self.fetches += 1
        pem = await self.fetch(url)
        leaf = check_chain(parse_chain(pem), self.store, now)
        lifetime = min(self.ttl, (leaf.not_valid_after_utc - now).total_seconds())
        if lifetime > 0:
            self._entries[url] = (self.clock() + lifetime, leaf)
            self._entries.move_to_end(url)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return leaf
