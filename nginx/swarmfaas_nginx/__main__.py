"""Container entry point: `python3 -m swarmfaas_nginx`."""

from __future__ import annotations

import logging
import os
import sys

from .settings import SettingsError, load_settings
from .supervisor import Supervisor


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="swarmfaas-nginx %(levelname)s %(message)s"
    )
    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"swarmfaas-nginx: invalid setting {problem}", file=sys.stderr)
        return 2
    try:
        return Supervisor(settings, nginx=os.environ.get("NGINX_BINARY", "nginx")).run()
    except RuntimeError as exc:
        print(f"swarmfaas-nginx: cannot start: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
