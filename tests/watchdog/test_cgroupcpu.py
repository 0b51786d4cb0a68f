"""The container's CPU count for the scaler's cpu type (fwatchdog/cgroupcpu.py):
parsing both cgroup versions (tables), and a real watchdog's header against
the real cgroup file it reads."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from wdkit import free_port, port_answers, wait_for, watchdog_env

from fwatchdog import cgroupcpu
from fwatchdog.cgroupcpu import CgroupCpu, find_source, parse_cpu_stat, parse_cpuacct_usage


@pytest.mark.parametrize(("text", "usage"), [
    ("usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n", 1234),
    ("user_usec 1\nusage_usec 99\n", 99),
    ("user_usec 1\n", None),
    ("usage_usec x\n", None),
    ("usage_usec \u00b2\n", None),
    ("", None),
])
def test_parse_cpu_stat(text, usage):
    assert parse_cpu_stat(text) == usage


@pytest.mark.parametrize(("text", "usage"), [
    ("60533908577\n", 60533908),   # nanoseconds -> microseconds
    ("999", 0),
    ("", None),
    ("-1", None),
    ("\u00b2", None),
])
def test_parse_cpuacct_usage(text, usage):
    assert parse_cpuacct_usage(text) == usage


def test_the_v2_file_wins_then_v1_and_none_without_either(tmp_path):
    v2, v1 = tmp_path / "cpu.stat", tmp_path / "cpuacct.usage"
    assert find_source(v2, (v1,)) is None
    v1.write_text("5000\n")
    assert find_source(v2, (v1,)) == (v1, parse_cpuacct_usage)
    v2.write_text("usage_usec 7\n")
    assert find_source(v2, (v1,)) == (v2, parse_cpu_stat)
    reader = CgroupCpu(find_source(v2, (v1,)))
    usage, at = reader.header_value().split()
    assert usage == "7" and abs(int(at) / 1e6 - time.monotonic()) < 1
    v2.write_text("usage_usec 8\n")
    assert reader.header_value().split()[0] == "7"  # read again only after READ_EVERY
    time.sleep(cgroupcpu.READ_EVERY)
    assert reader.header_value().split()[0] == "8"
    assert CgroupCpu(None).header_value() == ""


@pytest.mark.parametrize("mode", ["fork", "http"])
def test_a_real_watchdog_reports_the_cgroup_count_it_reads(tmp_path, mode):
    """Between a read of the cgroup file before the call and one after, the
    header's count; its time is the watchdog's monotonic clock (this host's)."""
    source = find_source()
    if source is None:
        pytest.skip("no cgroup CPU count readable here")
    path, parse = source
    port = free_port()
    if mode == "fork":
        env = watchdog_env(tmp_path, port=str(port), fprocess="cat")
    else:
        upstream = free_port()
        env = watchdog_env(tmp_path, port=str(port), mode="http",
                           upstream_url=f"http://127.0.0.1:{upstream}",
                           fprocess=f"{sys.executable} -m http.server {upstream} "
                                    f"--bind 127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "fwatchdog"], env=env)
    try:
        assert wait_for(lambda: proc.poll() is not None or port_answers(port)), "no watchdog"
        time.sleep(cgroupcpu.READ_EVERY)
        before, started = parse(path.read_text()), time.monotonic()
        response = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        after, ended = parse(path.read_text()), time.monotonic()
        assert response.status_code == 200, response.text
        usage, at = (int(v) for v in response.headers["x-swarmfaas-cpu"].split())
        assert before <= usage <= after
        assert started - cgroupcpu.READ_EVERY <= at / 1e6 <= ended
    finally:
        proc.terminate()
        proc.wait(10)
