import os
import stat
from pathlib import Path

import pytest

from faas_cli.config import (
    DEFAULT_URL,
    config_path,
    load_file,
    normalize_url,
    resolve_gateway,
    save_file,
    with_login,
)
from faas_cli.errors import CliError, Exit

SAVED = {"default": "https://saved:8443",
         "gateways": {"https://saved:8443": {"user": "sam", "password": "s3cret", "ca": "/ca.pem"},
                      "https://other:1": {"user": "o", "password": "op"}}}
FILES = {"/pw": "frompw\n", "/pw2": "second\r\n"}


def read(path: str) -> str:
    if path not in FILES:
        raise FileNotFoundError(2, "No such file or directory")
    return FILES[path]


def resolve(flags=None, env=None, saved=None, stack_url=""):
    f = {"url": None, "user": None, "password_file": None, "ca": None, "insecure": False}
    f.update(flags or {})
    return resolve_gateway(**f, env=env or {}, saved=SAVED if saved is None else saved,
                           read=read, stack_url=stack_url)


@pytest.mark.parametrize(("flags", "env", "saved", "stack_url", "want"), [
    ({}, {}, {}, "", DEFAULT_URL),
    ({}, {}, {}, "http://stack:8080", "http://stack:8080"),
    # the gateway logged in to wins over a stack file's (faas-cli's default 127.0.0.1:8080)
    ({}, {}, None, "http://stack:8080", "https://saved:8443"),
    ({}, {"OPENFAAS_URL": "https://env:1/"}, None, "http://stack:8080", "https://env:1"),
    ({}, {"OPENFAAS_URL": "https://of:1", "SWARMFAAS_URL": "https://sf:1"}, None, "",
     "https://sf:1"),
    ({"url": "https://flag:2"}, {"OPENFAAS_URL": "https://env:1"}, None, "", "https://flag:2"),
])
def test_url_precedence(flags, env, saved, stack_url, want):
    assert resolve(flags, env, saved, stack_url).url == want


@pytest.mark.parametrize(("flags", "env", "user", "password", "ca"), [
    ({}, {}, "sam", "s3cret", "/ca.pem"),  # all from the saved login of the chosen URL
    ({"url": "https://other:1"}, {}, "o", "op", ""),
    ({"url": "https://unknown:1"}, {}, "admin", "", ""),  # nothing saved: default user
    ({}, {"SWARMFAAS_USER": "eve", "SWARMFAAS_PASSWORD_FILE": "/pw",
          "SWARMFAAS_CA": "/env-ca"}, "eve", "frompw", "/env-ca"),
    ({"user": "flag", "password_file": "/pw2", "ca": "/flag-ca"},
     {"SWARMFAAS_USER": "eve", "SWARMFAAS_PASSWORD_FILE": "/pw"}, "flag", "second", "/flag-ca"),
])
def test_credentials_precedence(flags, env, user, password, ca):
    gw = resolve(flags, env)
    assert (gw.user, gw.password, gw.ca) == (user, password, ca)


def test_password_never_in_repr():
    gw = resolve()
    assert "s3cret" not in repr(gw)


def test_insecure():
    assert resolve().verify is True
    assert resolve({"insecure": True}).verify is False


def test_missing_password_file_is_a_usage_error_naming_the_setting():
    with pytest.raises(CliError) as e:
        resolve({"password_file": "/nope"})
    assert e.value.code == Exit.USAGE
    assert "/nope" in e.value.message
    assert "SWARMFAAS_PASSWORD_FILE" in e.value.hint


@pytest.mark.parametrize(("url", "want"), [
    ("https://h:1/", "https://h:1"),
    (" http://h ", "http://h"),
])
def test_normalize_url(url, want):
    assert normalize_url(url) == want


def test_url_without_scheme():
    with pytest.raises(CliError) as e:
        normalize_url("localhost:8443")
    assert e.value.code == Exit.USAGE


@pytest.mark.parametrize(("env", "want"), [
    ({"SWARMFAAS_CONFIG": "/x/c.json"}, "/x/c.json"),
    ({"XDG_CONFIG_HOME": "/xdg", "HOME": "/h"}, "/xdg/swarmfaas/config.json"),
    ({"HOME": "/h"}, "/h/.config/swarmfaas/config.json"),
])
def test_config_path(env, want):
    assert str(config_path(env)) == want


def test_with_login_sets_default_and_keeps_others():
    gw = resolve({"url": "https://new:1", "password_file": "/pw"})
    doc = with_login(SAVED, gw)
    assert doc["default"] == "https://new:1"
    assert doc["gateways"]["https://new:1"] == {"user": "admin", "password": "frompw"}
    assert "https://other:1" in doc["gateways"]


def test_save_file_is_mode_600_and_round_trips(tmp_path: Path):
    path = tmp_path / "d" / "config.json"
    save_file(path, SAVED)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_file(path) == SAVED
    assert load_file(tmp_path / "missing.json") == {}


def test_load_file_rejects_bad_json(tmp_path: Path):
    path = tmp_path / "c.json"
    path.write_text("{nope")
    with pytest.raises(CliError) as e:
        load_file(path)
    assert e.value.code == Exit.USAGE
