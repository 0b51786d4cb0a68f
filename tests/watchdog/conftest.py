"""Fixtures for the watchdog tests (helpers live in wdkit.py, importable from tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wdkit import Watchdog, port_answers, wait_for, watchdog_argv, watchdog_env
from wdkit import free_port as _free_port


@pytest.fixture
def start_watchdog(tmp_path):
    started: list[Watchdog] = []

    def start(wait_ready: bool = True, **env: str) -> Watchdog:
        port = _free_port()
        full = watchdog_env(tmp_path, port=str(port), **env)
        proc = subprocess.Popen(watchdog_argv(), env=full,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wd = Watchdog(proc, port, tmp_path)
        started.append(wd)
        want = 200 if wait_ready else None
        assert wait_for(lambda: proc.poll() is not None or port_answers(port, want=want)), \
            "watchdog did not answer"
        assert proc.poll() is None, proc.stderr.read().decode()
        return wd

    yield start
    for wd in started:
        wd.terminate()
        for stream in (wd.proc.stdout, wd.proc.stderr):
            if stream:
                stream.close()


