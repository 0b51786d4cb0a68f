"""The one settings reader (faas_sidecar.settings) and the configs that use it: by table."""

from __future__ import annotations

import re

import pytest

from faas_sidecar.alexa import AlexaConfig, AlexaConfigError
from faas_sidecar.config import load_config
from faas_sidecar.gate.config import GateConfig, GateConfigError
from faas_sidecar.settings import ConfigError, Settings, bounded, text
from faas_sidecar.system import SystemApiConfig, SystemConfigError


class Bad(ValueError):
    pass


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, None), ({"X": ""}, None), ({"X": "  "}, None), ({"X": " a b "}, "a b")],
)
def test_text(env, expected):
    assert text(env, "X") == expected


@pytest.mark.parametrize(
    ("raw", "cast", "expected"),
    [
        (None, int, 7),  # unset: the default
        ("", int, 7),  # blank: the default
        (" 3 ", int, 3),
        ("10", int, 10),  # bounds are inclusive
        ("0.5", float, 0.5),
        ("1e1", float, 10.0),
    ],
)
def test_bounded_accepts(raw, cast, expected):
    env = {} if raw is None else {"N": raw}
    assert bounded(env, "N", 7, cast, 0, 10, "what", Bad) == expected


@pytest.mark.parametrize(("raw", "cast"), [("x", int), ("1.5", int), ("11", int),
                                           ("-1", float), ("nan", float), ("inf", float)])
def test_bounded_refuses_naming_the_setting(raw, cast):
    with pytest.raises(Bad, match=r"^N='.*': expected a number in \[0, 10\]$"):
        bounded({"N": raw}, "N", 7, cast, 0, 10, "a number in [0, 10]", Bad)


# -- Settings: the one reader every config uses ---------------------------------

class Mine(ConfigError):
    pass


def read(env, method, *args, **kwargs):
    return getattr(Settings(env, Mine), method)(*args, **kwargs)


@pytest.mark.parametrize(("env", "method", "args", "kwargs", "expected"), [
    # text: stripped; unset or blank is the default
    ({}, "text", ("S",), {}, None),
    ({"S": " "}, "text", ("S", "d"), {}, "d"),
    ({"S": " v "}, "text", ("S", "d"), {}, "v"),
    ({"S": " v "}, "required", ("S", "what it is"), {}, "v"),
    # nonempty / matching: unset is the default, a set value is checked as it is
    ({}, "nonempty", ("S", "d"), {}, "d"),
    ({"S": " v "}, "nonempty", ("S", "d"), {}, "v"),
    ({}, "matching", ("S", "ab", re.compile("^[a-z]*$"), "letters"), {}, "ab"),
    ({"S": ""}, "matching", ("S", "ab", re.compile("^[a-z]*$"), "letters"), {}, ""),
    ({}, "absolute_path", ("S", "/run/x"), {}, "/run/x"),
    ({"S": "/tmp/u"}, "absolute_path", ("S", "/run/x"), {}, "/tmp/u"),
    ({"S": "a/*, b ,"}, "globs", ("S",), {}, ("a/*", "b")),
    # numbers: bounds are inclusive
    ({"S": "0"}, "integer", ("S", 5), {"low": 0, "high": 9}, 0),
    ({"S": "9"}, "integer", ("S", 5), {"low": 0, "high": 9}, 9),
    ({"S": " "}, "integer", ("S", 5), {"low": 0, "high": 9}, 5),
    ({"S": "0.05"}, "seconds", ("S", 1.0), {"low": 0.05, "high": 60}, 0.05),
    ({"S": "1e1"}, "seconds", ("S", 1.0), {"low": 0, "high": 60}, 10.0),
    ({"S": "4096"}, "size", ("S", 1), {"low": 1024, "high": 8192}, 4096),
    ({"S": "65535"}, "port", ("S", 80), {}, 65535),
    ({}, "port", ("S", 80), {}, 80),
    # log levels: any case, upper-cased
    ({}, "log_level", (), {}, "INFO"),
    ({"LOG_LEVEL": " debug "}, "log_level", (), {}, "DEBUG"),
    ({"S": "error"}, "log_level", ("S",), {}, "ERROR"),
])
def test_settings_read(env, method, args, kwargs, expected):
    assert read(env, method, *args, **kwargs) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (None, "default"), ("", "default"), ("  ", "default"),
    ("true", True), ("TRUE", True), (" True ", True), ("1", True),
    ("false", False), ("FALSE", False), ("0", False),
])
@pytest.mark.parametrize("default", [True, False])
def test_one_spelling_of_booleans(raw, expected, default):
    env = {} if raw is None else {"FLAG": raw}
    assert read(env, "flag", "FLAG", default) == (default if expected == "default" else expected)


