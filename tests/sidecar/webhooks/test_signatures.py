"""The signature schemes against their senders' published examples, and every
way a request can fail them (a table of cases each)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from faas_sidecar.webhooks.signatures import Scheme, standard_key, verify

# GitHub's example in "Validating webhook deliveries".
GH_SECRET = b"It's a Secret to Everybody"
GH_BODY = b"Hello, World!"
GH_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

# Slack's example in "Verifying requests from Slack".
SLACK_SECRET = b"8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = "1531420618"
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook"
    b"-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977"
    b"00885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d"
    b"10d2c447fce8b6703c")
SLACK_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

# The Standard Webhooks specification's example (as in its reference libraries' tests).
STD_SECRET = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STD_ID, STD_TS = "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330"
STD_BODY = b'{"test": 2432232314}'
STD_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# Stripe publishes the procedure, not a vector: t=<unix>,v1=hex(HMAC-SHA256(secret, "t.body")).
STRIPE_SECRET = b"whsec_test_stripe"
STRIPE_TS = "1700000000"
STRIPE_BODY = b'{"id": "evt_1", "object": "event"}'


def stripe_header(secret: bytes, stamp: str, body: bytes, extra: str = "") -> str:
    sig = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={sig}{extra}"


GH = Scheme("github")
SLACK = Scheme("slack")
STRIPE = Scheme("stripe")
STD = Scheme("standard")
HMAC_B64 = Scheme("hmac", header="x-signature", digest="sha512", encoding="base64",
                  prefix="sha512=", id_header="x-delivery")
HMAC_HEX = Scheme("hmac", header="x-sig", digest="sha1")


def b64mac(secret: bytes, body: bytes, digest: str) -> str:
    return base64.b64encode(hmac.new(secret, body, digest).digest()).decode()


# (id, scheme, secrets, headers, body, now, ok, cause, delivery)
CASES = [
    ("github vector", GH, [GH_SECRET], {"x-hub-signature-256": GH_SIG,
     "x-github-delivery": "d-1"}, GH_BODY, 0, True, "", "d-1"),
    ("github upper-case hex", GH, [GH_SECRET], {"x-hub-signature-256": GH_SIG.upper()
     .replace("SHA256=", "sha256=")}, GH_BODY, 0, True, "", None),
    ("github flipped byte", GH, [GH_SECRET], {"x-hub-signature-256": GH_SIG},
     b"Hello, World?", 0, False, "mismatch", None),
    ("github wrong secret", GH, [b"not it"], {"x-hub-signature-256": GH_SIG}, GH_BODY, 0,
     False, "mismatch", None),
    ("github rotation: old and new secret", GH, [b"new one", GH_SECRET],
     {"x-hub-signature-256": GH_SIG}, GH_BODY, 0, True, "", None),
    ("github missing header", GH, [GH_SECRET], {}, GH_BODY, 0, False, "missing", None),
    ("github sha1 header only", GH, [GH_SECRET], {"x-hub-signature": "sha1=00"}, GH_BODY, 0,
     False, "missing", None),
    ("github no prefix", GH, [GH_SECRET], {"x-hub-signature-256": GH_SIG[7:]}, GH_BODY, 0,
     False, "malformed", None),
    ("slack vector", SLACK, [SLACK_SECRET], {"x-slack-signature": SLACK_SIG,
     "x-slack-request-timestamp": SLACK_TS}, SLACK_BODY, 1531420618 + 60, True, "", None),
    ("slack stale", SLACK, [SLACK_SECRET], {"x-slack-signature": SLACK_SIG,
     "x-slack-request-timestamp": SLACK_TS}, SLACK_BODY, 1531420618 + 301, False, "stale",
     None),
    ("slack from the future", SLACK, [SLACK_SECRET], {"x-slack-signature": SLACK_SIG,
     "x-slack-request-timestamp": SLACK_TS}, SLACK_BODY, 1531420618 - 301, False, "stale",
     None),
    ("slack timestamp changed", SLACK, [SLACK_SECRET], {"x-slack-signature": SLACK_SIG,
     "x-slack-request-timestamp": "1531420619"}, SLACK_BODY, 1531420618, False, "mismatch",
     None),
    ("slack no timestamp", SLACK, [SLACK_SECRET], {"x-slack-signature": SLACK_SIG},
     SLACK_BODY, 1531420618, False, "missing", None),
    ("slack timestamp not a number", SLACK, [SLACK_SECRET], {"x-slack-signature": SLACK_SIG,
     "x-slack-request-timestamp": "yesterday"}, SLACK_BODY, 1531420618, False, "malformed",
     None),
    ("slack flipped byte", SLACK, [SLACK_SECRET], {"x-slack-signature": SLACK_SIG,
     "x-slack-request-timestamp": SLACK_TS}, SLACK_BODY[:-1] + b"d", 1531420618, False,
     "mismatch", None),
    ("standard vector", STD, [STD_SECRET], {"webhook-id": STD_ID, "webhook-timestamp": STD_TS,
     "webhook-signature": STD_SIG}, STD_BODY, 1614265330, True, "", STD_ID),
    ("standard several signatures", STD, [STD_SECRET], {"webhook-id": STD_ID,
     "webhook-timestamp": STD_TS, "webhook-signature": "v1,Zm9v " + STD_SIG + " v2,x"},
     STD_BODY, 1614265330, True, "", STD_ID),
    ("standard id changed", STD, [STD_SECRET], {"webhook-id": "msg_other",
     "webhook-timestamp": STD_TS, "webhook-signature": STD_SIG}, STD_BODY, 1614265330, False,
     "mismatch", "msg_other"),
    ("standard stale", STD, [STD_SECRET], {"webhook-id": STD_ID, "webhook-timestamp": STD_TS,
     "webhook-signature": STD_SIG}, STD_BODY, 1614265330 + 600, False, "stale", None),
    ("standard no v1", STD, [STD_SECRET], {"webhook-id": STD_ID, "webhook-timestamp": STD_TS,
     "webhook-signature": "v2,abc"}, STD_BODY, 1614265330, False, "malformed", None),
    ("standard no id", STD, [STD_SECRET], {"webhook-timestamp": STD_TS,
     "webhook-signature": STD_SIG}, STD_BODY, 1614265330, False, "missing", None),
    ("stripe", STRIPE, [STRIPE_SECRET], {"stripe-signature": stripe_header(
        STRIPE_SECRET, STRIPE_TS, STRIPE_BODY, ",v0=ignored")}, STRIPE_BODY, 1700000100, True,
     "", None),
    ("stripe second v1 matches", STRIPE, [STRIPE_SECRET], {"stripe-signature": "v1=00," +
     stripe_header(STRIPE_SECRET, STRIPE_TS, STRIPE_BODY)}, STRIPE_BODY, 1700000000, True, "",
     None),
    ("stripe stale", STRIPE, [STRIPE_SECRET], {"stripe-signature": stripe_header(
        STRIPE_SECRET, STRIPE_TS, STRIPE_BODY)}, STRIPE_BODY, 1700000301, False, "stale", None),
    ("stripe flipped byte", STRIPE, [STRIPE_SECRET], {"stripe-signature": stripe_header(
        STRIPE_SECRET, STRIPE_TS, STRIPE_BODY)}, STRIPE_BODY + b" ", 1700000000, False,
     "mismatch", None),
    ("stripe two timestamps", STRIPE, [STRIPE_SECRET], {"stripe-signature": "t=1,t=2,v1=00"},
     STRIPE_BODY, 1, False, "malformed", None),
    ("stripe no v1", STRIPE, [STRIPE_SECRET], {"stripe-signature": "t=1700000000,v0=00"},
     STRIPE_BODY, 1700000000, False, "malformed", None),
    ("hmac base64 sha512 with prefix", HMAC_B64, [b"k"], {"x-signature": "sha512=" + b64mac(
        b"k", b"payload", "sha512"), "x-delivery": "42"}, b"payload", 0, True, "", "42"),
    ("hmac base64 without its prefix", HMAC_B64, [b"k"], {"x-signature": b64mac(
        b"k", b"payload", "sha512")}, b"payload", 0, False, "malformed", None),
    ("hmac hex sha1", HMAC_HEX, [b"k"], {"x-sig": hmac.new(b"k", b"p", "sha1").hexdigest()},
     b"p", 0, True, "", None),
    ("hmac hex sha1 wrong digest", HMAC_HEX, [b"k"], {"x-sig": hmac.new(
        b"k", b"p", "sha256").hexdigest()}, b"p", 0, False, "mismatch", None),
    ("hmac missing header", HMAC_HEX, [b"k"], {}, b"p", 0, False, "missing", None),
]


@pytest.mark.parametrize(("scheme", "secrets", "headers", "body", "now", "ok", "cause",
                          "delivery"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_schemes(scheme, secrets, headers, body, now, ok, cause, delivery):
    verdict = verify(scheme, secrets, headers, body, now)
    assert (verdict.ok, verdict.cause) == (ok, cause), verdict.reason
    assert (verdict.reason == "") == ok
    if ok or cause == "mismatch":
        assert verdict.delivery_id == delivery


def test_a_reason_never_shows_the_secret_or_the_expected_signature():
    verdict = verify(GH, [GH_SECRET], {"x-hub-signature-256": "sha256=00"}, GH_BODY, 0)
    assert GH_SECRET.decode() not in verdict.reason and GH_SIG[7:] not in verdict.reason


@pytest.mark.parametrize(("secret", "key"), [
    (b"whsec_" + base64.b64encode(b"raw key"), b"raw key"),
    (b"whsec_not base64!", b"whsec_not base64!"),  # not the scheme's form: used as it is
    (b"plain", b"plain"),
])
def test_standard_secret_forms(secret, key):
    assert standard_key(secret) == key
