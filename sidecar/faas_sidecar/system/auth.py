"""HTTP basic authentication for the system API.

Credentials come from files (Docker secrets), are compared in constant time,
and never appear in a log line, an error message or a repr.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field

from faas_sidecar import errors
from faas_sidecar.errors import PlatformError

from .config import SystemConfigError

REALM = "swarmfaas"
CHALLENGE = {"WWW-Authenticate": f'Basic realm="{REALM}"'}


@dataclass(frozen=True, slots=True)
class Credentials:
    user: bytes = field(repr=False)
    password: bytes = field(repr=False)


class CredentialsError(SystemConfigError):
    """The credential files are missing or empty; the message names the setting."""


def read_secret_file(path: str, setting: str) -> bytes:
    """One secret from a file, without the trailing line end editors add."""
    try:
        with open(path, "rb") as handle:
            value = handle.read()
    except OSError as exc:
        raise CredentialsError(
            f"cannot read {setting}={path} ({exc.strerror}); create the Docker secret, "
            "or set SYSTEM_AUTH_DANGEROUSLY_DISABLE=true to run the system API "
            "without authentication (dangerous)"
        ) from None
    value = value.rstrip(b"\r\n")
    if not value:
        raise CredentialsError(f"{setting}={path} is empty")
    return value


def load_credentials(user_file: str, password_file: str) -> Credentials:
    return Credentials(
        user=read_secret_file(user_file, "SYSTEM_AUTH_USER_FILE"),
        password=read_secret_file(password_file, "SYSTEM_AUTH_PASSWORD_FILE"),
    )


def parse_basic_auth(header: str | None) -> tuple[bytes, bytes] | None:
    """``Authorization: Basic base64(user:password)`` -> (user, password), or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    return user, password


def credentials_match(expected: Credentials, given: tuple[bytes, bytes] | None) -> bool:
    if given is None:
        return False
    # Compare both halves every time, so timing says nothing about which was wrong.
    user_ok = hmac.compare_digest(expected.user, given[0])
    password_ok = hmac.compare_digest(expected.password, given[1])
    return user_ok & password_ok


def unauthorized(reason: str) -> PlatformError:
    return errors.unauthorized(reason, CHALLENGE)


def check_authorization(expected: Credentials, header: str | None) -> None:
    """Raise 401 unless ``header`` carries exactly the expected credentials."""
    given = parse_basic_auth(header)
    if given is None:
        raise unauthorized("the system API needs HTTP basic authentication")
    if not credentials_match(expected, given):
        raise unauthorized("wrong user name or password")
