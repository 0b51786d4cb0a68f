"""The chain fetcher (real files, a real local HTTP server) and the verified-cert cache."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import alexa_signing
import pytest

from faas_sidecar.alexa.certs import CertCache, UrlFetcher
from faas_sidecar.alexa.rejection import Rejected
from faas_sidecar.alexa.verify import load_trust_store

URL = alexa_signing.CERT_URL


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:
        if self.path == "/slow/echo-api-cert.pem":
            time.sleep(1.5)
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", "/echo.api/echo-api-cert.pem")
            self.end_headers()
            return
        body = self.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_mirror(pki, signer) -> Iterator[str]:  # type: ignore[no-untyped-def]
    Handler.files = {
        "echo-api-cert.pem": pki.chain_pem(signer[0]),
        "huge.pem": b"x" * 200_000,
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_file_mirror(mirror_dir: Path, pki, signer) -> None:  # type: ignore[no-untyped-def]
    fetch = UrlFetcher(1.0, 65536, mirror_dir.as_uri() + "/")
    assert await fetch(URL) == pki.chain_pem(signer[0])


def test_mirror_location_keeps_the_path() -> None:
    fetch = UrlFetcher(1.0, 65536, "http://127.0.0.1:1/mirror/")
    base = "https://s3.amazonaws.com/echo.api/"
    assert fetch.location(base + "a/b.pem") == "http://127.0.0.1:1/mirror/a/b.pem"
    assert UrlFetcher(1.0, 65536).location(base + "b.pem") == base + "b.pem"
    with pytest.raises(Rejected):
        fetch.location("https://evil.test/echo.api/b.pem")


async def test_http_mirror(http_mirror: str, pki, signer) -> None:  # type: ignore[no-untyped-def]
    fetch = UrlFetcher(1.0, 65536, http_mirror + "echo.api/")
    assert await fetch(URL) == pki.chain_pem(signer[0])


@pytest.mark.parametrize(
    ("mirror_path", "file", "reason"),
    [
        ("echo.api/", "missing.pem", "404"),
        ("echo.api/", "huge.pem", "over 65536 bytes"),
        ("redirect/", "echo-api-cert.pem", "302"),  # redirects are never followed
        ("slow/", "echo-api-cert.pem", "timed out"),
    ],
)
async def test_http_fetch_failures(
    http_mirror: str, mirror_path: str, file: str, reason: str
) -> None:
    fetch = UrlFetcher(0.5, 65536, http_mirror + mirror_path)
    started = time.monotonic()
    with pytest.raises(Rejected) as caught:
        await fetch("https://s3.amazonaws.com/echo.api/" + file)
    assert caught.value.code == "alexa_cert_unavailable"
    assert reason in caught.value.reason
    assert time.monotonic() - started < 1.4  # the short timeout holds


async def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(Rejected, match="could not be fetched"):
        await UrlFetcher(1.0, 65536, tmp_path.as_uri() + "/")(URL)


async def test_fetch_runs_off_the_event_loop(http_mirror: str) -> None:
    fetch = UrlFetcher(2.0, 65536, http_mirror + "slow/")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    await fetch(URL)
    task.cancel()
    assert ticks >= 10  # the loop kept running during the 1.5 s download


class Counting:
    def __init__(self, pem: bytes, delay: float = 0.0) -> None:
        self.pem, self.delay, self.calls = pem, delay, 0

    async def __call__(self, url: str) -> bytes:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.pem


def _store(pki):  # type: ignore[no-untyped-def]
    return load_trust_store(pki.root_pem())[0]


NOW = dt.datetime.now(dt.UTC)


async def test_cache_hits_expire_and_are_bounded(pki, signer) -> None:  # type: ignore[no-untyped-def]
    clock = [0.0]
    fetch = Counting(pki.chain_pem(signer[0]))
    cache = CertCache(fetch, _store(pki), ttl=60, size=2, clock=lambda: clock[0])
    assert await cache.signing_cert(URL, NOW) == signer[0]
    await cache.signing_cert(URL, NOW)
    assert fetch.calls == 1
    clock[0] = 61  # past the TTL
    await cache.signing_cert(URL, NOW)
    assert fetch.calls == 2
    for i in range(3):  # three other URLs push the first out of a cache of two
        await cache.signing_cert(URL + str(i), NOW)
    await cache.signing_cert(URL, NOW)
    assert fetch.calls == 6


async def test_concurrent_misses_share_one_fetch(pki, signer) -> None:  # type: ignore[no-untyped-def]
    fetch = Counting(pki.chain_pem(signer[0]), delay=0.1)
    cache = CertCache(fetch, _store(pki), ttl=60, size=4)
    leaves = await asyncio.gather(*(cache.signing_cert(URL, NOW) for _ in range(10)))
    assert fetch.calls == 1 and all(leaf == signer[0] for leaf in leaves)


async def test_failures_are_not_cached(pki) -> None:  # type: ignore[no-untyped-def]
    stranger = alexa_signing.TestPKI(name="stranger")
    fetch = Counting(stranger.chain_pem(stranger.issue()[0]))
    cache = CertCache(fetch, _store(pki), ttl=60, size=4)
    for _ in range(2):
        with pytest.raises(Rejected, match="trusted root"):
            await cache.signing_cert(URL, NOW)
    assert fetch.calls == 2


async def test_a_cached_cert_that_expires_is_rejected(pki) -> None:  # type: ignore[no-untyped-def]
    leaf, _ = pki.issue(not_after=NOW + dt.timedelta(seconds=30))
    fetch = Counting(pki.chain_pem(leaf))
    cache = CertCache(fetch, _store(pki), ttl=3600, size=4, clock=lambda: 0.0)
    await cache.signing_cert(URL, NOW)
    with pytest.raises(Rejected) as caught:
        await cache.signing_cert(URL, NOW + dt.timedelta(seconds=60))
    assert caught.value.code in ("alexa_cert_expired",)
