"""Alexa request envelopes: bytes in, a validated summary out (pure).

The schema (schemas/alexa-request.schema.json) is compiled once at start-up;
``parse_envelope`` is then called per request with the raw body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from . import rejection

INTENT_TYPES = frozenset({"IntentRequest", "CanFulfillIntentRequest"})


@dataclass(frozen=True, slots=True)
class AlexaRequest:
    """What routing and verification need from an envelope."""

    request_type: str
    request_id: str
    timestamp: str
    application_id: str
    intent: str | None = None  # set for IntentRequest and CanFulfillIntentRequest


def load_validator(path: Path) -> Draft202012Validator:
    """Read and compile the schema; a broken schema fails start-up, not a request."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def parse_envelope(raw: bytes, validator: Draft202012Validator, max_body: int) -> AlexaRequest:
    if len(raw) > max_body:
        raise rejection.body_too_large(f"the body has {len(raw)} bytes, over the {max_body} limit")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON, or an integer over Python's digit limit
        raise rejection.invalid_envelope(f"the body is not JSON: {exc}") from None
    except RecursionError:  # nested deeper than the parser's stack; no envelope is
        raise rejection.invalid_envelope("the body is JSON nested too deeply") from None
    error = best_match(validator.iter_errors(doc))
    if error is not None:
        raise rejection.invalid_envelope(describe(error))
    return summarise(doc)


def describe(error: ValidationError) -> str:
    """One sentence with the JSON path of the failing field."""
    path = error.json_path
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        if missing:
            return f"{path}.{missing[0]} is required"
    message = error.message
    if len(message) > 200:  # the message quotes the instance, which may be huge
        message = message[:200] + "..."
    return f"{path}: {message}"


def summarise(doc: dict[str, Any]) -> AlexaRequest:
    request = doc["request"]
    session_app = (doc.get("session") or {}).get("application", {}).get("applicationId")
    context_app = (
        (doc.get("context") or {}).get("System", {}).get("application", {}).get("applicationId")
    )
    if session_app and context_app and session_app != context_app:
        raise rejection.invalid_envelope(
            "$.session.application.applicationId differs from "
            "$.context.System.application.applicationId"
        )
    intent = request["intent"]["name"] if request["type"] in INTENT_TYPES else None
    return AlexaRequest(
        request_type=request["type"],
        request_id=request["requestId"],
        timestamp=request["timestamp"],
        application_id=session_app or context_app,
        intent=intent,
    )
