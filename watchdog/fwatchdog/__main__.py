"""Command line: `fwatchdog` runs the watchdog; `fwatchdog --healthcheck` checks the lock file.

The watchdog's own modules are imported only to run it: the health check
runs every few seconds in every replica and needs only the lock path
(lockfile.py imports only ``os`` and ``collections.abc``).
"""

from __future__ import annotations

import os
import sys

from . import __version__
from .lockfile import lock_path


def _ensure_std_fds() -> None:
    # Pipes must never land on 0-2, or a child's dup2 would clobber them.
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--healthcheck":
        return 0 if os.path.exists(lock_path()) else 1
    if args and args[0] in ("--version", "-V"):
        print(f"fwatchdog {__version__}")
        return 0
    if args:
        print("usage: fwatchdog [--healthcheck | --version]  (configured by environment)",
              file=sys.stderr)
        return 2

    import asyncio
    import logging

    from .config import Config, ConfigError

    env = dict(os.environ)
    logging.basicConfig(level=logging.INFO, format="fwatchdog: %(message)s", stream=sys.stderr)
    try:
        config = Config.from_env(env)
        from .app import resolve_executable
        path = resolve_executable(config, env)
    except ConfigError as exc:
        print(f"fwatchdog: configuration error: {exc}", file=sys.stderr)
        return 2
    _ensure_std_fds()
    from .app import make_listener, serve
    from .procs import forbid_new_privileges

    if config.no_new_privileges:  # before any worker or function process exists
        forbid_new_privileges()

    host = env.get("fwatchdog_host", "")
    workers = config.worker_count(len(os.sched_getaffinity(0)))
    if workers == 1:
        return asyncio.run(serve(config, env, make_listener(config.port, host=host), path))
    from .pool import run_pool

    # One SO_REUSEPORT socket per worker, all made here so that a port in use
    # fails now; the supervisor keeps them open so a restarted worker gets the
    # same socket (and the connections queued on it).
    socks = [make_listener(config.port, host=host, reuse_port=True) for _ in range(workers)]
    return run_pool(config, env, socks, path, None if config.suppress_lock else lock_path())


def run() -> None:
    """The zipapp's entry point: zipapp's generated __main__ calls it and
    drops what it returns, so the exit status must be raised here (else
    `--healthcheck` and a configuration error would exit 0)."""
    sys.exit(main())


if __name__ == "__main__":
    run()
