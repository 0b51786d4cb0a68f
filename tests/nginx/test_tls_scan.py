"""A real TLS scanner (sslyze) against the front door: protocols, ciphers, HSTS."""

from __future__ import annotations

import pytest

from swarmfaas_nginx.render import MOZILLA_INTERMEDIATE_CIPHERS

sslyze = pytest.importorskip("sslyze", reason="pip install sslyze (in the dev extra)")

pytestmark = pytest.mark.slow

# The same suites under their OpenSSL names, plus TLS 1.3's three.
ALLOWED = set(MOZILLA_INTERMEDIATE_CIPHERS.split(":")) | {
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
}


@pytest.fixture(scope="module")
def scan(front):
    from sslyze import (
        ScanCommand,
        Scanner,
        ServerNetworkLocation,
        ServerScanRequest,
        ServerScanStatusEnum,
    )

    request = ServerScanRequest(
        server_location=ServerNetworkLocation(
            "localhost", front.https_port, ip_address="127.0.0.1"
        ),
        scan_commands={
            ScanCommand.SSL_2_0_CIPHER_SUITES,
            ScanCommand.SSL_3_0_CIPHER_SUITES,
            ScanCommand.TLS_1_0_CIPHER_SUITES,
            ScanCommand.TLS_1_1_CIPHER_SUITES,
            ScanCommand.TLS_1_2_CIPHER_SUITES,
            ScanCommand.TLS_1_3_CIPHER_SUITES,
            ScanCommand.HTTP_HEADERS,
            ScanCommand.SESSION_RENEGOTIATION,
        },
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    (result,) = list(scanner.get_results())
    assert result.scan_status == ServerScanStatusEnum.COMPLETED, result.connectivity_error_trace
    return result.scan_result


def accepted(attempt) -> set[str]:
    assert attempt.error_trace is None, attempt.error_trace
    return {c.cipher_suite.openssl_name for c in attempt.result.accepted_cipher_suites}


@pytest.mark.parametrize(
    "protocol",
    [
        "ssl_2_0_cipher_suites",
        "ssl_3_0_cipher_suites",
        "tls_1_0_cipher_suites",
        "tls_1_1_cipher_suites",
    ],
)
def test_old_protocols_are_refused(scan, protocol):
    assert accepted(getattr(scan, protocol)) == set()


def test_tls12_and_tls13_offer_only_strong_ciphers(scan):
    tls12, tls13 = accepted(scan.tls_1_2_cipher_suites), accepted(scan.tls_1_3_cipher_suites)
    assert tls12 and tls13
    assert tls12 | tls13 <= ALLOWED
    for name in tls12:  # forward secrecy and AEAD only
        assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name)


def test_hsts_is_sent(scan):
    headers = scan.http_headers
    assert headers.error_trace is None, headers.error_trace
    hsts = headers.result.strict_transport_security_header
    assert hsts is not None and hsts.max_age == 63072000


def test_no_insecure_renegotiation(scan):
    reneg = scan.session_renegotiation.result
    assert reneg.supports_secure_renegotiation
    assert not reneg.is_vulnerable_to_client_renegotiation_dos
