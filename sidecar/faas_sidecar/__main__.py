"""``faas-sidecar``: read the environment once, build the app, serve."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from functools import partial

from sanic import Sanic
from sanic.worker.loader import AppLoader

from .app import AppConfig, create_app
from .config import ConfigError, load_config


def load_app_config(env: Mapping[str, str]) -> AppConfig:
    """All three configs from one mapping; raises a ConfigError naming the variable
    (each component's error is a ConfigError)."""
    from .alexa import AlexaConfig
    from .system import SystemApiConfig

    return AppConfig(
        sidecar=load_config(env),
        system=SystemApiConfig.from_env(env),
        alexa=AlexaConfig.from_env(env),
    )


def main() -> int:
    try:
        config = load_app_config(os.environ)
    except ConfigError as exc:
        print(f"faas-sidecar: configuration error: {exc}", file=sys.stderr)
        return 2
    sc = config.sidecar
    logging.basicConfig(level=sc.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faas_sidecar").info(
        "sidecar on %s:%d, %d worker(s), functions network %s, docker %s", sc.host, sc.port,
        sc.workers, sc.functions_network, sc.docker_host or "default socket")
    loader = AppLoader(factory=partial(create_app, config))
    app = loader.load()
    if sc.workers == 1:
        # One process: no worker manager, no pickling, faster start.
        app.run(host=sc.host, port=sc.port, single_process=True, access_log=False,
                motd=False)
    else:
        app.prepare(host=sc.host, port=sc.port, workers=sc.workers, access_log=False,
                    motd=False)
        Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
