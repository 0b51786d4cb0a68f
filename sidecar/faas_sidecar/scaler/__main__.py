"""``faas-scaler``: read the environment once, then scale until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from prometheus_client import start_http_server

from ..engineclient import EngineError
from .config import ScalerConfig, ScalerConfigError
from .engine import ScalerEngine
from .metrics import ScalerMetrics
from .service import Scaler, listen_for_wakes

log = logging.getLogger("faas_sidecar.scaler")


async def serve(config: ScalerConfig) -> None:
    metrics = ScalerMetrics()
    start_http_server(config.metrics_port, registry=metrics.registry)
    engine = ScalerEngine(config.docker_host, token=config.token,
                          openfaas=config.openfaas_functions)
    scaler = Scaler(config, engine, metrics)
    wakes = None
    if config.wake_port:
        try:
            wakes = await listen_for_wakes(scaler, config.wake_port)
        except OSError as exc:  # scaling works without: rounds every interval
            log.warning("no nudges: cannot listen on udp :%d: %s", config.wake_port, exc)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # PID 1 gets no default action
        loop.add_signal_handler(sig, stop.set)
    log.info("scaler: sidecars %s, engine %s, functions network %s, every %g s, "
             "down window %g s, hand hold %g s, metrics on :%d, nudges on udp :%s",
             ", ".join(f"{h}:{p}" for h, p in config.sidecars), config.docker_host,
             config.functions_network, config.interval, config.policy.down_window,
             config.policy.human_hold, config.metrics_port, config.wake_port or "none")
    try:
        await scaler.run(stop)
    finally:
        if wakes is not None:
            wakes.close()
        engine.close()


def main() -> int:
    try:
        config = ScalerConfig.from_env(os.environ)
    except ScalerConfigError as exc:
        print(f"faas-scaler: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(config))
    except EngineError as exc:
        print(f"faas-scaler: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
