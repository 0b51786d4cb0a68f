"""``faas-queue-worker``: read the environment once, then deliver until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from prometheus_client import start_http_server

from .broker import Broker, BrokerUnavailable
from .config import WorkerConfig, WorkerConfigError
from .metrics import WorkerMetrics
from .worker import Worker

log = logging.getLogger("faas_sidecar.queue")
GAUGE_INTERVAL = 5.0  # seconds between readings of the queue depth


async def serve(config: WorkerConfig) -> None:
    metrics = WorkerMetrics()
    start_http_server(config.metrics_port, registry=metrics.registry)
    broker = Broker(config.queue_url)
    worker = Worker(config, broker, metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # PID 1 gets no default action
        loop.add_signal_handler(sig, stop.set)
    log.info("queue worker: broker %s, sidecar %s:%d, %d in flight, metrics on :%d",
             config.queue_url, *config.sidecar, config.concurrency, config.metrics_port)
    gauges = asyncio.create_task(read_gauges(broker, metrics))
    try:
        await worker.run(stop)
    finally:
        gauges.cancel()
        await broker.close()


async def read_gauges(broker: Broker, metrics: WorkerMetrics) -> None:
    """Queue depth and the oldest call's age by function, from the broker."""
    seen: set[str] = set()
    while True:
        with contextlib.suppress(BrokerUnavailable):
            ages = await broker.oldest()
            for name in seen - ages.keys():  # drained: 0, not the last value
                ages[name] = (0, 0.0)
            for name, (count, age) in ages.items():
                metrics.depth.labels(name).set(count)
                metrics.oldest_age.labels(name).set(age)
            seen = set(ages)
        await asyncio.sleep(GAUGE_INTERVAL)


def main() -> int:
    try:
        config = WorkerConfig.from_env(os.environ)
    except WorkerConfigError as exc:
        print(f"faas-queue-worker: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
