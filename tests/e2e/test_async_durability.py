"""Durability of asynchronous calls on the deployed stack, over HTTPS through
nginx (docs/webhooks.md, "What is tested"):

- 1,000 calls accepted with 202 are all delivered to asyncprobe, each known by
  its call id, while the queue worker, every sidecar task and the broker are
  each killed (SIGKILL of the task's container; Swarm starts a new one) in
  the middle of the run. Duplicates are allowed (at least once) and counted;
  none may be lost.
- The broker's store survives its own restart: the calls stored while no
  worker runs are still there after the broker was killed, and are delivered.
- A function scheduled every minute runs once per tick with two sidecar
  replicas: both store every tick and the broker keeps one.

The module scales the sidecar to two replicas and gives asyncprobe a schedule
and more attempts (a delivery must outlast a sidecar's restart) for its run,
and puts all back at the end. The schedule's ticks pass while the durability
test runs, so the two share their minutes. It kills tasks of the stack under
test: never the stack `make up` deployed (E2E_DEPLOYED=1 skips it, unless
E2E_ALLOW_KILLS=1 says the deployed stack E2E_STACK may be hurt).

ASYNC_DURABILITY_CALLS sets the number of calls (1,000 by default).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from . import tasks
from .conftest import Platform, wait_for
from .test_async import report

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CALLS = int(os.environ.get("ASYNC_DURABILITY_CALLS", "1000"))
SIDECARS = 2
# asyncprobe's attempts for this run: backoff 1, 2, 4, 8, 16, 32 s between 7
# attempts outlasts a sidecar's restart (stack.yml has 3 for the dead-letter test).
ATTEMPTS = "7"
EVERY_MINUTE = "* * * * *"
ACCEPT_DEADLINE = 90.0  # seconds one call may take to be accepted, outages included


LABELLED: list[datetime] = []  # when the fixture gave asyncprobe its schedule


@pytest.fixture(scope="module")
def stack(platform: Platform) -> Iterator[Platform]:
    if os.environ.get("E2E_DEPLOYED") == "1" and os.environ.get("E2E_ALLOW_KILLS") != "1":
        pytest.skip("kills tasks: only on the test's own stack, never on make up's "
                    "(E2E_ALLOW_KILLS=1 to run it on the deployed stack E2E_STACK)")
    probe, sidecar = f"{platform.stack}_asyncprobe", f"{platform.stack}_sidecar"
    before = tasks.service_labels(probe)
    tasks.update_labels(probe, {"swarmfaas.async.attempts": ATTEMPTS,
                                "swarmfaas.schedule": EVERY_MINUTE})
    LABELLED[:] = [datetime.now(UTC)]
    tasks.scale(sidecar, SIDECARS)
    try:
        yield platform
    finally:
        tasks.update_labels(probe, {"swarmfaas.async.attempts": before["swarmfaas.async.attempts"]},
                            remove=("swarmfaas.schedule",))
        tasks.scale(f"{platform.stack}_queue-worker", 1)
        tasks.scale(sidecar, 1)
        # The tests after this one find the stack as deployed: nginx has
        # re-resolved the sidecar's tasks (every 2 s) and a call goes through.
        wait_for(lambda: _echoes(platform), timeout=60, interval=0.5)


def _echoes(platform: Platform) -> bool:
    try:
        with platform.client(timeout=5.0) as c:
            return c.post("/function/echo", content=b"back").status_code == 200
    except httpx.HTTPError:
        return False


class Poster:
    """Posts calls from 8 threads, each with its own keep-alive client, and
    sends a call again (same call id, same body: the broker stores it once)
    until it is accepted, as a webhook sender does."""

    def __init__(self, platform: Platform, run: str) -> None:
        self.platform, self.run = platform, run
        self.local = threading.local()
        self.lock = threading.Lock()
        self.accepted: dict[str, float] = {}  # call id -> time.monotonic() of its 202
        self.refusals: Counter[str] = Counter()  # what the outages answered
        self.pool = ThreadPoolExecutor(8)

    def body(self, i: int) -> bytes:
        return f"{self.run}:{i}:".encode() + bytes(range(256)) * (i % 4)

    def call_id(self, i: int) -> str:
        return f"dur-{self.run}-{i:04d}"

    def post(self, i: int) -> None:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = self.platform.client(timeout=10.0)
        call_id = self.call_id(i)
        deadline = time.monotonic() + ACCEPT_DEADLINE
        while time.monotonic() < deadline:
            try:
                r = client.post(f"/async-function/asyncprobe/d/{call_id}",
                                content=self.body(i), headers={"X-Call-Id": call_id})
                outcome = str(r.status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            if outcome == "202":
                with self.lock:
                    self.accepted[call_id] = time.monotonic()
                return
            with self.lock:
                self.refusals[outcome] += 1
            time.sleep(0.2)
        raise AssertionError(f"{call_id} not accepted within {ACCEPT_DEADLINE} s")

    def start(self, first: int, last: int) -> list:
        return [self.pool.submit(self.post, i) for i in range(first, last)]

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def gap_after(self, moment: float) -> float:
        """Seconds from `moment` to the first 202 after it."""
        with self.lock:
            later = [t for t in self.accepted.values() if t > moment]
        return min(later) - moment if later else float("inf")


def stored_calls(platform: Platform) -> int:
    """Messages in the calls stream, from the broker's own monitor."""
    (broker,) = tasks.containers(f"{platform.stack}_broker")
    raw = tasks.docker("exec", broker, "curl", "-fsS",
                       "http://127.0.0.1:8222/jsz?accounts=true&streams=true")
    for account in json.loads(raw).get("account_details", []):
        for stream in account.get("stream_detail", []):
            if stream["name"] == "SWARMFAAS_CALLS":
                return int(stream["state"]["messages"])
    raise AssertionError("no SWARMFAAS_CALLS stream in the broker's /jsz")


