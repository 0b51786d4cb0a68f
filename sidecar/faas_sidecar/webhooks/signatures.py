"""Webhook signature checks (pure): a scheme, the secrets, the request's
headers and raw body in, a verdict out.

Each scheme is the sender's published one: GitHub's ``X-Hub-Signature-256``,
Slack's v0, Stripe's ``Stripe-Signature``, Standard Webhooks, and a generic
HMAC whose header, digest, encoding and prefix are configured. Every
comparison is ``hmac.compare_digest``, every secret of a rotation is tried,
and a scheme with a timestamp refuses one outside its tolerance. The check
sees the body's bytes exactly as they came, before anything parses them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

SCHEMES = ("github", "slack", "stripe", "standard", "hmac")
DIGESTS = ("sha1", "sha256", "sha512")
ENCODINGS = ("hex", "base64")
DEFAULT_TOLERANCE = 300.0  # seconds; Slack's, Stripe's and Standard Webhooks' own


@dataclass(frozen=True, slots=True)
class Scheme:
    """How one function's senders sign (its ``swarmfaas.webhook.*`` labels)."""

    kind: str  # one of SCHEMES
    tolerance: float = DEFAULT_TOLERANCE
    # the generic HMAC scheme only:
    header: str = ""  # lower case
    digest: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""
    id_header: str = ""  # lower case; "" when the sender sends no delivery id


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""  # why not, for the 401 and the failure metric
    cause: str = ""  # a short label: missing, malformed, stale, mismatch
    delivery_id: str | None = None  # the sender's id of this delivery, for replays


Headers = Mapping[str, str]  # names in lower case


def verify(scheme: Scheme, secrets: Sequence[bytes], headers: Headers, body: bytes,
           now: float) -> Verdict:
    """Whether ``body`` with ``headers`` is signed by one of ``secrets``."""
    return _CHECKS[scheme.kind](scheme, secrets, headers, body, now)


# -- the schemes -------------------------------------------------------------------

def _github(scheme: Scheme, secrets: Sequence[bytes], headers: Headers, body: bytes,
            now: float) -> Verdict:
    delivery = headers.get("x-github-delivery")
    given = headers.get("x-hub-signature-256")
    if given is None:
        return _missing("X-Hub-Signature-256")
    if not given.startswith("sha256="):
        return _malformed("X-Hub-Signature-256 does not start with sha256=")
    return _match(secrets, [given[7:].strip().lower()],
                  lambda key: _mac(key, body, "sha256").hex(), delivery)


def _slack(scheme: Scheme, secrets: Sequence[bytes], headers: Headers, body: bytes,
           now: float) -> Verdict:
    given = headers.get("x-slack-signature")
    stamp = headers.get("x-slack-request-timestamp")
    if given is None:
        return _missing("X-Slack-Signature")
    if stamp is None:
        return _missing("X-Slack-Request-Timestamp")
    stale = _stale(stamp, now, scheme.tolerance, "X-Slack-Request-Timestamp")
    if stale:
        return stale
    if not given.startswith("v0="):
        return _malformed("X-Slack-Signature does not start with v0=")
    signed = b"v0:" + stamp.strip().encode() + b":" + body
    return _match(secrets, [given[3:].strip().lower()],
                  lambda key: _mac(key, signed, "sha256").hex(), None)


def _stripe(scheme: Scheme, secrets: Sequence[bytes], headers: Headers, body: bytes,
            now: float) -> Verdict:
    given = headers.get("stripe-signature")
    if given is None:
        return _missing("Stripe-Signature")
    fields: dict[str, list[str]] = {}
    for part in given.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(key, []).append(value.strip())
    stamps, candidates = fields.get("t", []), fields.get("v1", [])
    if len(stamps) != 1 or not candidates:
        return _malformed("Stripe-Signature needs one t= and at least one v1=")
    stale = _stale(stamps[0], now, scheme.tolerance, "Stripe-Signature's t=")
    if stale:
        return stale
    signed = stamps[0].encode() + b"." + body
    return _match(secrets, [c.lower() for c in candidates],
                  lambda key: _mac(key, signed, "sha256").hex(), None)


