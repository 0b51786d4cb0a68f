"""Amazon's request checks on certificates, signature and timestamp (pure).

Each check raises ``Rejected`` with its own code, so the log line says which
rule failed. ``now`` is always passed in.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from . import rejection

ECHO_API_NAME = "echo-api.amazon.com"


_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def load_trust_store(pem: bytes) -> tuple[Store, list[str]]:
    """The store, and one note per certificate of the bundle that was skipped.

    Certificates are loaded one by one: an OS bundle may hold a root that a
    newer cryptography refuses (e.g. a non-positive serial), and one such root
    must not take every other root down with it.
    """
    roots: list[x509.Certificate] = []
    skipped: list[str] = []
    for i, block in enumerate(_PEM_BLOCK.findall(pem)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                roots.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            skipped.append(f"certificate #{i} of the trust roots skipped: {exc}")
    if not roots:
        raise ValueError("the trust roots hold no PEM certificate")
    return Store(roots), skipped


def parse_chain(pem: bytes) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise rejection.cert_invalid(f"the certificate chain does not parse: {exc}") from None
    if not chain:
        raise rejection.cert_invalid("the certificate chain is empty")
    return chain


def check_validity(leaf: x509.Certificate, now: datetime) -> None:
    if now < leaf.not_valid_before_utc:
        raise rejection.cert_not_yet_valid(
            f"the signing certificate is valid from {leaf.not_valid_before_utc}"
        )
    if now > leaf.not_valid_after_utc:
        raise rejection.cert_expired(
            f"the signing certificate expired at {leaf.not_valid_after_utc}"
        )


def check_san(leaf: x509.Certificate) -> None:
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = None
    dns = [n.lower() for n in names.get_values_for_type(x509.DNSName)] if names else []
    if ECHO_API_NAME not in dns:
        raise rejection.cert_wrong_san(
            f"the signing certificate's subject alternative names {dns} lack {ECHO_API_NAME}"
        )


def check_chain(
    chain: list[x509.Certificate], store: Store | None, now: datetime
) -> x509.Certificate:
    """The leaf, once it is valid now, names echo-api.amazon.com and chains to a trusted root."""
    leaf = chain[0]
    check_validity(leaf, now)
    check_san(leaf)
    if store is None:
        raise rejection.cert_untrusted("no trust roots are configured (ALEXA_TRUST_ROOTS)")
    verifier = (
        PolicyBuilder().store(store).time(now).build_server_verifier(x509.DNSName(ECHO_API_NAME))
    )
    try:
        verifier.verify(leaf, chain[1:])
    except VerificationError as exc:
        raise rejection.cert_untrusted(
            f"the certificate chain does not verify to a trusted root: {exc}"
        ) from None
    if not isinstance(leaf.public_key(), rsa.RSAPublicKey):
        raise rejection.cert_invalid("the signing certificate's key is not RSA")
    return leaf


def check_signature(leaf: x509.Certificate, signature_b64: str | None, body: bytes) -> None:
    """Signature-256: base64 of RSA PKCS#1 v1.5 with SHA-256 over the exact body bytes."""
    if not signature_b64:
        raise rejection.signature_missing("the Signature-256 header is missing")
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise rejection.signature_invalid("Signature-256 is not base64") from None
    key = leaf.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise rejection.cert_invalid("the signing certificate's key is not RSA")
    try:
        key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise rejection.signature_invalid(
            "Signature-256 does not match the body and the certificate"
        ) from None


def parse_timestamp(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise rejection.timestamp_invalid(f"request.timestamp {text!r} is not ISO 8601") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # Amazon sends UTC


def check_timestamp(text: str, now: datetime, tolerance: float) -> None:
    skew = (parse_timestamp(text) - now).total_seconds()
    if abs(skew) > tolerance:
        when = "old" if skew < 0 else "in the future"
        raise rejection.timestamp_out_of_range(
            f"request.timestamp is {abs(skew):.0f} s {when}; at most {tolerance:g} s is allowed"
        )
