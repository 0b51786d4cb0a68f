"""The scaler's round with a narrow fake Engine (list, set) and fake sidecars:
what it sets, what it leaves alone, what it logs and counts."""

from __future__ import annotations

import asyncio
import copy
import itertools
import socket

import pytest

from faas_sidecar.engineclient import EngineError
from faas_sidecar.scaler.config import ScalerConfig
from faas_sidecar.scaler.labels import ScaleSpec
from faas_sidecar.scaler.measure import Reading
from faas_sidecar.scaler.metrics import ScalerMetrics
from faas_sidecar.scaler.policy import PolicyConfig
from faas_sidecar.scaler.service import (
    WAKE_GAP,
    Scaler,
    function_views,
    listen_for_wakes,
    round_delay,
)

NET_ID = "n3tw0rk"


def service(name, replicas=1, labels=None, sid=None, network=NET_ID, mode=None):
    return {"ID": sid or f"id-{name}", "Version": {"Index": 10},
            "Spec": {"Name": name,
                     "Labels": {"swarmfaas.function": "true", **(labels or {})},
                     "TaskTemplate": {"ContainerSpec": {"Image": "swarmfaas/x:1"},
                                      "Networks": [{"Target": network}]},
                     "Mode": mode or {"Replicated": {"Replicas": replicas}}}}


def task(sid, state="running"):
    return {"ServiceID": sid, "DesiredState": "running", "Status": {"State": state}}


def test_function_views():
    services = [service("echo", 2, {"swarmfaas.scale.max": "5"}),
                service("bad", 1, {"swarmfaas.scale.min": "zero"}),
                service("elsewhere", 1, network="other"),
                service("everywhere", mode={"Global": {}})]
    tasks = [task("id-echo"), task("id-echo", "starting"), task("id-bad")]
    views, invalid = function_views(services, tasks, frozenset({"functions", NET_ID}))
    assert [(v.name, v.replicas, v.ready, v.scale) for v in views] == [
        ("echo", 2, 1, ScaleSpec(max=5))]
    assert list(invalid) == ["bad"] and "swarmfaas.scale.min" in invalid["bad"]


class FakeEngine:
    """The three calls the scaler makes; set_replicas changes what list returns."""

    def __init__(self, *services):
        self.services = {s["Spec"]["Name"]: s for s in services}
        self.writes: list[tuple[str, int]] = []
        self.fail_writes = False

    def network_id(self, name):
        return NET_ID

    def list_functions(self):
        return [copy.deepcopy(s) for s in self.services.values()], []

    def set_replicas(self, svc, replicas):
        if self.fail_writes:
            raise RuntimeError("gate said no")
        name = svc["Spec"]["Name"]
        self.writes.append((name, replicas))
        self.services[name]["Spec"]["Mode"]["Replicated"]["Replicas"] = replicas

    def by_hand(self, name, replicas):
        self.services[name]["Spec"]["Mode"]["Replicated"]["Replicas"] = replicas


class World:
    def __init__(self, engine, down_window=5.0, human_hold=10.0):
        self.t = 0.0
        self.load = {"echo": Reading()}
        self.sidecars = ["10.0.0.5", "10.0.0.6"]
        self.down = set()
        config = ScalerConfig(functions_network="functions",
                              sidecars=(("tasks.sidecar", 8080),),
                              policy=PolicyConfig(down_window=down_window,
                                                  human_hold=human_hold))
        self.metrics = ScalerMetrics()
        self.scaler = Scaler(config, engine, self.metrics, scrape=self.scrape,
                             resolve=self.resolve, clock=lambda: self.t)

    async def resolve(self, host, port):
        return list(self.sidecars)

    async def scrape(self, address, port):
        if address in self.down:
            raise OSError("connection refused")
        # each sidecar carries half the load
        return {n: Reading(r.inflight / 2, r.queued / 2, r.started / 2)
                for n, r in self.load.items()}

    async def rounds(self, n, step=1.0):
        for _ in range(n):
            await self.scaler.round()
            self.t += step

    def decisions(self, reason):
        return self.metrics.registry.get_sample_value(
            "swarmfaas_scaler_decisions_total", {"function_name": "echo", "reason": reason})