def _standard(scheme: Scheme, secrets: Sequence[bytes], headers: Headers, body: bytes,
              now: float) -> Verdict:
    wid = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    given = headers.get("webhook-signature")
    for name, value in (("webhook-id", wid), ("webhook-timestamp", stamp),
                        ("webhook-signature", given)):
        if value is None:
            return _missing(name)
    assert wid is not None and stamp is not None and given is not None
    stale = _stale(stamp, now, scheme.tolerance, "webhook-timestamp")
    if stale:
        return stale
    candidates = [sig for version, _, sig in (item.partition(",") for item in given.split())
                  if version == "v1" and sig]
    if not candidates:
        return _malformed("webhook-signature has no v1 signature")
    signed = wid.encode() + b"." + stamp.strip().encode() + b"." + body
    return _match([standard_key(s) for s in secrets], candidates,
                  lambda key: base64.b64encode(_mac(key, signed, "sha256")).decode(), wid)


def _generic(scheme: Scheme, secrets: Sequence[bytes], headers: Headers, body: bytes,
             now: float) -> Verdict:
    delivery = headers.get(scheme.id_header) if scheme.id_header else None
    given = headers.get(scheme.header)
    if given is None:
        return _missing(scheme.header)
    given = given.strip()
    if not given.startswith(scheme.prefix):
        return _malformed(f"{scheme.header} does not start with {scheme.prefix!r}")
    given = given[len(scheme.prefix):]
    if scheme.encoding == "hex":
        return _match(secrets, [given.lower()],
                      lambda key: _mac(key, body, scheme.digest).hex(), delivery)
    return _match(secrets, [given],
                  lambda key: base64.b64encode(_mac(key, body, scheme.digest)).decode(),
                  delivery)


_CHECKS: dict[str, Callable[[Scheme, Sequence[bytes], Headers, bytes, float], Verdict]] = {
    "github": _github, "slack": _slack, "stripe": _stripe, "standard": _standard,
    "hmac": _generic,
}


# -- the shared steps --------------------------------------------------------------

def standard_key(secret: bytes) -> bytes:
    """A Standard Webhooks secret is ``whsec_`` and base64; the key is the bytes."""
    text = secret.strip()
    if text.startswith(b"whsec_"):
        try:
            return base64.b64decode(text[6:], validate=True)
        except binascii.Error:
            pass
    return text


def _mac(key: bytes, message: bytes, digest: str) -> bytes:
    return hmac.new(key, message, getattr(hashlib, digest)).digest()


def _match(secrets: Sequence[bytes], candidates: Sequence[str],
           expected: Callable[[bytes], str], delivery: str | None) -> Verdict:
    # Every secret against every candidate, so rotation (old and new secret at
    # once) and senders that send several signatures both pass.
    matched = False
    for key in secrets:
        want = expected(key).encode()
        for candidate in candidates:
            matched |= hmac.compare_digest(want, candidate.encode("utf-8", "replace"))
    if matched:
        return Verdict(True, delivery_id=delivery)
    return Verdict(False, "the signature does not match the body and the function's secret",
                   "mismatch", delivery)


def _stale(stamp: str, now: float, tolerance: float, what: str) -> Verdict | None:
    try:
        sent = int(stamp.strip())
    except ValueError:
        return _malformed(f"{what} is not a Unix time in seconds")
    if abs(now - sent) > tolerance:
        return Verdict(False, f"{what} is more than {tolerance:g} s from now "
                              "(a replay, or a clock that is off)", "stale")
    return None


def _missing(header: str) -> Verdict:
    return Verdict(False, f"the request has no {header} header", "missing")


def _malformed(reason: str) -> Verdict:
    return Verdict(False, reason, "malformed")
