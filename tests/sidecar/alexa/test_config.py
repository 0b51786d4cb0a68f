"""AlexaConfig.from_env: defaults, and every bad value names its setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from faas_sidecar.alexa import AlexaConfig, AlexaConfigError


def test_defaults_are_amazons_rules() -> None:
    config = AlexaConfig.from_env({})
    assert config.trust_roots == Path("/etc/ssl/certs/ca-certificates.crt")
    assert config.timestamp_tolerance == 150
    assert config.forward_timeout == 8
    assert config.cert_mirror is None
    assert config.schema_path is not None and config.schema_path.is_file()


def test_values_are_read(tmp_path: Path) -> None:
    roots = tmp_path / "roots.pem"
    roots.write_text("x")
    config = AlexaConfig.from_env(
        {
            "ALEXA_TRUST_ROOTS": str(roots),
            "ALEXA_CERT_FETCH_TIMEOUT": "1.5",
            "ALEXA_CERT_CACHE_TTL": "60",
            "ALEXA_CERT_CACHE_SIZE": "4",
            "ALEXA_TIMESTAMP_TOLERANCE": "30",
            "ALEXA_CERT_MIRROR": "file:///etc/swarmfaas/alexa/",
            "ALEXA_TIMEOUT": "5",
            "ALEXA_MAX_BODY": "4096",
        }
    )
    assert (config.trust_roots, config.cert_fetch_timeout, config.cert_cache_ttl) == (
        roots,
        1.5,
        60,
    )
    assert (config.cert_cache_size, config.timestamp_tolerance, config.forward_timeout) == (
        4,
        30,
        5,
    )
    assert config.cert_mirror == "file:///etc/swarmfaas/alexa/"
    assert config.max_body == 4096


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ALEXA_TRUST_ROOTS", "/nonexistent/roots.pem"),
        ("ALEXA_SCHEMA", "/nonexistent/schema.json"),
        ("ALEXA_CERT_FETCH_TIMEOUT", "soon"),
        ("ALEXA_CERT_FETCH_TIMEOUT", "0"),
        ("ALEXA_CERT_FETCH_TIMEOUT", "120"),
        ("ALEXA_CERT_CACHE_TTL", "-1"),
        ("ALEXA_CERT_CACHE_SIZE", "0"),
        ("ALEXA_CERT_CACHE_SIZE", "1.5"),
        ("ALEXA_CERT_MAX_BYTES", "10"),
        ("ALEXA_TIMESTAMP_TOLERANCE", "151"),  # Amazon allows at most 150 s
        ("ALEXA_TIMESTAMP_TOLERANCE", "0"),
        ("ALEXA_TIMEOUT", "never"),
        ("ALEXA_MAX_BODY", "1"),
        ("ALEXA_CERT_MIRROR", "file:///no/trailing/slash"),
        ("ALEXA_CERT_MIRROR", "ftp://example.test/echo.api/"),
        ("ALEXA_CERT_MIRROR", "relative/dir/"),
        ("ALEXA_CERT_MIRROR", "http://127.0.0.1:1/dir/?q=1"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(AlexaConfigError, match=name):
        AlexaConfig.from_env({name: value})


def test_config_is_frozen() -> None:
    config = AlexaConfig.from_env({})
    with pytest.raises(AttributeError):
        config.timestamp_tolerance = 1000  # type: ignore[misc]


def test_missing_default_bundle_fails_closed_not_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from faas_sidecar.alexa import config as config_module

    monkeypatch.setattr(config_module, "DEFAULT_TRUST_ROOTS", Path("/nonexistent/bundle.pem"))
    assert AlexaConfig.from_env({}).trust_roots is None
