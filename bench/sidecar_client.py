"""Which HTTP client for the proxy hop: the measurement behind the choice.

Same tiny upstream (tests/sidecar/images/hopfn/tiny.py, a separate process on
127.0.0.1), same uvloop event loop the sidecar runs, keep-alive on, reading
the whole 2-byte body. Rounds of each client are interleaved. Measures the
per-request cost at 1 request in flight (p50/p99 latency) and the throughput
with 32 in flight from one process (the sidecar's situation).

Clients: the sidecar's own (faas_sidecar.upstream: asyncio protocol +
httptools), httpx.AsyncClient, and aiohttp.ClientSession when installed.

    .venv/bin/python bench/sidecar_client.py [--rounds 5] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sidecar"))

from report import write_result  # noqa: E402

from faas_sidecar.upstream import Pool  # noqa: E402
from faas_sidecar.wire import request_head  # noqa: E402

PORT = 18250
URL = f"http://127.0.0.1:{PORT}/"


class Ours:
    name = "swarmfaas upstream (httptools)"

    def __init__(self) -> None:
        self.pool = Pool(connect_timeout=2)
        self.head = request_head("GET", "/", [("Host", f"127.0.0.1:{PORT}"),
                                             ("Content-Length", "0")])

    async def get(self) -> bytes:
        conn = await self.pool.acquire(("127.0.0.1", PORT))
        await conn.send_request(self.head, b"", chunked=False)
        await conn.read_head()
        body = conn.take_complete_body()
        if body is None:
            body = b"".join([c async for c in conn.iter_body()])
        self.pool.release(conn)
        return body

    async def close(self) -> None:
        self.pool.close()


class Httpx:
    name = "httpx.AsyncClient"

    def __init__(self) -> None:
        self.client = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=64))

    async def get(self) -> bytes:
        return (await self.client.get(URL)).content

    async def close(self) -> None:
        await self.client.aclose()


class Aiohttp:
    name = "aiohttp.ClientSession"

    def __init__(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))

    async def get(self) -> bytes:
        async with self.session.get(URL) as response:
            return await response.read()

    async def close(self) -> None:
        await self.session.close()


async def sequential(client, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        assert await client.get() == b"ok"
        times.append(time.perf_counter() - t0)
    return times


async def concurrent(client, n: int, width: int = 32) -> float:
    per = n // width

    async def worker():
        for _ in range(per):
            assert await client.get() == b"ok"

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return per * width / (time.perf_counter() - t0)


async def run(rounds: int, requests: int) -> dict:
    kinds = [Ours, Httpx]
    try:
        import aiohttp  # noqa: F401

        kinds.append(Aiohttp)
    except ImportError:
        print("aiohttp not installed: skipped")
    results = {k.name: {"p50_us": [], "p99_us": [], "rps32": []} for k in kinds}
    for index in range(rounds):
        order = kinds if index % 2 == 0 else list(reversed(kinds))
        for kind in order:
            client = kind()
            await sequential(client, 200)  # warm the pool
            times = sorted(await sequential(client, requests))
            rps = await concurrent(client, requests * 2)
            await client.close()
            r = results[kind.name]
            r["p50_us"].append(times[len(times) // 2] * 1e6)
            r["p99_us"].append(times[int(len(times) * 0.99)] * 1e6)
            r["rps32"].append(rps)
            print(f"round {index + 1} {kind.name:32s} p50 {r['p50_us'][-1]:6.0f} us  "
                  f"p99 {r['p99_us'][-1]:6.0f} us  32 in flight {rps:7.0f} req/s", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    upstream = subprocess.Popen([sys.executable, str(ROOT / "tests/sidecar/images/hopfn/tiny.py"),
                                 "--port", str(PORT)])
    try:
        time.sleep(0.5)
        results = uvloop.run(run(args.rounds, args.requests))
    finally:
        upstream.kill()
    base = statistics.median(results[Ours.name]["rps32"])
    print(f"\nmedians of {args.rounds} rounds (uvloop, one process, tiny upstream on 127.0.0.1):")
    summary = {}
    for name, r in results.items():
        s = {k: statistics.median(v) for k, v in r.items()}
        s["rps32_vs_ours"] = s["rps32"] / base
        summary[name] = s
        print(f"  {name:32s} p50 {s['p50_us']:6.0f} us  p99 {s['p99_us']:6.0f} us  "
              f"32 in flight {s['rps32']:7.0f} req/s ({s['rps32_vs_ours']:.2f}x ours)")
    ours, httpx_rps = results[Ours.name]["rps32"], results["httpx.AsyncClient"]["rps32"]
    ratios = [a / b for a, b in zip(ours, httpx_rps, strict=True)]
    write_result(
        "sidecar_client",
        subject="the sidecar's upstream client (asyncio protocol + httptools), 32 in flight,"
                " uvloop, one process",
        baseline="httpx.AsyncClient on the same tiny upstream (aiohttp too when installed)",
        metric="req/s at 32 in flight, ratio of medians",
        ratio=summary[Ours.name]["rps32"] / summary["httpx.AsyncClient"]["rps32"],
        round_ratios=ratios,
        summary="; ".join(f"{name}: {s['rps32']:,.0f} req/s, p50 {s['p50_us']:.0f} us"
                          for name, s in summary.items()),
        figures={"results": results, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