def until(poster: Poster, accepted: int) -> None:
    wait_for(lambda: poster.count() >= accepted, timeout=ACCEPT_DEADLINE * 2, interval=0.05)


def test_accepted_calls_survive_kills_of_the_worker_the_sidecars_and_the_broker(
        stack: Platform) -> None:
    name = stack.stack
    run = uuid.uuid4().hex[:8]
    poster = Poster(stack, run)
    recovered: dict[str, float] = {}
    third = CALLS // 3

    # 1. The worker, mid-delivery: its unacknowledged calls go to the new one.
    futures = poster.start(0, third)
    until(poster, third // 2)
    gone, killed = tasks.kill(f"{name}_queue-worker")
    recovered["queue-worker"] = tasks.wait_replaced(f"{name}_queue-worker", gone, 1) - killed

    # 2. Every sidecar task: no 202 and no delivery until one is back.
    futures += poster.start(third, 2 * third)
    until(poster, third + third // 2)
    gone, killed = tasks.kill(f"{name}_sidecar")
    recovered["sidecar"] = tasks.wait_replaced(f"{name}_sidecar", gone, SIDECARS) - killed
    until(poster, 2 * third)
    recovered["sidecar, first 202"] = poster.gap_after(killed)

    # 3. The broker, with calls stored and none being delivered: no worker runs.
    tasks.scale(f"{name}_queue-worker", 0)
    futures += poster.start(2 * third, CALLS)
    until(poster, 2 * third + third // 2)
    at_kill = set(poster.accepted)
    stored = stored_calls(stack)
    gone, killed = tasks.kill(f"{name}_broker")
    recovered["broker"] = tasks.wait_replaced(f"{name}_broker", gone, 1) - killed
    for future in futures:
        future.result()  # every call accepted, or the assertion of post()
    recovered["broker, first 202"] = poster.gap_after(killed)
    assert stored_calls(stack) >= stored, "the broker lost stored calls in its restart"
    tasks.scale(f"{name}_queue-worker", 1)

    ids = {poster.call_id(i) for i in range(CALLS)}
    assert set(poster.accepted) == ids

    def delivered() -> list[dict]:
        return [r for r in report(stack) if r["call_id"] in ids]

    records = wait_for(lambda: (got := delivered()) and {r["call_id"] for r in got} == ids
                       and got, timeout=180, interval=2.0)
    per_call = Counter(r["call_id"] for r in records)
    duplicates = sum(n - 1 for n in per_call.values())
    lost = ids - set(per_call)
    print(f"\n{CALLS} calls accepted, {len(lost)} lost, {duplicates} duplicate deliveries "
          f"({sum(1 for n in per_call.values() if n > 1)} calls); refused while down: "
          f"{dict(poster.refusals)}; recovery (s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in recovered.items()))
    assert not lost
    assert at_kill <= set(per_call)  # stored before the broker's kill, delivered after
    for record in records:  # each delivered as stored
        i = int(record["call_id"].rsplit("-", 1)[1])
        assert record["path"] == f"/d/{record['call_id']}"
        assert record["size"] == len(poster.body(i))
    poster.pool.shutdown()


def test_a_schedule_every_minute_runs_once_per_tick_with_two_sidecars(stack: Platform) -> None:
    tasks.scale(f"{stack.stack}_queue-worker", 1)  # as the stack has it, whatever came before

    def ticks() -> list[dict]:
        # This run's: a sidecar that starts looks back one catch-up (60 s), so
        # the first may be the minute before the label was set.
        since = LABELLED[0] - timedelta(seconds=60)
        return [r for r in report(stack) if r["tick"] and datetime.fromisoformat(r["tick"]) > since]

    # Three ticks: the first stored, then two more minutes and time to deliver them.
    first = min(datetime.fromisoformat(r["tick"])
                for r in wait_for(ticks, timeout=150, interval=2.0))
    wait_for(lambda: datetime.now(UTC) >= first + timedelta(minutes=2, seconds=10),
             timeout=200, interval=1.0)
    by_tick: dict[str, list[dict]] = {}
    for r in ticks():
        by_tick.setdefault(r["tick"], []).append(r)
    expected = [(first + timedelta(minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ") for k in range(3)]
    assert set(expected) <= set(by_tick), sorted(by_tick)
    for tick in expected:
        runs = by_tick[tick]
        assert len({r["call_id"] for r in runs}) == 1  # one call per tick
        # A second stored copy would be delivered as attempt 1 again; a
        # redelivery (a worker killed mid-call) is attempt 2 or later.
        attempts = Counter(r["attempt"] for r in runs)
        assert max(attempts.values()) == 1, (tick, runs)
    # Both sidecar replicas stored the ticks (the broker dropped the copies).
    replicas = tasks.containers(f"{stack.stack}_sidecar")
    assert len(replicas) == SIDECARS
    for container in replicas:
        metrics = tasks.docker("exec", container, "python3", "-c",
                               "import urllib.request as u;"
                               "print(u.urlopen('http://127.0.0.1:8080/metrics').read().decode())")
        stored = [line for line in metrics.splitlines()
                  if line.startswith("swarmfaas_schedule_ticks_total")
                  and 'outcome="stored"' in line and "asyncprobe" in line]
        assert stored and float(stored[0].split()[-1]) >= 1, metrics[-2000:]
