"""The certbot service's entry point: settings and the command it runs (pure)."""

from __future__ import annotations

import pytest

import swarmfaas_certbot as runner

BASE = {"DOMAIN": "api.example.com", "EMAIL": "ops@example.com"}


def test_defaults_use_lets_encrypt_and_twice_a_day():
    s = runner.load_settings(BASE)
    assert s.acme_server == "https://acme-v02.api.letsencrypt.org/directory"
    assert s.renew_interval == 12 * 3600
    assert (s.webroot, s.config_dir) == ("/var/www/acme", "/etc/letsencrypt")


def test_without_domain_it_is_disabled():
    assert not runner.load_settings({}).enabled


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DOMAIN": "api.example.com"}, "EMAIL"),
        ({**BASE, "EMAIL": "not-an-address"}, "EMAIL"),
        ({**BASE, "DOMAIN": "*.example.com"}, "DOMAIN"),
        ({**BASE, "ACME_SERVER": "http://insecure/dir"}, "ACME_SERVER"),
        ({**BASE, "RENEW_INTERVAL": "0"}, "RENEW_INTERVAL"),
        ({**BASE, "RETRY_INTERVAL": "soon"}, "RETRY_INTERVAL"),
    ],
)
def test_bad_settings_name_the_setting(env, named):
    with pytest.raises(runner.SettingsError, match=f"^{named}:"):
        runner.load_settings(env)


def test_certonly_command_line():
    s = runner.load_settings(
        {
            **BASE,
            "DOMAIN": "api.example.com,www.example.com",
            "ACME_SERVER": "https://acme.test/dir",
        }
    )
    args = runner.certonly_args(s)
    assert args[:2] == ["certbot", "certonly"]
    joined = " ".join(args)
    for part in (
        "--non-interactive",
        "--agree-tos",
        "--email ops@example.com",
        "--server https://acme.test/dir",
        "--webroot --webroot-path /var/www/acme",
        "--cert-name api.example.com",
        "-d api.example.com -d www.example.com",
        "--keep-until-expiring",
        "--expand",
        "--reuse-key",
    ):
        assert part in joined
    assert "--force-renewal" not in args
    assert runner.certonly_args(s, force_renewal=True)[-1] == "--force-renewal"


@pytest.mark.parametrize(
    ("ok", "failures", "low", "high"),
    [
        (True, 0, 0.9 * 43200, 1.1 * 43200),
        (False, 1, 600, 600),
        (False, 2, 1200, 1200),
        (False, 3, 2400, 2400),
        (False, 20, 43200, 43200),
    ],
)
def test_next_wait(ok, failures, low, high):
    s = runner.load_settings(BASE)
    assert low <= runner.next_wait(s, ok, failures) <= high
