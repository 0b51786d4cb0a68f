"""``faas-engine-gate``: read the environment once, then serve."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from .config import GateConfig, GateConfigError
from .server import serve


def main() -> int:
    try:
        config = GateConfig.from_env(os.environ)
    except GateConfigError as exc:
        print(f"faas-engine-gate: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(config))  # SIGTERM and SIGINT stop it cleanly
    return 0


if __name__ == "__main__":
    sys.exit(main())
