"""Config.from_env: table-driven, no IO."""

from __future__ import annotations

import pytest

from fwatchdog.config import Config, ConfigError, parse_duration, parse_size
from fwatchdog.pool import longest_stop


@pytest.mark.parametrize(("text", "seconds"), [
    ("10s", 10.0), ("500ms", 0.5), ("1m", 60.0), ("2h", 7200.0), ("1.5", 1.5), ("0", 0.0),
    (" 3s ", 3.0), ("250", 250.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "10 sec", "-1s", "1d", "s", "1.2.3s"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("text", "size"), [
    ("1048576", 1048576), ("512KiB", 524288), ("10MiB", 10 * 1024**2), ("1MB", 1000**2),
    ("2k", 2048), ("1g", 1024**3), ("7b", 7),
])
def test_parse_size(text, size):
    assert parse_size(text) == size


def test_defaults():
    c = Config.from_env({"fprocess": "cat"})
    assert c == Config(fprocess=("cat",))
    assert (c.mode, c.port, c.exec_timeout, c.read_timeout, c.write_timeout) == \
        ("fork", 8080, 10.0, 10.0, 10.0)
    assert (c.max_inflight, c.cgi_headers, c.combine_output, c.content_type) == (0, True, False, "")
    assert (c.request_limit, c.response_limit) == (16 * 1024**2, 32 * 1024**2)
    assert (c.healthcheck_interval, c.kill_grace, c.suppress_lock) == (0.0, 2.0, False)


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"fprocess": "python3 -c 'print(1)'"}, "fprocess", ("python3", "-c", "print(1)")),
    ({"function_process": "cat -n"}, "fprocess", ("cat", "-n")),
    ({"fprocess": "cat", "function_process": "ls"}, "fprocess", ("cat",)),
    ({"mode": "stream"}, "mode", "stream"),
    ({"mode": "streaming"}, "mode", "stream"),
    ({"mode": "serializing"}, "mode", "fork"),
    ({"mode": "HTTP", "upstream_url": "http://127.0.0.1:5000"}, "mode", "http"),
    ({"mode": "http", "upstream_url": "http://127.0.0.1:5000"}, "upstream_host_port",
     ("127.0.0.1", 5000)),
    ({"read_timeout": "500ms"}, "read_timeout", 0.5),
    ({"write_timeout": "1m"}, "write_timeout", 60.0),
    ({"exec_timeout": "0"}, "exec_timeout", 0.0),
    ({"exec_timeout": "2.5"}, "exec_timeout", 2.5),
    ({"max_inflight": "4"}, "max_inflight", 4),
    ({"content_type": "application/json"}, "content_type", "application/json"),
    ({"combine_output": "true"}, "combine_output", True),
    ({"combine_output": "0"}, "combine_output", False),
    ({"cgi_headers": "no"}, "cgi_headers", False),
    ({"cgi_headers": "ON"}, "cgi_headers", True),
    ({"port": "18080"}, "port", 18080),
    ({"healthcheck_interval": "5s"}, "healthcheck_interval", 5.0),
    ({"request_limit": "1KiB"}, "request_limit", 1024),
    ({"response_limit": "2MiB"}, "response_limit", 2 * 1024**2),
    ({"kill_grace": "100ms"}, "kill_grace", 0.1),
    ({"suppress_lock": "true"}, "suppress_lock", True),
    ({}, "no_new_privileges", True),
    ({"no_new_privileges": "false"}, "no_new_privileges", False),
    ({"workers": "3"}, "workers", 3),
    ({"workers": "0"}, "workers", 0),
])
def test_each_variable(env, field, value):
    env = {"fprocess": "cat", **env} if "fprocess" not in env and "function_process" not in env \
        else env
    assert getattr(Config.from_env(env), field) == value


@pytest.mark.parametrize(("env", "named"), [
    ({}, "fprocess"),
    ({"fprocess": "   "}, "fprocess"),
    ({"fprocess": "cat 'unterminated"}, "fprocess"),
    ({"mode": "batch"}, "mode"),
    ({"mode": "http"}, "upstream_url"),
    ({"mode": "http", "upstream_url": "https://x:1"}, "upstream_url"),
    ({"mode": "http", "upstream_url": "http://localhost"}, "upstream_url"),
    ({"mode": "http", "upstream_url": "http://localhost:99999"}, "upstream_url"),
    ({"read_timeout": "soon"}, "read_timeout"),
    ({"read_timeout": "0"}, "read_timeout"),
    ({"write_timeout": "-1"}, "write_timeout"),
    ({"exec_timeout": "10 seconds"}, "exec_timeout"),
    ({"max_inflight": "-1"}, "max_inflight"),
    ({"max_inflight": "many"}, "max_inflight"),
    ({"combine_output": "maybe"}, "combine_output"),
    ({"cgi_headers": "2"}, "cgi_headers"),
    ({"port": "0"}, "port"),
    ({"port": "65536"}, "port"),
    ({"port": "http"}, "port"),
    ({"healthcheck_interval": "x"}, "healthcheck_interval"),
    ({"request_limit": "lots"}, "request_limit"),
    ({"request_limit": "0"}, "request_limit"),
    ({"response_limit": "1TB"}, "response_limit"),
    ({"kill_grace": "1y"}, "kill_grace"),
    ({"suppress_lock": "nah"}, "suppress_lock"),
    ({"workers": "-1"}, "workers"),
    ({"workers": "two"}, "workers"),
    ({"workers": "1000"}, "workers"),
    ({"workers": "2", "mode": "http", "upstream_url": "http://127.0.0.1:9000"}, "workers"),
])
def test_bad_values_name_the_variable(env, named):
    env = {"fprocess": "cat", **env} if "fprocess" not in env and env else env
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    assert str(info.value).startswith(named)


def test_config_is_frozen():
    c = Config.from_env({"fprocess": "cat"})
    with pytest.raises(AttributeError):
        c.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("env", "cpus", "workers"), [
    ({}, 2, 2),  # fork: one per CPU we may run on
    ({}, 1, 1),
    ({"mode": "stream"}, 4, 4),
    ({"mode": "http", "upstream_url": "http://127.0.0.1:9000"}, 2, 1),  # upstream needs cores
    ({"workers": "3"}, 2, 3),  # set: taken as is
    ({"workers": "1", "mode": "http", "upstream_url": "http://127.0.0.1:9000"}, 8, 1),
])
def test_worker_count(env, cpus, workers):
    assert Config.from_env({"fprocess": "cat", **env}).worker_count(cpus) == workers


@pytest.mark.parametrize(("env", "linger", "longest"), [
    # drain_linger: healthcheck_interval again, at most 5 s; the pool's kill
    # bound covers it and write_timeout, whichever is longer (pool.longest_stop)
    ({}, 0.0, 0 + 10 + 2 + 2 + 5),
    ({"healthcheck_interval": "1s"}, 1.0, 1 + 10 + 2 + 2 + 5),
    ({"healthcheck_interval": "1m"}, 5.0, 60 + 10 + 2 + 2 + 5),
    ({"healthcheck_interval": "4s", "write_timeout": "1s"}, 4.0, 4 + 4 + 2 + 2 + 5),
])
def test_the_drain_linger_and_the_longest_stop(env, linger, longest):
    config = Config.from_env({"fprocess": "cat", **env})
    assert config.drain_linger == linger
    assert longest_stop(config) == longest
