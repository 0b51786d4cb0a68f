"""The pre-forked worker pool: drain across workers, replacement, totals, global limits, reaping."""

from __future__ import annotations

import http.client
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from wdkit import function_processes, proc_table, wait_for, workers

SLOW = "sh -c 'sleep 1.5; echo done'"


def _request(port: int, method: str = "GET", path: str = "/") -> tuple[int, bytes]:
    """One request on its own connection (so that requests spread over the workers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _inflight_at_least(wd, n: int):
    return lambda: wd.metric("fwatchdog_inflight_requests") >= n


def _running_on(wd) -> set[int]:
    """Workers that have a function process running now."""
    return {info[0] for info in function_processes(wd.proc.pid).values()} & set(
        workers(wd.proc.pid))


def test_pool_starts_the_configured_number_of_workers(start_watchdog):
    wd = start_watchdog(fprocess="cat", workers="3")
    assert len(workers(wd.proc.pid)) == 3
    assert wd.metric("fwatchdog_workers_ready") == 3
    assert wd.request("POST", "/", b"hi").body == b"hi"


def test_single_worker_runs_in_one_process(start_watchdog):
    wd = start_watchdog(fprocess="cat", workers="1")
    assert workers(wd.proc.pid) == []
    assert wd.request("POST", "/", b"hi").body == b"hi"


def test_sigterm_drains_requests_in_flight_on_every_worker(start_watchdog):
    wd = start_watchdog(fprocess=SLOW, workers="2")
    with ThreadPoolExecutor(16) as pool:
        futures = []
        # open connections until both workers run a request (the kernel picks the worker)
        while len(futures) < 16 and len(_running_on(wd)) < 2:
            futures.append(pool.submit(_request, wd.port))
            wait_for(_inflight_at_least(wd, len(futures)), 2)
        assert len(_running_on(wd)) == 2, "requests never reached both workers"
        inflight = len(futures)
        assert wd.metric("fwatchdog_inflight_requests") == inflight
        wd.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        for _ in range(4):  # whichever worker the kernel gives the connection: draining
            refused = wd.request("GET", "/")
            assert (refused.status, refused.json()["error"]) == (503, "replica_draining")
        results = [f.result() for f in futures]
    assert results == [(200, b"done\n")] * inflight
    assert wd.proc.wait(10) == 0


def test_a_killed_worker_is_replaced_and_its_function_killed(start_watchdog):
    wd = start_watchdog(fprocess="sh -c 'echo $$ > $TMPDIR/pid; sleep 30'", workers="2",
                        exec_timeout="60s")
    before = workers(wd.proc.pid)
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(_request, wd.port)
        assert wait_for(lambda: (wd.tmp / "pid").exists() and (wd.tmp / "pid").read_text(), 5)
        fn = int((wd.tmp / "pid").read_text())
        victim = proc_table()[fn][0]  # the worker running it
        assert victim in before
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(Exception):  # noqa: B017 - the connection dies with its worker
            stuck.result()
    # replaced: two workers again, the dead one gone (reaped, not a zombie)
    assert wait_for(lambda: len(workers(wd.proc.pid)) == 2 and victim not in proc_table(), 10)
    # its function process came to the supervisor, which killed and reaped it
    assert wait_for(lambda: fn not in proc_table(), 5), proc_table().get(fn)
    assert wait_for(lambda: wd.metric("fwatchdog_workers_ready") == 2, 10)
    assert wd.request("GET", "/_/health").status == 200
    assert wd.metric("fwatchdog_process_kills_total") >= 1
    assert wd.terminate() == 0


def test_metrics_are_totals_over_the_workers(start_watchdog):
    wd = start_watchdog(fprocess="cat", workers="2")
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: _request(wd.port, "POST")[0], range(40)))
    assert statuses == [200] * 40
    # A worker counts a request just after writing its answer: let the last
    # counts land (as in test_fork_mode), then every scrape must agree.
    assert wait_for(lambda: 'fwatchdog_requests_total{status="200"} 40' in _scrape(wd.port)
                    and "fwatchdog_inflight_requests 0" in _scrape(wd.port), 5), \
        _scrape(wd.port)
    # every scrape, whichever worker answers it, sees the same totals
    for _ in range(6):
        text = _scrape(wd.port)
        assert 'fwatchdog_requests_total{status="200"} 40' in text
        assert "fwatchdog_process_starts_total 40" in text
        assert 'fwatchdog_request_duration_seconds_count 40' in text
        assert "fwatchdog_inflight_requests 0" in text


def _scrape(port: int) -> str:
    status, body = _request(port, "GET", "/_/metrics")
    assert status == 200
    return body.decode()


def test_max_inflight_holds_over_the_whole_pool(start_watchdog):
    wd = start_watchdog(fprocess="sleep 1.5", workers="2", max_inflight="1")
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(_request, wd.port)
        assert wait_for(lambda: wd.metric("fwatchdog_inflight_requests") == 1, 5)
        # new connections land on either worker: every one must be refused
        others = [_request(wd.port)[0] for _ in range(8)]
        ready = [_request(wd.port, "GET", "/_/ready")[0] for _ in range(4)]
        assert slow.result()[0] == 200
    assert others == [429] * 8
    assert ready == [429] * 4


def test_no_zombies_with_the_pool(start_watchdog):
    wd = start_watchdog(fprocess="sh -c '(sleep 0.2 &) ; echo ok'", workers="2",
                        exec_timeout="5s")
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: _request(wd.port)[1], range(40)))
    assert bodies == [b"ok\n"] * 40
    assert wait_for(lambda: not function_processes(wd.proc.pid), 5), \
        function_processes(wd.proc.pid)
    # counted just after each waitpid: let the last count land
    assert wait_for(lambda: wd.metric("fwatchdog_orphans_reaped_total") >= 40, 5), \
        wd.metric("fwatchdog_orphans_reaped_total")
