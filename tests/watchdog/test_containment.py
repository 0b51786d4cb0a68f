"""Nothing an invocation starts outlives it: setsid and double-fork escapees included.

The watchdog is a child subreaper, so escapees come back to it as children;
it ends those whose invocation is over (procs.end_orphans) and reaps them.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from wdkit import HERE, function_processes, wait_for

ESCAPEE = f"{sys.executable} {HERE / 'escapee.py'}"


def left_behind(wd) -> dict:
    return function_processes(wd.proc.pid)


@pytest.mark.parametrize("how", ["setsid", "double-fork", "scrubbed"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_escapees_end_with_their_invocation(start_watchdog, how, workers):
    wd = start_watchdog(fprocess=ESCAPEE, workers=workers)
    resp = wd.request("POST", "/", how.encode())
    assert resp.status == 200 and resp.body == how.encode()
    assert wait_for(lambda: not left_behind(wd), 5), left_behind(wd)
    # killed and reaped: no zombie either (function_processes lists zombies too)
    assert wait_for(lambda: wd.metric("fwatchdog_orphans_reaped_total") >= 1, 5)


def test_escapees_end_when_the_invocation_times_out(start_watchdog):
    wd = start_watchdog(fprocess=ESCAPEE, exec_timeout="500ms", kill_grace="100ms",
                        workers="1")
    resp = wd.request("POST", "/", b"hang")
    assert resp.status == 504
    assert wait_for(lambda: not left_behind(wd), 5), left_behind(wd)


def test_an_escapee_of_a_running_invocation_is_left_alone(start_watchdog):
    """Other invocations ending (and the sweep) must not kill what a live one waits for."""
    wd = start_watchdog(fprocess=ESCAPEE, workers="1")
    answer: list[bytes] = []
    slow = threading.Thread(target=lambda: answer.append(wd.request("POST", "/", b"slow").body))
    slow.start()
    time.sleep(0.5)  # the slow one's escapee exists now
    for _ in range(3):
        assert wd.request("POST", "/", b"fast").body == b"fast"
    slow.join(10)
    assert answer == [b"written"]
    assert wait_for(lambda: not left_behind(wd), 5), left_behind(wd)


@pytest.mark.parametrize("setting, expected", [(None, b"1"), ("false", b"0")])
def test_function_processes_cannot_gain_privileges(start_watchdog, setting, expected):
    """no-new-privileges, set by the watchdog itself (Swarm services cannot set it)."""
    env = {"no_new_privileges": setting} if setting else {}
    wd = start_watchdog(fprocess="sh -c 'grep NoNewPrivs /proc/self/status'", **env)
    assert wd.request("POST", "/").body.split() == [b"NoNewPrivs:", expected]


def test_function_processes_yield_to_the_watchdog(start_watchdog, tmp_path):
    """A lower CPU priority than the watchdog and first place for the OOM
    killer, for the function and what it starts (a fork bomb starved the
    watchdog's timer; a memory hog took the watchdog, and the container)."""
    script = tmp_path / "standing.sh"
    # /proc/<pid>/stat: field 19 the nice value, 41 the scheduling policy
    # (0: SCHED_OTHER; SCHED_IDLE was tried and cost fork mode 8 %).
    script.write_text("sleep 0.2\n"
                      "cut -d' ' -f19,41 /proc/self/stat; cat /proc/self/oom_score_adj\n"
                      "sh -c 'cut -d\" \" -f19,41 /proc/self/stat; "
                      "cat /proc/self/oom_score_adj'\n")
    wd = start_watchdog(fprocess=f"sh {script}")
    assert Path("/proc/self/oom_score_adj").read_text().strip() != "1000"
    assert wd.request("POST", "/").body.split() == [b"10", b"0", b"1000", b"10", b"0", b"1000"]
