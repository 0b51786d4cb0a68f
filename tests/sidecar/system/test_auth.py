"""Basic auth: header parsing, constant-time comparison, secret files."""

from __future__ import annotations

import base64

import pytest

from faas_sidecar.errors import PlatformError
from faas_sidecar.system.auth import (
    Credentials,
    CredentialsError,
    check_authorization,
    credentials_match,
    load_credentials,
    parse_basic_auth,
)

EXPECTED = Credentials(user=b"admin", password=b"pa:ss")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(("header", "expected"), [
    (None, None),
    ("", None),
    ("Bearer abc", None),
    ("Basic", None),
    ("Basic ", None),
    ("Basic !!notbase64!!", None),
    (f"Basic {b64(b'no-colon')}", None),
    (f"Basic {b64(b'admin:pa:ss')}", (b"admin", b"pa:ss")),  # split at the first colon
    (f"basic {b64(b'admin:')}", (b"admin", b"")),
    (f"  BASIC   {b64(b':x')}", (b"", b"x")),
])
def test_parse_basic_auth(header, expected):
    assert parse_basic_auth(header) == expected


@pytest.mark.parametrize(("given", "ok"), [
    ((b"admin", b"pa:ss"), True),
    ((b"admin", b"pa:sS"), False),
    ((b"Admin", b"pa:ss"), False),
    ((b"admin", b""), False),
    ((b"", b""), False),
    (None, False),
])
def test_credentials_match(given, ok):
    assert credentials_match(EXPECTED, given) is ok


@pytest.mark.parametrize("header", [None, "Basic " + b64(b"admin:wrong"), "Token x"])
def test_check_authorization_raises_401_with_challenge(header):
    with pytest.raises(PlatformError) as info:
        check_authorization(EXPECTED, header)
    assert info.value.status == 401
    assert info.value.code == "unauthorized"
    assert info.value.headers["WWW-Authenticate"] == 'Basic realm="swarmfaas"'
    assert "pa:ss" not in info.value.reason


def test_check_authorization_accepts_the_right_pair():
    check_authorization(EXPECTED, "Basic " + b64(b"admin:pa:ss"))


def test_credentials_never_show_in_repr():
    assert "pa:ss" not in repr(EXPECTED) and "admin" not in repr(EXPECTED)


def test_load_credentials_strips_only_the_line_end(tmp_path):
    (tmp_path / "u").write_bytes(b"admin\n")
    (tmp_path / "p").write_bytes(b" spaced pass \r\n")
    creds = load_credentials(str(tmp_path / "u"), str(tmp_path / "p"))
    assert (creds.user, creds.password) == (b"admin", b" spaced pass ")


@pytest.mark.parametrize(("user", "password", "setting"), [
    (None, b"x", "SYSTEM_AUTH_USER_FILE"),
    (b"x", None, "SYSTEM_AUTH_PASSWORD_FILE"),
    (b"\n", b"x", "SYSTEM_AUTH_USER_FILE"),
    (b"x", b"", "SYSTEM_AUTH_PASSWORD_FILE"),
])
def test_missing_or_empty_secret_files_name_the_setting(tmp_path, user, password, setting):
    for name, content in (("u", user), ("p", password)):
        if content is not None:
            (tmp_path / name).write_bytes(content)
    with pytest.raises(CredentialsError, match=setting):
        load_credentials(str(tmp_path / "u"), str(tmp_path / "p"))
