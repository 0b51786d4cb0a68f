"""Where the lock file lives: all that `fwatchdog --healthcheck` needs.

Docker runs the health check in every replica every few seconds, so it must
cost little: this module imports only ``os`` and ``collections.abc``, both
already loaded when Python runs the zipapp (``tempfile`` alone added ~11 ms
of CPU per check, asyncio ~45 ms; bench/healthcheck_cost.py). The running
watchdog and the check both call ``lock_path``, so they always agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# tempfile.gettempdir()'s order of environment variables, then its first fallback.
TEMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")
DEFAULT_TEMP = "/tmp"


def temp_dir(env: Mapping[str, str] = os.environ) -> str:
    """The first of $TMPDIR, $TEMP, $TMP that is a writable directory, else /tmp."""
    for name in TEMP_VARIABLES:
        path = env.get(name)
        if path and os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK):
            return path
    return DEFAULT_TEMP


def lock_path(env: Mapping[str, str] = os.environ) -> str:
    """OpenFaaS's convention: a file in the temp dir that exists while the watchdog is ready."""
    return os.path.join(temp_dir(env), ".lock")