@pytest.fixture
def engine():
    return FakeEngine(service("echo", 1, {"swarmfaas.scale.max": "6",
                                          "swarmfaas.scale.target": "4"}))


async def test_up_at_once_down_after_the_window(engine):
    world = World(engine)
    await world.rounds(3)
    assert engine.writes == []
    world.load["echo"] = Reading(inflight=18)
    await world.rounds(1)
    assert engine.writes == [("echo", 5)]  # one round after the signal
    assert world.decisions("scale_up") == 1
    world.load["echo"] = Reading(inflight=0)
    await world.rounds(4)
    assert engine.writes == [("echo", 5)]  # within the window: stays
    await world.rounds(3)
    assert engine.writes == [("echo", 5), ("echo", 1)]
    assert world.decisions("scale_down") == 1
    reg = world.metrics.registry
    assert reg.get_sample_value("gateway_service_count", {"function_name": "echo"}) == 1
    assert reg.get_sample_value("swarmfaas_scaler_sidecars", {"state": "answered"}) == 2


async def test_a_hand_change_is_held(engine):
    world = World(engine)
    await world.rounds(2)
    engine.by_hand("echo", 4)
    await world.rounds(9)  # idle, at 4, well past the down window: held
    assert engine.writes == []
    await world.rounds(2)
    assert engine.writes == [("echo", 1)]


async def test_above_max_by_hand_is_lowered_after_the_hold(engine):
    world = World(engine, human_hold=3.0)
    await world.rounds(1)
    engine.by_hand("echo", 9)
    await world.rounds(3)
    assert engine.writes == []
    await world.rounds(1)
    assert engine.writes == [("echo", 6)]
    assert world.decisions("above_max") == 1


async def test_its_own_writes_are_not_taken_for_a_human(engine):
    world = World(engine, human_hold=1000.0)
    await world.rounds(1)
    world.load["echo"] = Reading(inflight=10)
    await world.rounds(1)
    world.load["echo"] = Reading(inflight=22)
    await world.rounds(1)
    assert engine.writes == [("echo", 3), ("echo", 6)]


async def test_a_silent_sidecar_never_lowers(engine):
    world = World(engine, down_window=2.0)
    world.load["echo"] = Reading(inflight=16)
    await world.rounds(2)
    assert engine.writes == [("echo", 4)]
    world.load["echo"] = Reading()
    world.down = {"10.0.0.6"}
    await world.rounds(6)
    assert engine.writes == [("echo", 4)]
    assert world.metrics.registry.get_sample_value(
        "swarmfaas_scaler_sidecars", {"state": "failed"}) == 1
    world.down = set()
    await world.rounds(4)
    assert engine.writes[-1] == ("echo", 1)


async def test_a_failed_write_is_counted_and_tried_again(engine):
    world = World(engine)
    world.load["echo"] = Reading(inflight=9)
    engine.fail_writes = True
    await world.rounds(2)
    assert engine.writes == []
    assert world.metrics.registry.get_sample_value(
        "swarmfaas_scaler_failures_total", {"action": "scale"}) == 2
    engine.fail_writes = False
    await world.rounds(1)
    assert engine.writes == [("echo", 3)]


async def test_a_function_that_leaves_is_forgotten(engine):
    world = World(engine)
    await world.rounds(1)
    del engine.services["echo"]
    await world.rounds(1)
    assert world.metrics.registry.get_sample_value(
        "gateway_service_count", {"function_name": "echo"}) is None


class RemovedMidRound(FakeEngine):
    """``gone`` is removed while its decision is in flight: after the round's
    listing, before its write, which the gate then answers 404 not_found."""

    def __init__(self, *services, gone):
        super().__init__(*services)
        self.gone = gone
        self.tried: list[str] = []

    def set_replicas(self, svc, replicas):
        name = svc["Spec"]["Name"]
        self.tried.append(name)
        if name == self.gone:
            self.services.pop(name, None)
            raise EngineError(f"scaling {svc['ID']}: 404 service {svc['ID']} not found",
                              action=f"scaling {svc['ID']}", status=404)
        super().set_replicas(svc, replicas)


