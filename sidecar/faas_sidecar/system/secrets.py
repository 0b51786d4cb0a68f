"""/system/secrets, pure parts: names, request bodies and what is shown.

A secret made through the API is the Docker secret ``<SYSTEM_SECRET_PREFIX><name>``
labelled ``swarmfaas.secret=true``; only such secrets are listed, replaced or
removed, so the platform's own secrets (the basic-auth password, the gate's
tokens) are out of reach. A value is never returned, never logged and never
in a ``repr``. No IO here; tested by table in tests/sidecar/system/test_secrets.py.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from faas_sidecar.errors import invalid_request
from faas_sidecar.gate.policy import is_platform_secret
from faas_sidecar.labels import SECRET
from faas_sidecar.routing import NAMESPACE, check_namespace

__all__ = ["SecretRequest", "describe", "docker_name", "is_platform_secret", "parse_secret",
           "platform_labels", "validate_secret_name"]

DOCKER_NAME_MAX = 64
MAX_VALUE = 500 * 1024  # Docker's limit on a secret's data
_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")
_FIELDS = frozenset({"name", "namespace", "value", "rawValue"})


@dataclass(frozen=True, slots=True)
class SecretRequest:
    name: str
    value: bytes = field(default=b"", repr=False)  # never shown


def validate_secret_name(name: Any, prefix: str) -> str:
    """A secret's name as the API shows it; with ``prefix`` it must fit Docker's 64."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise invalid_request("name: a secret name is [A-Za-z0-9_.-], starting and ending "
                              f"with a letter or digit, got {str(name)[:80]!r}")
    room = DOCKER_NAME_MAX - len(prefix)
    if len(name) > room:
        raise invalid_request(f"name: at most {room} characters (Docker's 64, less the "
                              f"prefix {prefix!r})")
    return name


def docker_name(prefix: str, name: str) -> str:
    return prefix + name


def platform_labels() -> dict[str, str]:
    """The labels of every secret the API makes (the gate requires exactly these)."""
    return {SECRET: "true"}


def parse_secret(doc: Any, prefix: str, *, with_value: bool) -> SecretRequest:
    """A Secret (POST, PUT: ``with_value``) or SecretDescription (DELETE) body."""
    if not isinstance(doc, dict):
        raise invalid_request("the body must be a JSON object")
    unknown = sorted(set(doc) - _FIELDS)
    if unknown:
        raise invalid_request(f"unknown field(s): {', '.join(unknown)}")
    name = validate_secret_name(doc.get("name"), prefix)
    if doc.get("namespace"):
        check_namespace(str(doc["namespace"]))
    if not with_value:
        if "value" in doc or "rawValue" in doc:
            raise invalid_request("a secret is removed by name only: send no value")
        return SecretRequest(name)
    value, raw = doc.get("value"), doc.get("rawValue")
    if (value is None) == (raw is None):
        raise invalid_request("give the secret's value in exactly one of value (text) "
                              "and rawValue (base64)")
    if value is not None:
        if not isinstance(value, str):
            raise invalid_request("value: must be a string (use rawValue for bytes)")
        data = value.encode("utf-8")
    else:
        if not isinstance(raw, str):
            raise invalid_request("rawValue: must be a base64 string")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise invalid_request("rawValue: is not valid base64") from None
    if not data:
        raise invalid_request("the secret's value is empty (Docker keeps no empty secret)")
    if len(data) > MAX_VALUE:
        raise invalid_request(f"the secret's value is over {MAX_VALUE // 1024} KiB "
                              "(Docker's limit)")
    return SecretRequest(name, data)


def describe(attrs: Mapping[str, Any], prefix: str) -> dict[str, str]:
    """OpenFaaS's SecretDescription of a platform secret: its name and namespace."""
    name = str((attrs.get("Spec") or {}).get("Name", ""))
    return {"name": name[len(prefix):], "namespace": NAMESPACE}
