"""Every one of Amazon's certificate, signature and timestamp rules fails on its own."""

from __future__ import annotations

import datetime as dt
import json

import alexa_signing
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from faas_sidecar.alexa.rejection import Rejected
from faas_sidecar.alexa.verify import (
    check_chain,
    check_signature,
    check_timestamp,
    load_trust_store,
    parse_chain,
)

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def store(pki):  # type: ignore[no-untyped-def]
    return load_trust_store(pki.root_pem())[0]


def chain_of(pki, leaf):  # type: ignore[no-untyped-def]
    return parse_chain(pki.chain_pem(leaf))


def test_a_good_chain_gives_the_leaf(pki, signer, store) -> None:  # type: ignore[no-untyped-def]
    leaf = check_chain(chain_of(pki, signer[0]), store, NOW)
    assert leaf == signer[0]


def rejected(call, code: str) -> Rejected:  # type: ignore[no-untyped-def]
    with pytest.raises(Rejected) as caught:
        call()
    assert caught.value.status == 400
    assert caught.value.code == code, caught.value.reason
    return caught.value


def test_expired_certificate(pki, store) -> None:  # type: ignore[no-untyped-def]
    leaf, _ = pki.issue(
        not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(seconds=5)
    )
    rejected(lambda: check_chain(chain_of(pki, leaf), store, NOW), "alexa_cert_expired")


def test_not_yet_valid_certificate(pki, store) -> None:  # type: ignore[no-untyped-def]
    leaf, _ = pki.issue(not_before=NOW + dt.timedelta(hours=1))
    rejected(lambda: check_chain(chain_of(pki, leaf), store, NOW), "alexa_cert_not_yet_valid")


@pytest.mark.parametrize(
    "names",
    [
        ("evil.example.test",),
        ("echo-api.amazon.com.evil.test",),
        ("*.amazon.com",),
        (),  # no SAN extension at all
    ],
)
def test_wrong_subject_alternative_name(pki, store, names) -> None:  # type: ignore[no-untyped-def]
    leaf, _ = pki.issue(names=names)
    rejected(lambda: check_chain(chain_of(pki, leaf), store, NOW), "alexa_cert_wrong_san")


def test_san_among_others_is_fine(pki, store) -> None:  # type: ignore[no-untyped-def]
    leaf, _ = pki.issue(names=("other.amazon.com", "ECHO-API.amazon.com"))
    assert check_chain(chain_of(pki, leaf), store, NOW) == leaf


def test_chain_to_an_unknown_root(store) -> None:  # type: ignore[no-untyped-def]
    stranger = alexa_signing.TestPKI(name="stranger")
    leaf, _ = stranger.issue()
    rejected(lambda: check_chain(chain_of(stranger, leaf), store, NOW), "alexa_cert_untrusted")


def test_chain_without_its_intermediate(pki, signer, store) -> None:  # type: ignore[no-untyped-def]
    chain = parse_chain(alexa_signing.pem(signer[0]))
    rejected(lambda: check_chain(chain, store, NOW), "alexa_cert_untrusted")


def test_self_signed_echo_api_certificate_is_untrusted(store) -> None:  # type: ignore[no-untyped-def]
    key = alexa_signing.new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, alexa_signing.ECHO_API)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(alexa_signing.ECHO_API)]), False)
        .sign(key, hashes.SHA256())
    )
    rejected(lambda: check_chain([cert], store, NOW), "alexa_cert_untrusted")


@pytest.mark.parametrize("pem", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_unparsable_chain(pem: bytes) -> None:
    rejected(lambda: parse_chain(pem), "alexa_cert_invalid")


def test_a_good_signature(signer) -> None:  # type: ignore[no-untyped-def]
    body = alexa_signing.envelope()
    check_signature(signer[0], alexa_signing.sign(body, signer[1]), body)


def test_one_flipped_byte_in_the_body(signer) -> None:  # type: ignore[no-untyped-def]
    body = alexa_signing.envelope()
    signature = alexa_signing.sign(body, signer[1])
    flipped = bytearray(body)
    flipped[len(flipped) // 2] ^= 0x01
    rejected(
        lambda: check_signature(signer[0], signature, bytes(flipped)), "alexa_signature_invalid"
    )


def test_reserialised_body_fails(signer) -> None:  # type: ignore[no-untyped-def]
    # The exact raw bytes are signed: equal JSON in other bytes is not the same body.
    body = alexa_signing.envelope()
    signature = alexa_signing.sign(body, signer[1])
    same_json = json.dumps(json.loads(body), separators=(",", ":")).encode()
    rejected(lambda: check_signature(signer[0], signature, same_json), "alexa_signature_invalid")


def test_signature_made_with_another_key(signer) -> None:  # type: ignore[no-untyped-def]
    body = alexa_signing.envelope()
    signature = alexa_signing.sign(body, alexa_signing.new_key())
    rejected(lambda: check_signature(signer[0], signature, body), "alexa_signature_invalid")


@pytest.mark.parametrize(
    ("signature", "code"),
    [
        (None, "alexa_signature_missing"),
        ("", "alexa_signature_missing"),
        ("not base64!", "alexa_signature_invalid"),
        ("QUJD", "alexa_signature_invalid"),  # base64 of the wrong length
    ],
)
def test_missing_or_malformed_signature(signer, signature, code) -> None:  # type: ignore[no-untyped-def]
    body = alexa_signing.envelope()
    rejected(lambda: check_signature(signer[0], signature, body), code)


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (0, True),
        (-149, True),
        (149, True),
        (-151, False),  # old
        (151, False),  # in the future
        (-3600, False),
        (86400, False),
    ],
)
def test_timestamp_window(offset: int, ok: bool) -> None:
    stamp = (NOW + dt.timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if ok:
        check_timestamp(stamp, NOW, 150)
    else:
        rejected(lambda: check_timestamp(stamp, NOW, 150), "alexa_timestamp_out_of_range")


@pytest.mark.parametrize(
    "stamp",
    [
        NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        NOW.isoformat(),  # what ask-sdk-core's serializer writes
        NOW.replace(tzinfo=None).isoformat(),  # naive: UTC, as Amazon means it
        NOW.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat(),
    ],
)
def test_timestamp_forms(stamp: str) -> None:
    check_timestamp(stamp, NOW, 150)


def test_timestamp_not_a_date() -> None:
    rejected(lambda: check_timestamp("2024-13-45T99:00:00Z", NOW, 150), "alexa_timestamp_invalid")


def test_trust_store_skips_unloadable_certificates(pki) -> None:  # type: ignore[no-untyped-def]
    broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    store, skipped = load_trust_store(broken + pki.root_pem())
    assert len(skipped) == 1 and store is not None
    with pytest.raises(ValueError, match="no PEM certificate"):
        load_trust_store(b"nothing here")


def test_the_os_bundle_loads() -> None:
    with open("/etc/ssl/certs/ca-certificates.crt", "rb") as f:
        store, _ = load_trust_store(f.read())
    assert store is not None


def test_no_trust_roots_refuses_every_chain(pki, signer) -> None:  # type: ignore[no-untyped-def]
    rejected(lambda: check_chain(chain_of(pki, signer[0]), None, NOW), "alexa_cert_untrusted")
