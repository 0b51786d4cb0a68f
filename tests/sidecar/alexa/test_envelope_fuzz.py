"""Properties of the Alexa checks, searched with hypothesis: any body is a
summary or a documented rejection (400 invalid_alexa_envelope, 413
alexa_body_too_large), never an unhandled error that would be a 500; any
SignatureCertChainUrl is Amazon's canonical URL or alexa_cert_url_invalid /
alexa_signature_missing, and normalising is idempotent."""

from __future__ import annotations

import json

import alexa_signing
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from faas_sidecar.alexa.certurl import CANONICAL_PREFIX, normalise_cert_url, remove_dot_segments
from faas_sidecar.alexa.config import AlexaConfig
from faas_sidecar.alexa.envelope import AlexaRequest, load_validator, parse_envelope
from faas_sidecar.alexa.rejection import Rejected

MAX_BODY = 64 * 1024
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                               max_size=4),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def validator():  # type: ignore[no-untyped-def]
    return load_validator(AlexaConfig.from_env({}).resolved_schema_path())


def _mutated_envelope(path: list[str], value: object) -> bytes:
    """A real envelope (ask-sdk-model) with one field replaced by `value`."""
    doc = json.loads(alexa_signing.envelope("IntentRequest"))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(doc).encode()


FIELDS = st.sampled_from([
    ["version"], ["request"], ["request", "type"], ["request", "requestId"],
    ["request", "timestamp"], ["request", "intent"], ["request", "intent", "name"],
    ["session"], ["session", "application"], ["session", "application", "applicationId"],
    ["context"], ["context", "System", "application", "applicationId"],
])


def _check(raw: bytes, validator) -> None:  # type: ignore[no-untyped-def]
    try:
        got = parse_envelope(raw, validator, MAX_BODY)
    except Rejected as rejected:
        assert (rejected.status, rejected.code) in {(400, "invalid_alexa_envelope"),
                                                    (413, "alexa_body_too_large")}
        assert rejected.reason
        return
    assert isinstance(got, AlexaRequest) and got.application_id and got.request_type


@given(raw=st.one_of(st.binary(max_size=200), JSON.map(lambda d: json.dumps(d).encode())))
@example(raw=b"[" * 100_000)
@example(raw=b'{"a":' * 5000 + b"1" + b"}" * 5000)
@example(raw=b"\xff\xfe{")
@example(raw=b'{"version": NaN}')
@example(raw=b'{"version": ' + b"9" * 100_000 + b"}")  # over int()'s 4300-digit limit: was a 500
def test_any_body_is_an_envelope_or_a_documented_rejection(validator, raw: bytes) -> None:
    _check(raw, validator)


@given(path=FIELDS, value=JSON)
def test_a_real_envelope_with_any_field_changed_is_checked(validator, path, value) -> None:
    _check(_mutated_envelope(path, value), validator)


def test_a_nested_json_too_deep_to_parse_is_a_400_not_a_crash(validator) -> None:
    with pytest.raises(Rejected) as caught:
        parse_envelope(b"[" * 100_000 + b"]" * 100_000, validator, 1 << 20)
    assert caught.value.code == "invalid_alexa_envelope" and "deeply" in caught.value.reason


URL_PARTS = st.sampled_from(["https://", "http://", "HTTPS://", "s3.amazonaws.com",
                             "S3.AMAZONAWS.COM", ":443", ":80", "/echo.api/", "/ECHO.API/",
                             "..", "/", ".", "%2e", "?", "#", "@", "\\", " ", "\t",
                             "echo-api-cert.pem", "evil.example", "user:pw@", "[::1]", ":x"])
URLS = st.one_of(st.text(max_size=60), st.lists(URL_PARTS, max_size=10).map("".join))


@given(URLS)
@example("https://s3.amazonaws.com/echo.api/../echo.api/c.pem")
@example("https://s3.amazonaws.com:99999/echo.api/c.pem")
def test_a_cert_url_is_canonical_or_refused(url: str) -> None:
    try:
        got = normalise_cert_url(url)
    except Rejected as rejected:
        assert rejected.code in {"alexa_cert_url_invalid", "alexa_signature_missing"}
        return
    assert got.startswith(CANONICAL_PREFIX) and len(got) > len(CANONICAL_PREFIX)
    assert normalise_cert_url(got) == got  # idempotent


@given(st.lists(st.sampled_from(["a", "b", ".", "..", ""]), max_size=8).map(
    lambda segs: "/" + "/".join(segs)))
def test_removing_dot_segments_leaves_none_and_is_idempotent(path: str) -> None:
    got = remove_dot_segments(path)
    assert got.startswith("/")
    assert not {".", ".."} & set(got.split("/"))
    assert remove_dot_segments(got) == got
