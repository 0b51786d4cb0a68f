"""/system/secrets, pure parts: names, bodies, and that a value is never shown."""

from __future__ import annotations

import base64

import pytest

from faas_sidecar.errors import PlatformError
from faas_sidecar.system.secrets import (
    SecretRequest,
    describe,
    docker_name,
    is_platform_secret,
    parse_secret,
    platform_labels,
)

PREFIX = "swarmfaas-fn-"
VALUE = "s3cret-válue-1234"


@pytest.mark.parametrize(("doc", "expected"), [
    ({"name": "api-key", "value": VALUE}, SecretRequest("api-key", VALUE.encode())),
    ({"name": "a", "value": "x"}, SecretRequest("a", b"x")),
    ({"name": "A_b.c-1", "value": "x", "namespace": "openfaas-fn"},
     SecretRequest("A_b.c-1", b"x")),
    ({"name": "bin", "rawValue": base64.b64encode(b"\x00\xff").decode()},
     SecretRequest("bin", b"\x00\xff")),
    ({"name": "n" * (64 - len(PREFIX)), "value": "x"},
     SecretRequest("n" * (64 - len(PREFIX)), b"x")),
])
def test_parse_secret(doc, expected):
    assert parse_secret(doc, PREFIX, with_value=True) == expected


@pytest.mark.parametrize(("doc", "status", "words"), [
    ([], 400, "object"),
    ({"value": VALUE}, 400, "name"),
    ({"name": "", "value": VALUE}, 400, "name"),
    ({"name": "-x", "value": VALUE}, 400, "name"),
    ({"name": "x-", "value": VALUE}, 400, "name"),
    ({"name": "a/b", "value": VALUE}, 400, "name"),
    ({"name": "n" * (65 - len(PREFIX)), "value": VALUE}, 400, "at most"),
    ({"name": "k"}, 400, "exactly one"),
    ({"name": "k", "value": VALUE, "rawValue": "eA=="}, 400, "exactly one"),
    ({"name": "k", "value": ""}, 400, "empty"),
    ({"name": "k", "value": 5}, 400, "string"),
    ({"name": "k", "rawValue": "not base64!"}, 400, "base64"),
    ({"name": "k", "value": "x" * (500 * 1024 + 1)}, 400, "500 KiB"),
    ({"name": "k", "value": VALUE, "labels": {}}, 400, "unknown field"),
    ({"name": "k", "value": VALUE, "namespace": "other"}, 404, "namespace"),
])
def test_parse_secret_rejects_without_echoing_the_value(doc, status, words):
    with pytest.raises(PlatformError) as info:
        parse_secret(doc, PREFIX, with_value=True)
    assert info.value.status == status and words in info.value.reason
    assert VALUE not in info.value.reason


def test_remove_takes_a_name_only():
    assert parse_secret({"name": "k"}, PREFIX, with_value=False) == SecretRequest("k")
    with pytest.raises(PlatformError):
        parse_secret({"name": "k", "value": VALUE}, PREFIX, with_value=False)


def test_a_value_is_never_in_a_repr():
    secret = parse_secret({"name": "k", "value": VALUE}, PREFIX, with_value=True)
    assert VALUE not in repr(secret) and VALUE not in str(secret)


def test_platform_secrets_are_prefixed_and_labelled():
    name = docker_name(PREFIX, "api-key")
    assert name == "swarmfaas-fn-api-key"
    ours = {"ID": "s1", "Spec": {"Name": name, "Labels": platform_labels()}}
    assert is_platform_secret(ours, PREFIX)
    assert describe(ours, PREFIX) == {"name": "api-key", "namespace": "swarmfaas-fn"}
    assert not is_platform_secret({"Spec": {"Name": name}}, PREFIX)
    assert not is_platform_secret({"Spec": {"Name": "faas_basic-auth-password",
                                            "Labels": platform_labels()}}, PREFIX)
