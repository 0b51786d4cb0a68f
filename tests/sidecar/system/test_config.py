"""SystemApiConfig.from_env: defaults, parsing, and errors that name the setting."""

from __future__ import annotations

import pytest

from faas_sidecar.system import SystemApiConfig, SystemConfigError


def test_defaults_are_openfaas_secret_paths_and_an_empty_allowlist():
    config = SystemApiConfig.from_env({})
    assert config.auth_user_file == "/run/secrets/basic-auth-user"
    assert config.auth_password_file == "/run/secrets/basic-auth-password"
    assert config.auth_dangerously_disabled is False
    assert config.image_allowlist == ()  # nothing deployable until an admin says so
    assert config.secret_allowlist == ()


@pytest.mark.parametrize(("env", "attr", "expected"), [
    ({"SYSTEM_IMAGE_ALLOWLIST": "swarmfaas/*, debian:bookworm-slim ,"}, "image_allowlist",
     ("swarmfaas/*", "debian:bookworm-slim")),
    ({"SYSTEM_SECRET_ALLOWLIST": "fn-*"}, "secret_allowlist", ("fn-*",)),
    ({"SYSTEM_AUTH_DANGEROUSLY_DISABLE": "TRUE"}, "auth_dangerously_disabled", True),
    ({"SYSTEM_AUTH_DANGEROUSLY_DISABLE": "0"}, "auth_dangerously_disabled", False),
    ({"SYSTEM_MAX_REPLICAS": "4"}, "max_replicas", 4),
    ({}, "health_interval", 2.0),
    ({"SYSTEM_HEALTH_INTERVAL": "1.5"}, "health_interval", 1.5),
    ({"SYSTEM_HEALTH_INTERVAL": "0"}, "health_interval", 0.0),
    ({"FUNCTIONS_NETWORK": "faas_functions"}, "functions_network", "faas_functions"),
    ({"SYSTEM_SERVICE_PREFIX": "sys-"}, "service_prefix", "sys-"),
    ({"SYSTEM_AUTH_USER_FILE": "/tmp/u"}, "auth_user_file", "/tmp/u"),
    ({"DOCKER_HOST": "tcp://127.0.0.1:2375"}, "docker_url", "tcp://127.0.0.1:2375"),
    ({"SYSTEM_DOCKER_TIMEOUT": "5"}, "docker_timeout", 5.0),
    ({"SWARMFAAS_GIT_SHA": "abc123"}, "git_sha", "abc123"),
])
def test_settings_are_parsed(env, attr, expected):
    assert getattr(SystemApiConfig.from_env(env), attr) == expected


@pytest.mark.parametrize(("env", "setting"), [
    ({"SYSTEM_AUTH_DANGEROUSLY_DISABLE": "maybe"}, "SYSTEM_AUTH_DANGEROUSLY_DISABLE"),
    ({"SYSTEM_MAX_REPLICAS": "many"}, "SYSTEM_MAX_REPLICAS"),
    ({"SYSTEM_HEALTH_INTERVAL": "-1"}, "SYSTEM_HEALTH_INTERVAL"),
    ({"SYSTEM_HEALTH_INTERVAL": "2s"}, "SYSTEM_HEALTH_INTERVAL"),
    ({"SYSTEM_MAX_REPLICAS": "-1"}, "SYSTEM_MAX_REPLICAS"),
    ({"SYSTEM_MAX_REPLICAS": "100000"}, "SYSTEM_MAX_REPLICAS"),
    ({"SYSTEM_AUTH_USER_FILE": "relative/path"}, "SYSTEM_AUTH_USER_FILE"),
    ({"SYSTEM_AUTH_PASSWORD_FILE": ""}, "SYSTEM_AUTH_PASSWORD_FILE"),
    ({"SYSTEM_IMAGE_ALLOWLIST": "ok/*,has space"}, "SYSTEM_IMAGE_ALLOWLIST"),
    ({"SYSTEM_SECRET_ALLOWLIST": "a;b"}, "SYSTEM_SECRET_ALLOWLIST"),
    ({"FUNCTIONS_NETWORK": "no spaces"}, "FUNCTIONS_NETWORK"),
    ({"SYSTEM_SERVICE_PREFIX": "Upper-"}, "SYSTEM_SERVICE_PREFIX"),
    ({"SYSTEM_DOCKER_TIMEOUT": "0"}, "SYSTEM_DOCKER_TIMEOUT"),
    ({"DOCKER_HOST": " "}, "DOCKER_HOST"),
])
def test_bad_settings_fail_naming_the_setting(env, setting):
    with pytest.raises(SystemConfigError, match=setting):
        SystemApiConfig.from_env(env)


def test_config_is_frozen():
    config = SystemApiConfig.from_env({})
    with pytest.raises(AttributeError):
        config.max_replicas = 3  # type: ignore[misc]
