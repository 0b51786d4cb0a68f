"""A function with a replica on each worker, under steady load through nginx
on a manager, while a worker leaves: drained (no request may fail), then
killed outright (only requests in flight on that node may fail, and Docker
reschedules its task). The drain runs first: the kill leaves the node down
until the test starts it again."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest
from cluster_swarm import Cluster, routable_everywhere, running_nodes, wait_for
from load import Load

pytestmark = pytest.mark.cluster

THREADS = 8  # requests in flight at any moment: the most that can be on one node


def _one_per_worker(cluster: Cluster, function_service, name: str) -> str:
    service = function_service(name, 2, "node.role==worker")
    workers = sorted(n.hostname for n in cluster.workers)
    wait_for("a task on each worker", lambda: running_nodes(cluster, service) == workers, 120)
    wait_for("routable through every manager", routable_everywhere(cluster, service), 60)
    return service


def _load(cluster: Cluster, service: str) -> Load:
    client = cluster.client(cluster.managers[0], timeout=30,
                            limits=httpx.Limits(max_connections=THREADS))
    return Load(client, f"/function/{service}", threads=THREADS)


def test_draining_a_worker_fails_no_request(cluster, function_service):
    service = _one_per_worker(cluster, function_service, "drain")
    w1 = cluster.workers[0]
    try:
        with _load(cluster, service) as load:
            time.sleep(2)
            before = sum(load.counts().values())
            cluster.docker("node", "update", "--availability", "drain", w1.hostname)
            moved = wait_for("both tasks off the drained worker",
                             lambda: running_nodes(cluster, service)
                             == [cluster.workers[1].hostname] * 2, 120)
            time.sleep(3)  # the old task's drain ends; load goes on
        counts = load.counts()
        print(f"\ndrain of {w1.hostname}: {sum(counts.values())} requests "
              f"({before} before the drain), {dict(counts)}; tasks moved in {moved:.1f} s")
        assert counts["ok"] > before > 0
        assert load.failed() == [], load.failed()[:5]
    finally:
        cluster.docker("node", "update", "--availability", "active", w1.hostname)


def test_a_killed_worker_fails_only_what_was_in_flight_there(cluster, function_service):
    service = _one_per_worker(cluster, function_service, "kill")
    w1, w2 = cluster.workers
    since = str(int(time.time()))
    try:
        with _load(cluster, service) as load:
            time.sleep(2)
            before = sum(load.counts().values())
            killed_at = time.monotonic()
            cluster.script("kill", w1.name)
            wait_for(f"{w1.hostname} seen down", lambda: _status(cluster, w1) == "Down", 90)
            down = time.monotonic() - killed_at  # the kill itself can take seconds
            moved = wait_for("the task rescheduled on the other worker",
                             lambda: running_nodes(cluster, service) == [w2.hostname] * 2, 120)
            time.sleep(3)
            ended = time.monotonic()
        outcomes = load.timeline
        after = [o for o in outcomes if o.start >= killed_at]
        failed = load.failed()
        # Failed: requests the sidecar had sent to the killed node (in flight when it
        # died, or sent there on a kept-alive connection before it left the table).
        failed_after = [o for o in failed if o.start >= killed_at]
        # Retried: requests the sidecars never got onto the killed node (the connect
        # failed) and sent to the other replica instead; they succeeded.
        lines = _sidecar_log(cluster, since)
        retried = sum(f"retrying {service} after" in line for line in lines)
        # The circuit breaker (docs/sidecar.md): the sidecars that took the
        # killed node's replica out before Docker reported the node down.
        opened = sum(f"of {service} out of rotation" in line for line in lines)
        print(f"\nkill of {w1.hostname}: {len(outcomes)} requests, {before} before the kill; "
              f"{len(after)} started after it, of which {len(failed_after)} failed; "
              f"{len(failed)} failed in all: {sorted({o.result for o in failed})}, started "
              f"{', '.join(f'{o.start - killed_at:+.1f}' for o in failed[:12])} s from the kill; "
              f"{retried} retried on the other replica after a failed connect; "
              f"{opened} sidecars took its replica out of rotation; "
              f"node down after {down:.1f} s, task running again after {moved:.1f} s more, "
              f"load ran {ended - killed_at:.1f} s after the kill")
        assert len(after) > len(failed) and before > 0
        # At most THREADS requests are in flight at once, so at most that many can
        # have been on the killed node; every other request must succeed.
        assert len(failed) <= THREADS, [f"{o.result}: {o.detail}" for o in failed[:5]]
        assert all(o.start < killed_at + down for o in failed), "a failure after the node was down"
    finally:
        cluster.script("up")  # the node again, with its state: it rejoins
        wait_for(f"{w1.hostname} ready", lambda: _status(cluster, w1) == "Ready", 90)


def _status(cluster: Cluster, node) -> str:
    return cluster.docker("node", "inspect", node.hostname, "--format", "{{.Status.State}}",
                          check=False).strip().capitalize()


def _sidecar_log(cluster: Cluster, since: str) -> list[str]:
    """The sidecars' log lines since ``since``."""
    node = cluster.managers[0]
    logs = subprocess.run(  # the sidecar logs to stderr, which Docker keeps apart
        ["docker", "-H", f"unix://{node.socket}", "service", "logs", "--raw", "--since", since,
         f"{cluster.stack}_sidecar"], capture_output=True, text=True, timeout=60)
    return (logs.stdout + logs.stderr).splitlines()