@pytest.mark.parametrize(("env", "method", "args", "kwargs", "message"), [
    ({}, "required", ("S", "the overlay network"), {}, "S is required: the overlay network"),
    ({"S": " "}, "nonempty", ("S", "d"), {}, "S must not be empty"),
    ({"S": "A1"}, "matching", ("S", "ab", re.compile("^[a-z]*$"), "letters"), {},
     "S must be letters, got 'A1'"),
    ({"S": "rel/x"}, "absolute_path", ("S", "/run/x"), {},
     "S must be an absolute file path, got 'rel/x'"),
    ({"S": "a;b"}, "globs", ("S",), {},
     "S must be comma-separated glob patterns like 'swarmfaas/*', got 'a;b'"),
    ({"S": "x"}, "integer", ("S", 5), {"low": 0, "high": 9},
     "S='x': expected an integer in [0, 9]"),
    ({"S": "1.5"}, "integer", ("S", 5), {"low": 0, "high": 9},
     "S='1.5': expected an integer in [0, 9]"),
    ({"S": "10"}, "integer", ("S", 5), {"low": 0, "high": 9},
     "S='10': expected an integer in [0, 9]"),
    ({"S": "-1"}, "seconds", ("S", 1.0), {"low": 0, "high": 60},
     "S='-1': expected a number of seconds in [0, 60]"),
    ({"S": "nan"}, "seconds", ("S", 1.0), {"low": 0.5, "high": 60},
     "S='nan': expected a number of seconds in [0.5, 60]"),
    ({"S": "2s"}, "seconds", ("S", 1.0), {"low": 0, "high": 60},
     "S='2s': expected a number of seconds in [0, 60]"),
    ({"S": "1k"}, "size", ("S", 1), {"low": 1024, "high": 8192},
     "S='1k': expected a number of bytes in [1024, 8192]"),
    ({"S": "0"}, "port", ("S", 80), {}, "S='0': expected a TCP port (1-65535)"),
    ({"S": "http"}, "port", ("S", 80), {}, "S='http': expected a TCP port (1-65535)"),
    ({"S": "loud"}, "log_level", ("S",), {},
     "S='LOUD': expected DEBUG, INFO, WARNING or ERROR"),
    ({"S": "yes"}, "flag", ("S", False), {}, "S='yes': expected true or false (or 1 or 0)"),
    ({"S": "on"}, "flag", ("S", False), {}, "S='on': expected true or false (or 1 or 0)"),
    ({"S": "2"}, "flag", ("S", True), {}, "S='2': expected true or false (or 1 or 0)"),
])
def test_settings_errors_name_the_setting_and_what_it_accepts(env, method, args, kwargs,
                                                              message):
    with pytest.raises(Mine) as info:
        read(env, method, *args, **kwargs)
    assert str(info.value) == message


# Every component reads through Settings: its errors are ConfigErrors, and its
# booleans and log levels are spelt the same.
COMPONENTS = [
    (lambda env: load_config({"FUNCTIONS_NETWORK": "n", **env}), ConfigError),
    (lambda env: SystemApiConfig.from_env(env), SystemConfigError),
    (lambda env: GateConfig.from_env({"FUNCTIONS_NETWORK": "n", **env}), GateConfigError),
    (lambda env: AlexaConfig.from_env(env), AlexaConfigError),
]


@pytest.mark.parametrize(("load", "error"), COMPONENTS)
def test_every_component_error_is_a_config_error(load, error):
    assert issubclass(error, ConfigError)
    with pytest.raises(error):
        load({"LOG_LEVEL": "loud", "SYSTEM_MAX_REPLICAS": "x", "ALEXA_TIMEOUT": "x"})


@pytest.mark.parametrize(("setting", "field", "load"), [
    ("FAST_PATH", "fast_path", lambda env: load_config({"FUNCTIONS_NETWORK": "n", **env})),
    ("SYSTEM_AUTH_DANGEROUSLY_DISABLE", "auth_dangerously_disabled", SystemApiConfig.from_env),
])
@pytest.mark.parametrize(("raw", "value"), [("true", True), ("1", True), ("False", False),
                                            ("0", False), ("yes", None), ("off", None)])
def test_booleans_are_spelt_alike_everywhere(setting, field, load, raw, value):
    if value is None:
        with pytest.raises(ConfigError, match=f"^{setting}="):
            load({setting: raw})
    else:
        assert getattr(load({setting: raw}), field) is value


@pytest.mark.parametrize("load", [
    lambda env: load_config({"FUNCTIONS_NETWORK": "n", **env}),
    lambda env: GateConfig.from_env({"FUNCTIONS_NETWORK": "n", **env}),
])
@pytest.mark.parametrize(("raw", "level"), [(None, "INFO"), ("warning", "WARNING"),
                                            ("loud", None)])
def test_log_level_is_read_alike_everywhere(load, raw, level):
    env = {} if raw is None else {"LOG_LEVEL": raw}
    if level is None:
        with pytest.raises(ConfigError, match=r"^LOG_LEVEL='LOUD': expected DEBUG, INFO"):
            load(env)
    else:
        assert load(env).log_level == level
