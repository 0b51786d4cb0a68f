"""Discovery's loop with a narrow stand-in for the Engine (the real Engine is
tested in test_swarm.py): the stand-in overrides only the three calls
discovery makes."""

from __future__ import annotations

import asyncio
import threading

import pytest

from faas_sidecar.discovery import Discovery
from faas_sidecar.engine import EngineError
from faas_sidecar.metrics import Metrics

NET, NET_ID = "fnet", "fnet-id"


def svc(name, sid, net_id=NET_ID):
    return {"ID": sid, "CreatedAt": "2026-01-01", "Spec": {
        "Name": name, "Labels": {"swarmfaas.function": "true"},
        "Mode": {"Replicated": {"Replicas": 1}},
        "TaskTemplate": {"ContainerSpec": {"Image": "i"}, "Networks": [{"Target": net_id}]}}}


def tsk(tid, sid, ip, state="running", net_id=NET_ID):
    return {"ID": tid, "ServiceID": sid, "DesiredState": "running", "Status": {"State": state},
            "NetworksAttachments": [{"Network": {"ID": net_id, "Spec": {"Name": NET}},
                                     "Addresses": [f"{ip}/24"]}]}


class StandInEngine:
    def __init__(self):
        self.services, self.tasks = [svc("echo", "s1")], [tsk("t1", "s1", "10.0.0.2")]
        self.fail = False
        self.lists = 0
        self.net_id, self.network_lookups = NET_ID, 0
        self.events_queue: list[dict] = []
        self.stream_open = threading.Event()
        self.closed = threading.Event()

    def network_id(self, network):
        if self.fail:
            raise EngineError("engine away")
        self.network_lookups += 1
        return self.net_id

    def list_functions(self):
        if self.fail:
            raise EngineError("engine away")
        self.lists += 1
        return list(self.services), list(self.tasks)

    def events(self):
        engine = self

        class Stream:
            def __iter__(self):
                engine.stream_open.set()
                while not engine.closed.is_set():
                    if engine.events_queue:
                        yield engine.events_queue.pop(0)
                    else:
                        engine.closed.wait(0.01)
                raise EngineError("stream closed")

            def close(self):
                engine.closed.set()

        return Stream()


@pytest.fixture
async def running():
    engine = StandInEngine()
    discovery = Discovery(lambda: engine, NET, Metrics(), relist_interval=60, debounce=0)
    await discovery.start()
    assert await discovery.wait_ready(5)
    yield engine, discovery
    await discovery.stop()


async def until(predicate, timeout=3.0):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_first_table_after_subscribing(running):
    engine, discovery = running
    assert engine.stream_open.is_set()
    assert [r.address for r in discovery.table.get("echo").replicas] == ["10.0.0.2"]


async def test_an_event_triggers_a_relist_that_publishes_a_new_snapshot(running):
    engine, discovery = running
    before = discovery.table
    changed = discovery.changed()
    engine.tasks.append(tsk("t2", "s1", "10.0.0.3"))
    engine.events_queue.append({"Type": "container", "Action": "start"})
    await until(lambda: len(discovery.table.get("echo").replicas) == 2)
    assert changed.is_set() and discovery.table.generation == before.generation + 1
    assert len(before.get("echo").replicas) == 1  # the old snapshot is untouched


async def test_healthcheck_exec_events_do_not_relist(running):
    engine, _discovery = running
    await asyncio.sleep(0.2)
    lists = engine.lists
    engine.events_queue.extend({"Type": "container", "Action": "exec_start: sh"}
                               for _ in range(20))
    await asyncio.sleep(0.3)
    assert engine.lists == lists


async def test_same_content_keeps_the_generation(running):
    _engine, discovery = running
    generation = discovery.table.generation
    await discovery.relist()
    assert discovery.table.generation == generation


async def test_a_failing_engine_never_empties_the_table(running):
    engine, discovery = running
    table = discovery.table
    engine.fail = True
    assert await discovery.relist() is False
    assert discovery.table is table and discovery.table.get("echo").replicas
    engine.fail = False
    engine.services.append(svc("other", "s2"))
    await until(lambda: "other" in discovery.table.functions)  # retried with backoff


async def test_a_starting_task_is_watched_until_running(running):
    engine, discovery = running
    engine.tasks.append(tsk("t3", "s1", "10.0.0.4", state="starting"))
    engine.events_queue.append({"Type": "container", "Action": "start"})
    await asyncio.sleep(0.1)
    assert len(discovery.table.get("echo").replicas) == 1
    engine.tasks[-1] = tsk("t3", "s1", "10.0.0.4")  # no event: the settle re-lists see it
    await until(lambda: len(discovery.table.get("echo").replicas) == 2, timeout=1)


async def test_relists_reuse_the_network_id_until_a_network_event(running):
    engine, discovery = running
    lookups = engine.network_lookups
    for _ in range(3):
        assert await discovery.relist()
    assert engine.network_lookups == lookups  # one Engine call fewer per re-list
    # The network is re-created: same name, new ID, the task on the new one.
    engine.net_id = "fnet-id-2"
    engine.services = [svc("echo", "s1", net_id="fnet-id-2")]
    engine.tasks = [tsk("t9", "s1", "10.0.9.2", net_id="fnet-id-2")]
    engine.events_queue.append({"Type": "network", "Action": "create"})
    await until(lambda: [r.address for r in discovery.table.get("echo").replicas]
                == ["10.0.9.2"])
    assert engine.network_lookups == lookups + 1


async def test_a_failed_relist_looks_the_network_up_again(running):
    engine, discovery = running
    lookups = engine.network_lookups
    engine.fail = True
    assert await discovery.relist() is False
    engine.fail = False
    assert await discovery.relist()
    assert engine.network_lookups == lookups + 1


async def test_the_relist_pace_is_bounded_by_its_own_cost():
    """Events without end (a large, busy swarm) and a slow listing: re-lists
    leave at least their own cost between them instead of running back to back."""

    class SlowEngine(StandInEngine):
        def list_functions(self):
            threading.Event().wait(0.05)  # a 50 ms listing
            return super().list_functions()

    engine = SlowEngine()
    discovery = Discovery(lambda: engine, NET, Metrics(), relist_interval=60, debounce=0)
    await discovery.start()
    try:
        assert await discovery.wait_ready(5)
        lists = engine.lists
        for _ in range(100):  # an event every 10 ms for a second
            engine.events_queue.append({"Type": "container", "Action": "start"})
            await asyncio.sleep(0.01)
        # Back to back would be ~20 listings of 50 ms in that second; paced, about 10.
        assert 3 <= engine.lists - lists <= 13
    finally:
        await discovery.stop()