@pytest.mark.parametrize("gone", ["echo", "other"])
async def test_a_function_removed_while_its_decision_is_in_flight(gone, caplog):
    labels = {"swarmfaas.scale.max": "6", "swarmfaas.scale.target": "4"}
    engine = RemovedMidRound(service("echo", 1, labels), service("other", 1, labels),
                             gone=gone)
    world = World(engine)
    world.load = {"echo": Reading(inflight=9), "other": Reading(inflight=9)}
    with caplog.at_level("INFO", logger="faas_sidecar.scaler"):
        await world.rounds(2)
    kept = {"echo", "other"} - {gone}
    assert engine.tried == ["echo", "other"]  # the other decision went on
    assert engine.writes == [(name, 3) for name in sorted(kept)]
    assert f"{gone}: went away before 1 -> 3 replicas (scale_up) was written" in caplog.text
    reg = world.metrics.registry
    assert reg.get_sample_value("swarmfaas_scaler_failures_total", {"action": "scale"}) in (
        None, 0.0)  # not a failure: nothing left to scale
    assert reg.get_sample_value("gateway_service_count", {"function_name": gone}) is None
    assert reg.get_sample_value("swarmfaas_scaler_decisions_total",
                                {"function_name": gone, "reason": "scale_up"}) is None


async def test_a_function_recreated_under_its_name_starts_afresh(engine):
    world = World(engine, human_hold=1000.0)
    await world.rounds(2)
    # removed and deployed again with 3 replicas: a new service, not a hand change
    engine.services["echo"] = service("echo", 3, {"swarmfaas.scale.max": "6"}, sid="id-new")
    world.load["echo"] = Reading(inflight=20)
    await world.rounds(1)
    assert engine.writes == [("echo", 5)]


@pytest.mark.parametrize(("elapsed", "interval", "woken", "delay"), [
    (0.2, 1.0, False, 0.8),    # the rest of the interval
    (1.5, 1.0, False, 0.05),   # a long round: a short pause all the same
    (0.1, 1.0, True, 0.15),    # nudged: the rest of WAKE_GAP (0.25 s) after the last start
    (0.6, 1.0, True, 0.0),     # nudged past the gap: at once
    (0.05, 0.1, True, 0.05),   # an interval below the gap: never later than the interval
])
def test_round_delay(elapsed, interval, woken, delay):
    assert round_delay(elapsed, interval, woken) == pytest.approx(delay)


async def test_a_nudge_on_the_wake_port_starts_a_round_at_once(engine):
    """A real datagram on a real port: the next round comes long before a 30 s
    interval would bring it; a burst of nudges does not make a round each: rounds
    stay WAKE_GAP apart."""
    metrics = ScalerMetrics()
    rounds = []

    class Counting(Scaler):
        async def round(self):
            rounds.append(self._clock())
            await super().round()

    config = ScalerConfig(functions_network="functions", interval=30.0)

    async def resolve(host, port):
        return []

    scaler = Counting(config, engine, metrics, resolve=resolve)
    wakes = await listen_for_wakes(scaler, 0)
    port = wakes.get_extra_info("sockname")[1]
    stop = asyncio.Event()
    loop_task = asyncio.create_task(scaler.run(stop))
    try:
        await wait_for_rounds(rounds, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for _ in range(5):
                udp.sendto(b"echo", ("127.0.0.1", port))
        await wait_for_rounds(rounds, 2)
        await asyncio.sleep(2 * WAKE_GAP)
        assert len(rounds) in (2, 3)  # the nudges read after a round began: one more
        assert all(b - a >= 0.9 * WAKE_GAP for a, b in itertools.pairwise(rounds[1:]))
        assert metrics.registry.get_sample_value("swarmfaas_scaler_wakes_total") == 5
    finally:
        stop.set()
        await asyncio.wait_for(loop_task, 5)  # a stop ends the wait at once
        wakes.close()


async def wait_for_rounds(rounds, count):
    for _ in range(250):
        if len(rounds) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(rounds)} rounds, not {count}, within 5 s")
