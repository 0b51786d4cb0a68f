"""SignatureCertChainUrl rules, with Amazon's documented examples and more."""

from __future__ import annotations

import pytest

from faas_sidecar.alexa.certurl import normalise_cert_url, remove_dot_segments
from faas_sidecar.alexa.rejection import Rejected

CANON = "https://s3.amazonaws.com/echo.api/echo-api-cert.pem"


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (CANON, CANON),
        ("https://s3.amazonaws.com/echo.api/../echo.api/echo-api-cert.pem", CANON),
        ("https://s3.amazonaws.com:443/echo.api/echo-api-cert.pem", CANON),
        ("HTTPS://s3.amazonaws.com/echo.api/echo-api-cert.pem", CANON),
        ("https://S3.AmAzOnAwS.cOm/echo.api/echo-api-cert.pem", CANON),
        ("https://s3.amazonaws.com/echo.api/./echo-api-cert.pem", CANON),
        (
            "https://s3.amazonaws.com/echo.api/certs/../echo-api-cert-12.pem",
            "https://s3.amazonaws.com/echo.api/echo-api-cert-12.pem",
        ),
    ],
)
def test_valid_urls(url: str, canonical: str) -> None:
    assert normalise_cert_url(url) == canonical


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://s3.amazonaws.com/echo.api/echo-api-cert.pem", "scheme"),  # Amazon's example
        ("https://notamazon.com/echo.api/echo-api-cert.pem", "host"),  # Amazon's example
        ("https://s3.amazonaws.com/EcHo.aPi/echo-api-cert.pem", "path"),  # Amazon's example
        ("https://s3.amazonaws.com/invalid.path/echo-api-cert.pem", "path"),  # Amazon's example
        ("https://s3.amazonaws.com:563/echo.api/echo-api-cert.pem", "port"),  # Amazon's example
        ("https://s3.amazonaws.com/echo.api/../invalid.path/cert.pem", "path"),
        ("https://s3.amazonaws.com/echo.api/", "path"),
        ("https://s3.amazonaws.com/echo.api", "path"),
        ("https://s3.amazonaws.com/", "path"),
        ("https://s3.amazonaws.com.evil.test/echo.api/echo-api-cert.pem", "host"),
        ("https://evil.test/s3.amazonaws.com/echo.api/echo-api-cert.pem", "host"),
        ("https://s3.amazonaws.com@evil.test/echo.api/echo-api-cert.pem", "host"),
        ("https://evil.test@s3.amazonaws.com/echo.api/echo-api-cert.pem", "user"),
        ("https://s3.amazonaws.com:0/echo.api/echo-api-cert.pem", "port"),
        ("https://s3.amazonaws.com:99999/echo.api/echo-api-cert.pem", "parse"),
        ("https://s3.amazonaws.com:https/echo.api/echo-api-cert.pem", "parse"),
        ("https://s3.amazonaws.com/echo.api/echo-api-cert.pem?x=1", "query"),
        ("https://s3.amazonaws.com/echo.api/echo-api-cert.pem#frag", "query"),
        ("https://s3.amazonaws.com/echo.api/%2e%2e/evil/cert.pem", "characters"),
        ("https://s3.amazonaws.com/echo.api/..%2fevil/cert.pem", "characters"),
        ("https://s3.amazonaws.com/echo.api\\..\\evil/cert.pem", "characters"),
        ("https://s3.amazonaws.com/echo.api/echo-api-cert .pem", "control"),
        ("https://s3.amazonaws.com/echo.api/echo-api-cert.pem\n", "control"),
        ("ftp://s3.amazonaws.com/echo.api/echo-api-cert.pem", "scheme"),
        ("//s3.amazonaws.com/echo.api/echo-api-cert.pem", "scheme"),
        ("s3.amazonaws.com/echo.api/echo-api-cert.pem", "scheme"),
        ("https:///echo.api/echo-api-cert.pem", "host"),
        ("https://" + "s" * 2000 + "/echo.api/x.pem", "too long"),
    ],
)
def test_invalid_urls(url: str, why: str) -> None:
    with pytest.raises(Rejected) as caught:
        normalise_cert_url(url)
    assert caught.value.status == 400
    assert caught.value.code == "alexa_cert_url_invalid"
    assert why in caught.value.reason


@pytest.mark.parametrize("url", [None, ""])
def test_missing_url(url: str | None) -> None:
    with pytest.raises(Rejected) as caught:
        normalise_cert_url(url)
    assert caught.value.code == "alexa_signature_missing"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/a/b/c/./../../g", "/a/g"),  # RFC 3986's own example
        ("/mid/content=5/../6", "/mid/6"),  # RFC 3986's own example
        ("/../a", "/a"),
        ("/a/..", "/"),
        ("/a/.", "/a/"),
        ("/a//b", "/a//b"),
    ],
)
def test_remove_dot_segments(path: str, expected: str) -> None:
    assert remove_dot_segments(path) == expected
