"""The engine gate's token: read from its file once, checked in constant time,
kept out of every config's repr, and read the same way by all three configs."""

from __future__ import annotations

import pytest

from faas_sidecar.config import ConfigError, load_config
from faas_sidecar.enginetoken import SETTING, authorize, presented, read_token
from faas_sidecar.gate.config import GateConfig, GateConfigError
from faas_sidecar.system.config import SystemApiConfig, SystemConfigError

TOKEN = "s3cr3t-t0ken-0123456789"


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "engine-gate-token"
    path.write_text(TOKEN + "\n")
    return str(path)


def test_unset_means_no_token():
    assert read_token({}, ValueError) is None
    assert read_token({SETTING: "  "}, ValueError) is None


def test_the_file_is_read_and_stripped(token_file):
    assert read_token({SETTING: token_file}, ValueError) == TOKEN


@pytest.mark.parametrize(("content", "why"), [
    ("", "at least 16"),
    ("short", "at least 16"),
    ("has a space inside it, long enough", "without spaces"),
    ("tab\tinside-it-long-enough", "without spaces"),
    ("bell\x07inside-it-long-enough", "printable"),
])
def test_a_bad_token_names_the_setting(tmp_path, content, why):
    path = tmp_path / "t"
    path.write_text(content)
    with pytest.raises(ValueError, match=why) as info:
        read_token({SETTING: str(path)}, ValueError)
    assert SETTING in str(info.value)
    if content:
        assert content not in str(info.value)  # the message never shows the file's content


def test_a_missing_file_names_the_setting(tmp_path):
    with pytest.raises(ValueError, match=f"{SETTING}=.*cannot read the token"):
        read_token({SETTING: str(tmp_path / "nowhere")}, ValueError)


@pytest.mark.parametrize(("header", "ok"), [
    (f"Bearer {TOKEN}".encode(), True),
    (f"Bearer {TOKEN} ".encode(), True),          # surrounding blanks are not the token
    (None, False),
    (b"", False),
    (TOKEN.encode(), False),                      # no scheme
    (f"Basic {TOKEN}".encode(), False),
    (f"Bearer {TOKEN}x".encode(), False),
    (f"Bearer {TOKEN[:-1]}".encode(), False),
    (f"bearer {TOKEN}".encode(), False),
])
def test_presented(header, ok):
    assert presented(header, TOKEN) is ok


def test_authorize_sets_the_header_only_with_a_token():
    headers: dict[str, str] = {}
    authorize(headers, None)
    assert headers == {}
    authorize(headers, TOKEN)
    assert headers == {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(("load", "error"), [
    (lambda env: load_config({"FUNCTIONS_NETWORK": "n", **env}).engine_token, ConfigError),
    (lambda env: GateConfig.from_env({"FUNCTIONS_NETWORK": "n", **env}).token,
     GateConfigError),
    (lambda env: SystemApiConfig.from_env(env).engine_token, SystemConfigError),
], ids=["sidecar", "gate", "system-api"])
def test_every_config_reads_it_and_fails_with_its_own_error(tmp_path, token_file, load, error):
    assert load({}) is None
    assert load({SETTING: token_file}) == TOKEN
    with pytest.raises(error, match=SETTING):
        load({SETTING: str(tmp_path / "nowhere")})


def test_no_config_shows_the_token(token_file):
    env = {"FUNCTIONS_NETWORK": "n", SETTING: token_file}
    for config in (load_config(env), GateConfig.from_env(env), SystemApiConfig.from_env(env)):
        assert TOKEN not in repr(config) and TOKEN not in str(config)
