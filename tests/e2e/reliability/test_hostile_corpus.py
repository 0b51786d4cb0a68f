"""The hostile-input corpus (corpus.py) against the deployed stack, over TLS.

For every case: the stated status and platform error code, never a 5xx. Around
the whole corpus: a steady load of good requests that must see 0 failures, and
the stack's tasks and logs, which must show no component crashed or restarted.
The slow-client cases wait out nginx's timeouts, so they run in threads from
the start while the other cases go one by one.

Runs in `make test` against the e2e stack and in `make reliability` against
the stack `make up` deployed (tests/e2e/conftest.py, E2E_DEPLOYED=1). The full
form (RELIABILITY_FULL=1) adds the cases that wait out the 30 s body timeout
and sends the corpus RELIABILITY_ROUNDS times (docs/reliability.md).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from ..conftest import Platform
from . import stackwatch
from .clients import Outcome, SteadyLoad, mismatch, send
from .conftest import FULL
from .corpus import CASES, Case

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

SELECTED = [c for c in CASES if FULL or not c.full_only]
SLOW = [c for c in SELECTED if c.slow is not None]
QUICK = [c for c in SELECTED if c.slow is None]
ROUNDS = int(os.environ.get("RELIABILITY_ROUNDS", "3" if FULL else "1"))


@dataclass
class Watch:
    platform: Platform
    cafile: str
    before: list[stackwatch.Task]
    functions: set[str]
    started: float
    load: SteadyLoad
    slow: dict[str, Future[Outcome]]


@pytest.fixture(scope="module")
def watch(platform: Platform) -> Iterator[Watch]:
    assert platform.ca_file, "the stack's development CA is missing (.state/<stack>/certs)"
    with platform.client() as c:  # warm: the first call may wait for a replica
        assert c.post("/function/echo", content=b"warm").status_code == 200
    before = stackwatch.tasks(platform.stack)
    started = time.time()
    pool = ThreadPoolExecutor(max_workers=max(len(SLOW), 1))
    with SteadyLoad(platform.base_url, platform.verify) as load:
        slow = {c.name: pool.submit(send, platform.https_port, platform.ca_file, c, 60.0)
                for c in SLOW}
        yield Watch(platform, platform.ca_file, before, stackwatch.functions(platform.stack),
                    started, load, slow)
    pool.shutdown(wait=True)


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.protocol}-{c.name}") for c in QUICK])
def test_case(watch: Watch, received: list[bytes], case: Case) -> None:
    for _ in range(ROUNDS):
        got = send(watch.platform.https_port, watch.cafile, case)
        received.append(repr(got.headers).encode() + got.body)
        problem = mismatch(case, got)
        assert problem is None, problem


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in SLOW])
def test_slow_client(watch: Watch, received: list[bytes], case: Case) -> None:
    got = watch.slow[case.name].result(timeout=120)
    received.append(repr(got.headers).encode() + got.body)
    problem = mismatch(case, got)
    assert problem is None, problem


def test_no_component_crashed_and_the_steady_load_saw_no_failure(watch: Watch) -> None:
    """Last in this file: the load ran through every case above."""
    for future in watch.slow.values():
        future.result(timeout=120)
    load = watch.load
    load.__exit__()
    assert load.failures == [], load.failures[:10]
    assert load.ok >= 20, f"the steady load made only {load.ok} requests"
    stack = watch.platform.stack
    assert stackwatch.restarts(stack, watch.before, watch.functions) == []
    crashes = {
        service: stackwatch.crash_lines(stackwatch.logs(service, since=watch.started))
        for service in stackwatch.services(stack)
    }
    assert {s: lines for s, lines in crashes.items() if lines} == {}
    p50 = statistics.median(load.latencies) * 1000
    p99 = statistics.quantiles(load.latencies, n=100)[98] * 1000
    print(f"\nsteady load: {load.ok} good requests, 0 failed, p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms; {len(SELECTED)} cases x {ROUNDS} rounds")
