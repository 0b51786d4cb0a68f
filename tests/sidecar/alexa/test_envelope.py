"""The envelope schema against envelopes built with Amazon's ask-sdk-model."""

from __future__ import annotations

import json
from typing import Any

import alexa_signing
import pytest

from faas_sidecar.alexa.config import AlexaConfig
from faas_sidecar.alexa.envelope import load_validator, parse_envelope
from faas_sidecar.alexa.rejection import Rejected

MAX_BODY = 128 * 1024


@pytest.fixture(scope="module")
def validator():  # type: ignore[no-untyped-def]
    return load_validator(AlexaConfig.from_env({}).resolved_schema_path())


@pytest.mark.parametrize(
    ("kind", "intent"),
    [
        ("LaunchRequest", None),
        ("IntentRequest", "HostnameIntent"),
        ("IntentRequest", "AMAZON.HelpIntent"),
        ("CanFulfillIntentRequest", "HostnameIntent"),
        ("SessionEndedRequest", None),
    ],
)
def test_sdk_envelopes_are_accepted(validator, kind: str, intent: str | None) -> None:  # type: ignore[no-untyped-def]
    raw = alexa_signing.envelope(kind, intent=intent or "Unused")
    request = parse_envelope(raw, validator, MAX_BODY)
    assert request.request_type == kind
    assert request.intent == intent
    assert request.application_id == alexa_signing.SKILL_ID
    assert request.request_id == json.loads(raw)["request"]["requestId"]


def test_unknown_fields_are_allowed(validator) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(alexa_signing.envelope())
    doc["newTopLevelThing"] = {"x": 1}
    doc["request"]["brandNewField"] = [1, 2]
    doc["context"]["Viewport"] = {"shape": "ROUND"}
    assert parse_envelope(json.dumps(doc).encode(), validator, MAX_BODY).intent == "HostnameIntent"


def test_other_request_types_pass_to_the_default(validator) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(alexa_signing.envelope("LaunchRequest"))
    doc["request"]["type"] = "Alexa.Presentation.APL.UserEvent"
    request = parse_envelope(json.dumps(doc).encode(), validator, MAX_BODY)
    assert (request.request_type, request.intent) == ("Alexa.Presentation.APL.UserEvent", None)


def test_context_alone_names_the_skill(validator) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(alexa_signing.envelope())
    del doc["session"]
    assert parse_envelope(json.dumps(doc).encode(), validator, MAX_BODY).application_id


def _drop(doc: dict[str, Any], *path: str) -> None:
    for key in path[:-1]:
        doc = doc[key]
    del doc[path[-1]]


def _put(doc: dict[str, Any], value: Any, *path: str) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


BROKEN = [
    # (what, edit, text expected in the reason)
    ("missing request.type", lambda d: _drop(d, "request", "type"), "$.request.type is required"),
    ("missing request", lambda d: _drop(d, "request"), "$.request is required"),
    ("missing version", lambda d: _drop(d, "version"), "$.version is required"),
    ("missing requestId", lambda d: _drop(d, "request", "requestId"), "$.request.requestId"),
    ("missing timestamp", lambda d: _drop(d, "request", "timestamp"), "$.request.timestamp"),
    ("intent missing", lambda d: _drop(d, "request", "intent"), "$.request.intent is required"),
    (
        "intent name missing",
        lambda d: _drop(d, "request", "intent", "name"),
        "$.request.intent.name",
    ),
    ("version a number", lambda d: _put(d, 1, "version"), "$.version"),
    ("type a number", lambda d: _put(d, 7, "request", "type"), "$.request.type"),
    (
        "timestamp a number",
        lambda d: _put(d, 1700000000, "request", "timestamp"),
        "$.request.timestamp",
    ),
    (
        "timestamp not a date",
        lambda d: _put(d, "yesterday", "request", "timestamp"),
        "$.request.timestamp",
    ),
    (
        "intent name a list",
        lambda d: _put(d, ["x"], "request", "intent", "name"),
        "$.request.intent.name",
    ),
    (
        "intent name odd",
        lambda d: _put(d, "x y", "request", "intent", "name"),
        "$.request.intent.name",
    ),
    ("slots a list", lambda d: _put(d, [], "request", "intent", "slots"), "$.request.intent.slots"),
    ("slot without name", lambda d: _drop(d, "request", "intent", "slots", "City", "name"), "City"),
    (
        "bad dialogState",
        lambda d: _put(d, "DONE", "request", "dialogState"),
        "$.request.dialogState",
    ),
    ("session a string", lambda d: _put(d, "s", "session"), "$.session"),
    ("request a list", lambda d: _put(d, [], "request"), "$.request"),
    (
        "app id a number",
        lambda d: _put(d, 5, "session", "application", "applicationId"),
        "applicationId",
    ),
    (
        "no application id at all",
        lambda d: (
            _drop(d, "session", "application"),
            _drop(d, "context", "System", "application"),
        ),
        "$",
    ),
    (
        "application ids disagree",
        lambda d: _put(
            d, "amzn1.ask.skill.other", "context", "System", "application", "applicationId"
        ),
        "differs",
    ),
]


@pytest.mark.parametrize(("what", "edit", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_envelopes_are_rejected_with_the_path(validator, what, edit, expected) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(alexa_signing.envelope())
    edit(doc)
    with pytest.raises(Rejected) as caught:
        parse_envelope(json.dumps(doc).encode(), validator, MAX_BODY)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_alexa_envelope"
    assert expected in caught.value.reason


def test_bad_session_ended_reason(validator) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(alexa_signing.envelope("SessionEndedRequest"))
    doc["request"]["reason"] = "BORED"
    with pytest.raises(Rejected, match=r"\$\.request\.reason"):
        parse_envelope(json.dumps(doc).encode(), validator, MAX_BODY)


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b'{"version": ', b"\xff\xfe\x00", b"[]", b'"a string"', b"null"],
)
def test_non_envelopes_are_rejected(validator, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Rejected) as caught:
        parse_envelope(raw, validator, MAX_BODY)
    assert (caught.value.status, caught.value.code) == (400, "invalid_alexa_envelope")


def test_ten_megabytes_is_rejected_before_parsing(validator) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(alexa_signing.envelope())
    doc["padding"] = "x" * (10 * 1024 * 1024)
    with pytest.raises(Rejected) as caught:
        parse_envelope(json.dumps(doc).encode(), validator, MAX_BODY)
    assert (caught.value.status, caught.value.code) == (413, "alexa_body_too_large")
