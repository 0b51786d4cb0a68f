"""The rendered nginx.conf: what it says (pure) and that nginx accepts it (`nginx -t`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from ng_harness import need_binary, world_readable_dir

from swarmfaas_nginx.render import (
    ERRORS,
    MOZILLA_INTERMEDIATE_CIPHERS,
    WIRE_STATUS,
    render_config,
    sidecars_file,
)
from swarmfaas_nginx.settings import load_settings

COMBINATIONS = {
    "defaults": {},
    "domain": {"DOMAIN": "api.example.com"},
    "two-domains-public-port": {"DOMAIN": "a.example.com,b.example.com", "HTTPS_PORT": "8443"},
    "no-rate-limit": {"NGINX_RATE_LIMIT": "0", "NGINX_RATE_BURST": "40"},
    "rate-limit-behind-proxies": {
        "NGINX_RATE_LIMIT": "20",
        "NGINX_TRUSTED_PROXIES": "10.0.0.0/8,fd00::/8,192.0.2.1",
    },
    "metrics-public": {"METRICS_PUBLIC": "true"},
    "tight-limits": {
        "NGINX_MAX_BODY_SIZE": "1",
        "NGINX_CLIENT_HEADER_TIMEOUT": "1",
        "NGINX_CLIENT_BODY_TIMEOUT": "1",
        "NGINX_PROXY_TIMEOUT": "1",
        "NGINX_RATE_LIMIT": "1",
        "NGINX_RATE_BURST": "0",
    },
    "long-timeouts-hsts": {"NGINX_PROXY_TIMEOUT": "900", "NGINX_HSTS_MAX_AGE": "31536000"},
    "loopback-no-user": {"NGINX_BIND": "loopback", "NGINX_USER": "none", "NGINX_ACCESS_LOG": "off"},
}


def render(env: dict[str, str], ipv6: bool = True) -> str:
    return render_config(load_settings(env), ipv6)


def error_bodies(conf: str) -> dict[int, dict]:
    found = re.findall(r"location = /\.swarmfaas/error/(\d+) \{.*?return \d+ '(.*?)';", conf, re.S)
    return {
        int(status): json.loads(body.replace("$swarmfaas_call_id", "c1").replace("\\n", ""))
        for status, body in found
    }


def test_tls_is_mozilla_intermediate():
    conf = render({"DOMAIN": "api.example.com"})
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert f"ssl_ciphers {MOZILLA_INTERMEDIATE_CIPHERS};" in conf
    assert "ssl_session_tickets off;" in conf
    assert "ssl_session_cache shared:" in conf
    assert "ssl_prefer_server_ciphers off;" in conf
    assert ":DHE-" not in conf and "CBC" not in conf
    assert conf.count(" ssl http2") == 4  # two HTTPS servers, IPv4 and IPv6


def test_certificate_is_named_by_a_variable_so_a_renewal_needs_no_reload():
    conf = render({"NGINX_STATE_DIR": "/s"})
    # A literal path is loaded once, by the master at (re)load; a variable makes
    # each worker load the file at every handshake.
    assert re.search(r"^\s*ssl_certificate \$swarmfaas_served_pair;$", conf, re.M)
    assert re.search(r"^\s*ssl_certificate_key \$swarmfaas_served_pair;$", conf, re.M)
    served = r"map \$ssl_server_name \$swarmfaas_served_pair \{\s*default /s/tls/served.pem;"
    assert re.search(served, conf)
    assert len(re.findall(r"ssl_certificate(_key)? ", conf)) == 2


@pytest.mark.parametrize(
    ("env", "present", "absent"),
    [
        (
            {},
            ["server_name _;", "return 308 https://$host$request_uri;"],
            ["Strict-Transport-Security", "return 421;"],
        ),
        (
            {"DOMAIN": "api.example.com"},
            [
                "server_name api.example.com;",
                "return 421;",
                'Strict-Transport-Security "max-age=63072000" always',
            ],
            [],
        ),
        ({"HTTPS_PORT": "8443"}, ["return 308 https://$host:8443$request_uri;"], []),
        # The default: no per-client limit, no X-Forwarded-For believed.
        ({}, [], ["limit_req ", "limit_req_zone", "set_real_ip_from"]),
        (
            {"NGINX_RATE_LIMIT": "0", "NGINX_RATE_BURST": "40"},
            [],
            ["limit_req "],
        ),
        (
            {"NGINX_RATE_LIMIT": "20"},
            ["rate=20r/s;", "limit_req zone=swarmfaas_clients burst=40 nodelay;"],
            [],
        ),
        (
            {"NGINX_TRUSTED_PROXIES": "10.0.0.0/8,fd00::/8"},
            [
                "set_real_ip_from 10.0.0.0/8;",
                "set_real_ip_from fd00::/8;",
                "real_ip_header X-Forwarded-For;",
                "real_ip_recursive on;",
                "proxy_set_header X-Forwarded-For $remote_addr;",
            ],
            ["limit_req "],
        ),
        (
            {"NGINX_RATE_LIMIT": "7", "NGINX_RATE_BURST": "3"},
            [
                "rate=7r/s;",
                "limit_req zone=swarmfaas_clients burst=3 nodelay;",
                "limit_req_status 429;",
            ],
            [],
        ),
        ({}, ["location = /metrics {\n            return 404;"], []),
        ({"METRICS_PUBLIC": "true"}, ["location = /metrics {\n            proxy_pass"], []),
        ({"NGINX_MAX_BODY_SIZE": "3m"}, ["client_max_body_size 3m;"], []),
        (
            {"NGINX_PROXY_TIMEOUT": "125"},
            ["proxy_read_timeout 125s;", "proxy_send_timeout 125s;"],
            [],
        ),
        (
            {"NGINX_CLIENT_BODY_TIMEOUT": "9", "NGINX_CLIENT_HEADER_TIMEOUT": "4"},
            ["client_body_timeout 9s;", "client_header_timeout 4s;"],
            [],
        ),
        ({"NGINX_BIND": "loopback"}, ["listen 127.0.0.1:443 ssl http2", "listen [::1]:80 "], []),
        ({"ACME_WEBROOT": "/srv/acme"}, ["root /srv/acme;"], []),
        ({"NGINX_ACCESS_LOG": "off"}, ["access_log off;"], ["swarmfaas_json;"]),
        ({"NGINX_USER": "none"}, [], ["user "]),
    ],
)
def test_settings_show_in_the_config(env, present, absent):
    conf = render(env)
    for text in present:
        assert text in conf
    for text in absent:
        assert text not in conf


def test_routes_to_the_sidecar():
    conf = render({})
    for route in (
        "location / {",
        "location /function/ {",
        "location /async-function/ {",
        "location = /alexa {",
        "location /system/ {",
        "location = /healthz {",
    ):
        assert route in conf
    # X-Function anywhere, or an Alexa POST to /, reaches the sidecar; else 404.
    assert '"~^1:" 1;' in conf and '"0:POST:/" 1;' in conf
    assert "proxy_http_version 1.1;" in conf and 'proxy_set_header Connection "";' in conf
    assert "keepalive 32;" in conf
    assert "proxy_set_header X-Call-Id $swarmfaas_call_id;" in conf


def test_upstream_is_balanced_by_lua_from_the_sidecars_file_with_keepalive():
    conf = render({"NGINX_STATE_DIR": "/var/lib/x"})
    upstream = conf[conf.index("upstream swarmfaas_sidecar {"):]
    # the placeholder only, then the balancer, then keepalive (which wraps it)
    assert upstream.index("server 127.0.0.1:9 down;") < upstream.index(
        "balancer_by_lua_block") < upstream.index("keepalive 32;")
    assert 'require("swarmfaas_sidecars").watch("/var/lib/x/sidecars", 0.25)' in conf
    assert conf.startswith("# Rendered") and "load_module /usr/lib/nginx/modules/" \
        "ngx_http_lua_module.so;" in conf


@pytest.mark.parametrize(("addresses", "text"), [
    ((), ""),
    (("10.0.0.5:8080",), "10.0.0.5 8080\n"),
    (("10.0.0.5:8080", "[fd00::5]:8080"), "10.0.0.5 8080\nfd00::5 8080\n"),
])
def test_the_sidecars_file_is_an_ip_and_a_port_a_line(addresses, text):
    assert sidecars_file(addresses) == text


def test_ipv6_listeners_follow_the_probe():
    assert "listen [::]:443" in render({}, ipv6=True)
    assert "[::]" not in render({}, ipv6=False)


def test_every_nginx_error_is_platform_json():
    conf = render({"DOMAIN": "api.example.com"})
    bodies = error_bodies(conf)
    assert set(bodies) == set(ERRORS)
    for status, body in bodies.items():
        assert set(body) == {"error", "reason", "status", "component", "call_id"}
        assert body["component"] == "nginx"
        assert body["status"] == WIRE_STATUS.get(status, status)
    # A client's mistake never leaves as a 5xx (nginx's 494, 501 and 505 are).
    assert {WIRE_STATUS[494], WIRE_STATUS[501], WIRE_STATUS[505]} == {400}
    # error_page goes to internal URIs: a named location fails (HTML 500)
    # before nginx has parsed the request's URI.
    assert "@swarmfaas" not in conf
    assert conf.count("    internal;") == 3 * len(ERRORS)
    assert conf.count("add_header X-Swarmfaas-Internal nginx always;") == 3 * len(ERRORS)
    assert "add_header Retry-After 1 always;" in conf


def test_access_log_format_is_json_with_call_ids():
    conf = render({})
    fmt = re.search(r"log_format swarmfaas_json escape=json '(.*?)';", conf).group(1)
    entry = json.loads(re.sub(r"\$[a-z_0-9]+", "v", fmt))
    assert {"call_id", "upstream_call_id", "status", "function", "request_time"} <= set(entry)


@pytest.fixture(scope="module")
def scratch_with_cert(dev_ca):
    need_binary("nginx")
    return dev_ca


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_nginx_accepts_the_rendered_config(name, scratch_with_cert):
    base = world_readable_dir(f"ng-t-{name}-")
    (base / "tmp").mkdir()
    (base / "tls").mkdir()
    pem = [(scratch_with_cert / name).read_bytes() for name in ("cert.pem", "key.pem")]
    (base / "tls" / "served.pem").write_bytes(b"".join(pem))
    env = {**COMBINATIONS[name], "NGINX_STATE_DIR": str(base), "ACME_WEBROOT": str(base / "www")}
    try:
        conf = base / "nginx.conf"
        conf.write_text(render(env))
        done = subprocess.run(
            ["nginx", "-t", "-p", str(base), "-c", str(conf)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "syntax is ok" in done.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
