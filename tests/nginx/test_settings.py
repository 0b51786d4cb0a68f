"""Settings: defaults, parsing, and errors that name the setting (pure)."""

from __future__ import annotations

import pytest

from swarmfaas_nginx.settings import TWO_YEARS, SettingsError, load_settings


def test_defaults_are_the_container_shape():
    s = load_settings({})
    assert s.domains == ()
    assert (s.listen_https_port, s.listen_http_port, s.https_port) == (443, 80, 443)
    assert (s.sidecar_host, s.sidecar_port) == ("tasks.sidecar", 8080)
    assert s.metrics_public is False
    assert s.hsts_max_age == 0  # development: no HSTS pinned on localhost
    assert s.proxy_timeout == 65  # > the default function timeout (60) + the sidecar's 1 s
    assert s.tls_dir == "/var/lib/swarmfaas-nginx/tls"
    # One address may be many senders (webhooks, a batch job): no per-client
    # limit unless asked for, and no X-Forwarded-For believed.
    assert s.rate_limit == 0
    assert s.trusted_proxies == ()


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"DOMAIN": "Api.Example.com"}, "domains", ("api.example.com",)),
        (
            {"DOMAIN": "a.example.com, b.example.com,a.example.com"},
            "domains",
            ("a.example.com", "b.example.com"),
        ),
        ({"DOMAIN": "a.example.com"}, "hsts_max_age", TWO_YEARS),
        ({"DOMAIN": "a.example.com", "NGINX_HSTS_MAX_AGE": "0"}, "hsts_max_age", 0),
        ({"NGINX_HSTS_MAX_AGE": "300"}, "hsts_max_age", 300),
        ({"SIDECAR_UPSTREAM": "tasks.sidecar:9000"}, "sidecar_host", "tasks.sidecar"),
        ({"SIDECAR_UPSTREAM": "[::1]:9000"}, "sidecar_host", "::1"),
        ({"SIDECAR_UPSTREAM": "127.0.0.1:18503"}, "sidecar_port", 18503),
        ({"METRICS_PUBLIC": "yes"}, "metrics_public", True),
        ({"NGINX_MAX_BODY_SIZE": "512K"}, "max_body_size", "512k"),
        ({"NGINX_RATE_LIMIT": "0"}, "rate_limit", 0),
        ({"NGINX_RATE_LIMIT": "20"}, "rate_burst", 40),
        ({"NGINX_RATE_LIMIT": "20", "NGINX_RATE_BURST": "0"}, "rate_burst", 0),
        # The documented off switch, with the burst stack.yml passes: accepted.
        ({"NGINX_RATE_LIMIT": "0", "NGINX_RATE_BURST": "40"}, "rate_limit", 0),
        ({"NGINX_RATE_BURST": "0"}, "rate_limit", 0),
        ({"NGINX_RATE_LIMIT": "", "NGINX_RATE_BURST": ""}, "rate_limit", 0),
        (
            {"NGINX_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,fd00::/8,10.0.0.0/8"},
            "trusted_proxies",
            ("10.0.0.0/8", "192.0.2.7/32", "fd00::/8"),
        ),
        ({"NGINX_IPV6": "off"}, "ipv6", False),
        ({"NGINX_IPV6": "auto"}, "ipv6", None),
        ({"NGINX_USER": "none"}, "worker_user", ""),
        ({"NGINX_BIND": "loopback"}, "loopback_only", True),
        ({"HTTPS_PORT": " 8443 "}, "https_port", 8443),
        ({"NGINX_WATCH_INTERVAL": "1.5"}, "watch_interval", 1.5),
    ],
)
def test_values_are_parsed(env, field, expected):
    assert getattr(load_settings(env), field) == expected


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DOMAIN": "*.example.com"}, "DOMAIN"),
        ({"DOMAIN": "example.com:443"}, "DOMAIN"),
        ({"DOMAIN": "192.0.2.1"}, "DOMAIN"),
        ({"DOMAIN": "-bad.example.com"}, "DOMAIN"),
        ({"HTTPS_PORT": "0"}, "HTTPS_PORT"),
        ({"LISTEN_HTTP_PORT": "70000"}, "LISTEN_HTTP_PORT"),
        ({"LISTEN_HTTPS_PORT": "80"}, "LISTEN_HTTPS_PORT"),
        ({"SIDECAR_UPSTREAM": "sidecar"}, "SIDECAR_UPSTREAM"),
        ({"SIDECAR_UPSTREAM": "side car:80"}, "SIDECAR_UPSTREAM"),
        ({"NGINX_MAX_BODY_SIZE": "10 MB"}, "NGINX_MAX_BODY_SIZE"),
        ({"NGINX_MAX_BODY_SIZE": "0"}, "NGINX_MAX_BODY_SIZE"),
        ({"NGINX_PROXY_TIMEOUT": "-1"}, "NGINX_PROXY_TIMEOUT"),
        ({"NGINX_PROXY_TIMEOUT": "1m"}, "NGINX_PROXY_TIMEOUT"),
        ({"NGINX_CLIENT_HEADER_TIMEOUT": "0"}, "NGINX_CLIENT_HEADER_TIMEOUT"),
        ({"NGINX_RATE_LIMIT": "ten"}, "NGINX_RATE_LIMIT"),
        ({"NGINX_RATE_LIMIT": "-5"}, "NGINX_RATE_LIMIT"),
        ({"NGINX_RATE_BURST": "lots"}, "NGINX_RATE_BURST"),
        ({"NGINX_TRUSTED_PROXIES": "10.0.0.1/8"}, "NGINX_TRUSTED_PROXIES"),
        ({"NGINX_TRUSTED_PROXIES": "proxy.example.com"}, "NGINX_TRUSTED_PROXIES"),
        ({"NGINX_TRUSTED_PROXIES": "10.0.0.0/8;"}, "NGINX_TRUSTED_PROXIES"),
        ({"METRICS_PUBLIC": "maybe"}, "METRICS_PUBLIC"),
        ({"NGINX_IPV6": "sometimes"}, "NGINX_IPV6"),
        ({"NGINX_STATE_DIR": "relative/dir"}, "NGINX_STATE_DIR"),
        ({"ACME_WEBROOT": "/var/www/acme; evil"}, "ACME_WEBROOT"),
        ({"NGINX_USER": "Root;"}, "NGINX_USER"),
        ({"NGINX_BIND": "0.0.0.0"}, "NGINX_BIND"),
        ({"NGINX_WATCH_INTERVAL": "0"}, "NGINX_WATCH_INTERVAL"),
        ({"NGINX_ACCESS_LOG": "syslog:server=x"}, "NGINX_ACCESS_LOG"),
    ],
)
def test_bad_values_name_the_setting(env, named):
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert any(p.startswith(f"{named}:") for p in err.value.problems), err.value.problems


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as err:
        load_settings({"HTTPS_PORT": "x", "METRICS_PUBLIC": "x", "DOMAIN": "*"})
    assert [p.split(":")[0] for p in err.value.problems] == [
        "DOMAIN",
        "HTTPS_PORT",
        "METRICS_PUBLIC",
    ]
