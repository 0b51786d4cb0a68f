"""Envelopes built with Amazon's SDK, signed as Amazon signs them.

Used by the unit, integration and end-to-end tests. The stand-in for Amazon's
PKI is certs/alexa_test_pki.py (scripts/deploy.sh runs it too); its names are
re-exported here for the tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "certs"))

from alexa_test_pki import (  # noqa: F401  (re-exported for the tests)
    ECHO_API,
    TestPKI,
    new_key,
    pem,
)

SKILL_ID = "amzn1.ask.skill.5a1e0000-0000-4000-8000-00000000e2e5"
CERT_URL = "https://s3.amazonaws.com/echo.api/echo-api-cert.pem"
UTC = dt.UTC


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


def sign(body: bytes, key: rsa.RSAPrivateKey) -> str:
    """Signature-256 as Amazon computes it."""
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def signed_headers(body: bytes, key: rsa.RSAPrivateKey, url: str = CERT_URL) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "SignatureCertChainUrl": url,
        "Signature-256": sign(body, key),
    }


def envelope(
    kind: str = "IntentRequest",
    intent: str = "HostnameIntent",
    skill_id: str = SKILL_ID,
    timestamp: dt.datetime | None = None,
    request_id: str | None = None,
) -> bytes:
    """A request envelope built with ask-sdk-model, serialised by ask-sdk-core."""
    from ask_sdk_core.serialize import DefaultSerializer
    from ask_sdk_model import (
        Application,
        Context,
        DialogState,
        Intent,
        IntentConfirmationStatus,
        IntentRequest,
        LaunchRequest,
        RequestEnvelope,
        Session,
        SessionEndedReason,
        SessionEndedRequest,
        Slot,
        User,
    )
    from ask_sdk_model.canfulfill import CanFulfillIntentRequest
    from ask_sdk_model.interfaces.system import SystemState

    app = Application(application_id=skill_id)
    user = User(user_id="amzn1.ask.account.TESTUSER")
    common = {
        "request_id": request_id or f"amzn1.echo-api.request.{uuid.uuid4()}",
        "timestamp": timestamp or _now(),
        "locale": "en-US",
    }
    slots = {"City": Slot(name="City", value="Leeds")}
    if kind == "IntentRequest":
        request = IntentRequest(
            dialog_state=DialogState.COMPLETED,
            intent=Intent(
                name=intent, slots=slots, confirmation_status=IntentConfirmationStatus.NONE
            ),
            **common,
        )
    elif kind == "CanFulfillIntentRequest":
        request = CanFulfillIntentRequest(intent=Intent(name=intent, slots=slots), **common)
    elif kind == "LaunchRequest":
        request = LaunchRequest(**common)
    elif kind == "SessionEndedRequest":
        request = SessionEndedRequest(reason=SessionEndedReason.USER_INITIATED, **common)
    else:
        raise ValueError(kind)
    env = RequestEnvelope(
        version="1.0",
        session=Session(
            new=kind == "LaunchRequest",
            session_id=f"amzn1.echo-api.session.{uuid.uuid4()}",
            application=app,
            user=user,
            attributes={},
        ),
        context=Context(system=SystemState(application=app, user=user)),
        request=request,
    )
    return json.dumps(DefaultSerializer().serialize(env)).encode()
