"""Scheduled functions: the scheduler's bookkeeping on a fixed table, and two
schedulers (two sidecar processes) storing one tick on a real nats-server:
the broker keeps it once, and the queue worker delivers it once."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest
from prometheus_client import CollectorRegistry, Counter
from queue_harness import NatsServer

from faas_sidecar.model import FunctionSpec, RoutingTable
from faas_sidecar.queue.broker import Broker
from faas_sidecar.queue.message import CALLS_STREAM, decode
from faas_sidecar.queue.scheduler import TICK_HEADER, Scheduler, scheduled_call
from faas_sidecar.schedule import Schedule


def spec(name: str, expression: str = "* * * * *", catch_up: float = 60.0) -> FunctionSpec:
    return FunctionSpec(name=name, service_id=name, service_name=name, image="i",
                        labels=MappingProxyType({"swarmfaas.schedule": expression}),
                        schedule=Schedule(expression, "UTC", catch_up))


def table(*specs: FunctionSpec) -> RoutingTable:
    return RoutingTable(functions=MappingProxyType({s.name: s for s in specs}), generation=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ticks_counter() -> Counter:
    return Counter("t", "t", ["function_name", "outcome"], registry=CollectorRegistry())


def scheduler(current: list[RoutingTable], ticks: Counter | None = None) -> Scheduler:
    return Scheduler(lambda: current[0], asyncio.Event, broker=None,  # type: ignore[arg-type]
                     ticks=ticks)


def test_the_first_look_goes_back_one_catch_up_later_functions_start_from_now():
    every = spec("every", catch_up=30.0)
    current = [table(every)]
    ticks = ticks_counter()
    s = scheduler(current, ticks)
    # started 20 s after a tick: that tick (within the catch-up) is due once
    assert s.due_now(utc(2026, 12, 7, 10, 0, 20)) == [(every, utc(2026, 12, 7, 10, 0))]
    assert s.due_now(utc(2026, 12, 7, 10, 0, 40)) == []
    # a function that appears now does not run the tick it missed before it existed
    late = spec("late")
    current[0] = table(every, late)
    assert s.due_now(utc(2026, 12, 7, 10, 0, 50)) == []
    assert s.due_now(utc(2026, 12, 7, 10, 1, 0)) == [(every, utc(2026, 12, 7, 10, 1)),
                                                     (late, utc(2026, 12, 7, 10, 1))]
    # a pause of five minutes: the newest tick runs if within catch-up, the others missed
    assert s.due_now(utc(2026, 12, 7, 10, 6, 10)) == [(every, utc(2026, 12, 7, 10, 6)),
                                                      (late, utc(2026, 12, 7, 10, 6))]
    assert ticks.labels("every", "missed")._value.get() == 4
    assert ticks.labels("late", "missed")._value.get() == 4


def test_a_function_that_loses_its_schedule_is_forgotten():
    every = spec("every")
    current = [table(every)]
    s = scheduler(current)
    s.due_now(utc(2026, 12, 7, 10, 0, 30))
    current[0] = table(dataclasses.replace(every, schedule=None))
    assert s.due_now(utc(2026, 12, 7, 10, 1, 30)) == []
    current[0] = table(every)  # back: starts from now, the 10:01 tick is not run
    assert s.due_now(utc(2026, 12, 7, 10, 1, 40)) == []
    assert s.due_now(utc(2026, 12, 7, 10, 2, 0)) == [(every, utc(2026, 12, 7, 10, 2))]


def test_next_wake_is_the_next_tick_at_most_max_sleep():
    s = scheduler([table(spec("hourly", "0 * * * *"), spec("every"))])
    assert s.next_wake(utc(2026, 12, 7, 10, 0, 50)) == pytest.approx(10.0)
    assert scheduler([table(spec("hourly", "0 * * * *"))]).next_wake(
        utc(2026, 12, 7, 10, 0, 0)) == pytest.approx(30.0)


def test_every_process_makes_the_same_call_for_a_tick():
    one = scheduled_call(spec("report"), utc(2026, 12, 7, 9))
    two = scheduled_call(spec("report"), utc(2026, 12, 7, 9))
    assert one == two and one.call_id == two.call_id
    assert one.header(TICK_HEADER) == "2026-12-07T09:00:00Z"
    assert (one.method, one.path, one.body) == ("POST", "/", b"")
    assert scheduled_call(spec("report"), utc(2026, 12, 7, 10)).call_id != one.call_id


@pytest.mark.slow
async def test_two_sidecars_store_one_call_per_tick_on_a_real_broker(tmp_path):
    server = NatsServer(tmp_path / "js")
    server.start()
    brokers = [Broker(server.url), Broker(server.url)]
    try:
        # a clock 0.6 s before a minute's start; catch-up 10 s, so the tick a
        # minute ago is missed, not run
        now = time.time()
        boundary = (int(now) // 60 + 1) * 60
        offset = boundary - 0.6 - now
        every = spec("every", catch_up=10.0)
        tables = [table(every)]
        ticks = ticks_counter()
        schedulers = [Scheduler(lambda: tables[0], asyncio.Event, b, ticks) for b in brokers]
        tasks = [asyncio.create_task(s.run(clock=lambda: time.time() + offset))
                 for s in schedulers]
        await asyncio.sleep(2.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert ticks.labels("every", "stored")._value.get() == 2  # each process stored it
        js = await brokers[0].jetstream()
        info = await js.stream_info(CALLS_STREAM)
        assert info.state.messages == 1  # the broker kept one
        raw = await js.get_msg(CALLS_STREAM, seq=info.state.first_seq)
        call = decode(raw.data or b"")
        assert call.function == "every"
        tick = datetime.fromtimestamp(boundary, UTC)
        assert call.header(TICK_HEADER) == tick.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert call == scheduled_call(every, tick)
        assert info.config.duplicate_window >= 3600  # longer than any catch-up
        assert timedelta(seconds=info.config.duplicate_window) > timedelta(hours=1)
    finally:
        for b in brokers:
            await b.close()
        server.stop()
