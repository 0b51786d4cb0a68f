"""Telling the kernel's OOM kill from any other SIGKILL (fwatchdog.oom)."""

from __future__ import annotations

import pytest

from fwatchdog import errors
from fwatchdog.oom import OomCounter, parse_oom_kills

V1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
V2 = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n"


@pytest.mark.parametrize(("text", "count"), [
    (V1, 3),
    (V2, 2),
    ("oom_kill_disable 0\nunder_oom 0\n", None),  # a kernel before 4.13
    ("oom_kill x\n", None),
    ("oom_kill ²\n", None),
    ("", None),
])
def test_parse_oom_kills(text, count):
    assert parse_oom_kills(text) == count


def test_counter_says_when_the_count_grew(tmp_path):
    events = tmp_path / "memory.events"
    events.write_text(V2)
    counter = OomCounter([str(tmp_path / "missing"), str(events)])
    assert not counter.killed_since()
    events.write_text(V2.replace("oom_kill 2", "oom_kill 3"))
    assert counter.killed_since()
    assert not counter.killed_since()  # that kill is told once


def test_no_cgroup_file_means_never_out_of_memory(tmp_path):
    assert not OomCounter([str(tmp_path / "missing")]).killed_since()


def test_the_reason_names_the_memory_limit():
    assert errors.function_failed(-9).reason == "the function process was killed by signal 9"
    assert errors.function_failed(-9, out_of_memory=True).reason == (
        "the function process was killed by signal 9: it went over the container's memory limit")
