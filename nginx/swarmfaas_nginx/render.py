"""Render the whole nginx configuration from the settings: a pure function.

`render_config(settings, ipv6)` returns the text of nginx.conf. The sidecars'
addresses are not in it: open-source nginx 1.22 resolves the names in an
`upstream` block only when it loads the configuration, and a reload closes
every idle keep-alive connection of the clients (a request written on one in
that instant is lost). So the upstream block's balancer is Lua
(sidecars.lua): the supervisor writes the addresses it resolves to a file and
every worker reads it again on a timer, with nginx's keep-alive connections to
the sidecars kept. `proxy_pass $variable` would need no Lua, but loses them.
"""

from __future__ import annotations

import json
from pathlib import Path

from .health import HEALTH_PATH
from .settings import Settings

MOZILLA_INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
# The upstream block's one server: the Lua balancer picks the real sidecar for
# each try. Used only while no sidecar is known: `down` makes nginx answer 502
# at once ("no live upstreams") instead of trying to connect anywhere.
NO_UPSTREAM = "127.0.0.1:9 down"
# Debian's libnginx-mod-http-lua (with the NDK it needs and lua-resty-core).
MODULES = ("/usr/lib/nginx/modules/ndk_http_module.so",
           "/usr/lib/nginx/modules/ngx_http_lua_module.so")
SIDECARS_LUA = (Path(__file__).parent / "sidecars.lua").read_text()
# How often each worker reads the sidecar list again (a small file).
SIDECARS_READ_EVERY = 0.25

# status -> (error code, reason); nginx's own errors, rendered as platform JSON.
# The one table of nginx's error codes (docs/errors.md lists the same).
ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "the request is malformed"),
    403: ("forbidden", "this path is not available from your address"),
    404: ("not_found", "no route for this request"),
    405: ("method_not_allowed", "this path does not accept this method"),
    408: ("request_timeout", "the client was too slow sending the request"),
    411: ("length_required", "the request body needs a Content-Length or chunked coding"),
    413: ("body_too_large", "the request body is over the size limit"),
    414: ("uri_too_long", "the request URI is too long"),
    421: ("unknown_host", "this server does not serve the requested host name"),
    429: ("rate_limited", "too many requests from your address; retry later"),
    494: ("request_header_too_large", "the request headers are too large"),
    500: ("internal_error", "the front door failed to handle the request"),
    # nginx answers 501 to a transfer coding other than chunked, and 505 to an
    # HTTP version it does not speak: the client's mistakes, so they leave as 400.
    501: ("unsupported_transfer_coding", "the request uses a transfer coding other than chunked"),
    505: ("unsupported_http_version", "this HTTP version is not supported"),
    502: ("sidecar_unreachable", "the sidecar could not be reached"),
    503: ("unavailable", "the service is temporarily unavailable"),
    504: ("gateway_timeout", "the sidecar did not answer in time"),
}
# nginx's 494 is not a real HTTP status, and its 501 and 505 are a client's
# mistake: they leave as 400.
WIRE_STATUS = {494: 400, 501: 400, 505: 400}
# Where error_page sends each status: an internal URI, not a named location.
# nginx cannot redirect to a named location before it has parsed the URI (a bad
# request line, a NUL byte, an over-long URI): it logs "empty URI in redirect
# to named location" and answers its own HTML 500 instead.
ERROR_PREFIX = "/.swarmfaas/error/"
_RETRY_AFTER = {429, 503}


def _q(value: str) -> str:
    """Single-quote a value for nginx (our values are validated; this keeps quotes safe)."""
    return "'" + value.replace("'", "\\'") + "'"


def _error_body(status: int) -> str:
    code, reason = ERRORS[status]
    wire = WIRE_STATUS.get(status, status)
    head = json.dumps({"error": code, "reason": reason, "status": wire, "component": "nginx"})
    # call_id is added by nginx at request time.
    return head[:-1] + ', "call_id": "$swarmfaas_call_id"}\\n'


def _security_headers(s: Settings) -> list[str]:
    lines = [
        "add_header X-Content-Type-Options nosniff always;",
        "add_header X-Frame-Options DENY always;",
        "add_header Referrer-Policy no-referrer always;",
        "add_header Content-Security-Policy \"frame-ancestors 'none'\" always;",
    ]
    if s.hsts_max_age:
        lines.insert(0, f'add_header Strict-Transport-Security "max-age={s.hsts_max_age}" always;')
    return lines


def _error_pages(s: Settings, tls: bool) -> list[str]:
    """error_page directives and the internal locations that answer them as JSON."""
    # `=wire`: without it the response keeps nginx's status (494, 501, 505).
    lines = [
        f"error_page {status}{f' ={WIRE_STATUS[status]}' if status in WIRE_STATUS else ''}"
        f" {ERROR_PREFIX}{status};"
        for status in ERRORS
    ]
    for status in ERRORS:
        wire = WIRE_STATUS.get(status, status)  # (`return` must agree with `=wire`)
        lines.append(f"location = {ERROR_PREFIX}{status} {{")
        # A client asking for this URI gets 404 (then the 404 page).
        lines.append("    internal;")
        # Over HTTP/2 a refused body is not marked discarded: without this the
        # error page fails the same size check and nginx sends its HTML 413.
        lines.append("    client_max_body_size 0;")
        lines.append("    default_type application/json;")
        lines.append("    add_header X-Swarmfaas-Internal nginx always;")
        lines.append("    add_header Cache-Control no-store always;")
        if status in _RETRY_AFTER:
            lines.append("    add_header Retry-After 1 always;")
        if tls:
            lines += ["    " + h for h in _security_headers(s)]
        lines.append(f"    return {wire} {_q(_error_body(status))};")
        lines.append("}")
    return lines


def _listen(s: Settings, port: int, ipv6: bool, extra: str) -> list[str]:
    v4, v6 = ("127.0.0.1:", "[::1]:") if s.loopback_only else ("", "[::]:")
    lines = [f"listen {v4}{port}{extra};"]
    if ipv6:
        lines.append(f"listen {v6}{port}{extra};")
    return lines


def _proxy(s: Settings, limited: bool) -> list[str]:
    lines = []
    if limited and s.rate_limit:
        burst = f" burst={s.rate_burst} nodelay" if s.rate_burst else ""
        lines.append(f"limit_req zone=swarmfaas_clients{burst};")
    lines.append("proxy_pass http://swarmfaas_sidecar;")
    return lines + _security_headers(s)


def _location(match: str, body: list[str]) -> list[str]:
    return [f"location {match} {{", *("    " + line for line in body), "}"]


def _redirect_target(s: Settings) -> str:
    port = "" if s.https_port == 443 else f":{s.https_port}"
    return f"https://$host{port}$request_uri"


def _http_server(s: Settings, ipv6: bool) -> list[str]:
    body = [
        *_listen(s, s.listen_http_port, ipv6, " default_server"),
        "server_name _;",
        *_location(
            "^~ /.well-known/acme-challenge/",
            [
                f"root {s.acme_webroot};",
                "default_type text/plain;",
                "try_files $uri =404;",
            ],
        ),
        *_location(
            f"= {HEALTH_PATH}",
            [
                "allow 127.0.0.1;",
                "allow ::1;",
                "deny all;",
                "access_log off;",
                "default_type application/json;",
                """return 200 '{"status": "ok", "component": "nginx"}\\n';""",
            ],
        ),
        # 308 keeps the method and body: a webhook POSTed to http:// is not
        # silently turned into a GET.
        *_location("/", [f"return 308 {_redirect_target(s)};"]),
        *_error_pages(s, tls=False),
    ]
    return _block("server", body)


def _routes(s: Settings) -> list[str]:
    metrics = _proxy(s, limited=False) if s.metrics_public else ["return 404;"]
    return [
        # Anything not named below: the sidecar only when it carries
        # X-Function or is an Alexa POST to /, else 404.
        *_location(
            "/",
            [
                "if ($swarmfaas_catch_all = 0) {",
                "    return 404;",
                "}",
                *_proxy(s, limited=True),
            ],
        ),
        *_location("/function/", _proxy(s, limited=True)),
        # Stored and answered 202 by the sidecar (docs/webhooks.md).
        *_location("/async-function/", _proxy(s, limited=True)),
        # Without these, nginx would 301 /function to /function/ (and /system).
        *_location("= /function", ["return 404;"]),
        *_location("= /async-function", ["return 404;"]),
        *_location("= /system", ["return 404;"]),
        *_location(
            "= /alexa",
            [
                "if ($request_method != POST) {",
                "    return 405;",
                "}",
                *_proxy(s, limited=True),
            ],
        ),
        # The sidecar authenticates /system/; the rate limit slows guessing.
        *_location("/system/", _proxy(s, limited=True)),
        *_location("= /healthz", _proxy(s, limited=False)),
        *_location("= /metrics", metrics),
    ]


def _https_servers(s: Settings, ipv6: bool) -> list[str]:
    common = [
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-Proto https;",
        "proxy_set_header X-Forwarded-Host $host;",
        "proxy_set_header X-Call-Id $swarmfaas_call_id;",
        f"proxy_connect_timeout {s.proxy_connect_timeout}s;",
        f"proxy_send_timeout {s.proxy_timeout}s;",
        f"proxy_read_timeout {s.proxy_timeout}s;",
    ]
    if not s.domains:
        main = [
            *_listen(s, s.listen_https_port, ipv6, " ssl http2 default_server"),
            "server_name _;",
            *common,
            *_routes(s),
            *_error_pages(s, tls=True),
        ]
        return _block("server", main)
    main = [
        *_listen(s, s.listen_https_port, ipv6, " ssl http2"),
        "server_name " + " ".join(s.domains) + ";",
        *common,
        *_routes(s),
        *_error_pages(s, tls=True),
    ]
    # Any other Host (or no SNI) lands here and reaches no function.
    other = [
        *_listen(s, s.listen_https_port, ipv6, " ssl http2 default_server"),
        "server_name _;",
        *_location("/", ["return 421;"]),
        *_error_pages(s, tls=True),
    ]
    return _block("server", main) + _block("server", other)


def _block(name: str, body: list[str]) -> list[str]:
    return [f"{name} {{", *("    " + line for line in body), "}"]


def _lua_block(name: str, code: str) -> list[str]:
    return _block(name, [line for line in code.splitlines() if line.strip()])


def _lua_string(text: str) -> str:
    """A Lua string literal (a path from the settings, which has no quote)."""
    return json.dumps(text)


def _log_format() -> str:
    fields = {
        "time": "$time_iso8601",
        "remote_addr": "$remote_addr",
        "host": "$host",
        "method": "$request_method",
        "uri": "$request_uri",
        "protocol": "$server_protocol",
        "tls": "$ssl_protocol",
        "status": "$status",
        "bytes_sent": "$bytes_sent",
        "request_length": "$request_length",
        "request_time": "$request_time",
        "function": "$http_x_function",
        "call_id": "$swarmfaas_call_id",
        "upstream_call_id": "$upstream_http_x_call_id",
        "upstream_addr": "$upstream_addr",
        "upstream_status": "$upstream_status",
        "upstream_time": "$upstream_response_time",
        # REJECTED on a 429 from the rate limit: how reached limits are counted.
        "limit_req": "$limit_req_status",
        # The connection's own address (a proxy's, when NGINX_TRUSTED_PROXIES
        # made remote_addr the client's from X-Forwarded-For).
        "peer_addr": "$realip_remote_addr",
        "user_agent": "$http_user_agent",
    }
    # Every value quoted: with escape=json an empty variable stays valid JSON.
    return "{" + ",".join(f'"{k}":"{v}"' for k, v in fields.items()) + "}"


def sidecars_file(addresses: tuple[str, ...]) -> str:
    """The sidecar list as sidecars.lua reads it: "ip port" a line, from
    upstream.resolve's "ip:port" and "[ipv6]:port"."""
    lines = []
    for address in addresses:
        ip, _, port = address.rpartition(":")
        lines.append(f"{ip.strip('[]')} {port}\n")
    return "".join(lines)


def render_config(s: Settings, ipv6: bool) -> str:
    """nginx.conf for these settings."""
    state = s.state_dir
    top = [
        "# Rendered by swarmfaas_nginx from its settings at start-up: do not edit,",
        "# change the settings (see docs/https.md).",
        *(f"load_module {module};" for module in MODULES),
        "daemon off;",
        *([f"user {s.worker_user};"] if s.worker_user else []),
        f"worker_processes {s.worker_processes};",
        f"pid {state}/nginx.pid;",
        "error_log stderr warn;",
        "pcre_jit on;",
        "events {",
        "    worker_connections 4096;",
        "}",
    ]
    http = [
        "server_tokens off;",
        "default_type application/octet-stream;",
        "sendfile on;",
        "tcp_nopush on;",
        "keepalive_timeout 65s;",
        f"client_body_temp_path {state}/tmp/body;",
        f"proxy_temp_path {state}/tmp/proxy;",
        f"fastcgi_temp_path {state}/tmp/fastcgi;",
        f"uwsgi_temp_path {state}/tmp/uwsgi;",
        f"scgi_temp_path {state}/tmp/scgi;",
        f"client_max_body_size {s.max_body_size};",
        f"client_header_timeout {s.client_header_timeout}s;",
        f"client_body_timeout {s.client_body_timeout}s;",
        f"send_timeout {s.send_timeout}s;",
        "",
        "# A client's call id is kept when it looks like one, else nginx makes one.",
        "map $http_x_call_id $swarmfaas_call_id {",
        '    "~^[A-Za-z0-9._:-]{1,128}$" $http_x_call_id;',
        "    default $request_id;",
        "}",
        "map $http_x_function $swarmfaas_has_function {",
        '    "" 0;',
        "    default 1;",
        "}",
        'map "$swarmfaas_has_function:$request_method:$uri" $swarmfaas_catch_all {',
        '    "~^1:" 1;',
        '    "0:POST:/" 1;',
        "    default 0;",
        "}",
        "log_format swarmfaas_json escape=json " + _q(_log_format()) + ";",
        f"access_log {s.access_log} swarmfaas_json;"
        if s.access_log != "off"
        else "access_log off;",
        "",
    ]
    if s.trusted_proxies:
        http += [
            *(f"set_real_ip_from {net};" for net in s.trusted_proxies),
            "real_ip_header X-Forwarded-For;",
            # The last address not from a trusted proxy: a client cannot put its
            # own fake address in front of the chain.
            "real_ip_recursive on;",
        ]
    if s.rate_limit:
        http += [
            "limit_req_zone $binary_remote_addr zone=swarmfaas_clients:10m"
            f" rate={s.rate_limit}r/s;",
            "limit_req_status 429;",
            "limit_req_log_level warn;",
        ]
    http += [
        *_lua_block("init_by_lua_block", SIDECARS_LUA),
        *_lua_block("init_worker_by_lua_block",
                    f'require("swarmfaas_sidecars").watch({_lua_string(s.sidecars_path)}, '
                    f"{SIDECARS_READ_EVERY})"),
        *_block(
            "upstream swarmfaas_sidecar",
            [
                f"server {NO_UPSTREAM};",
                *_lua_block("balancer_by_lua_block", 'require("swarmfaas_sidecars").balance()'),
                # After the balancer, so that it wraps it (lua-nginx-module's rule).
                "keepalive 32;",
                # Shorter than the sidecar's own keep-alive timeout, so nginx never
                # sends a request on a connection the sidecar is closing.
                "keepalive_timeout 30s;",
                "keepalive_requests 10000;",
            ],
        ),
        "",
        "# The certificate is named by a variable, so each worker loads it at every",
        "# TLS handshake (nginx >= 1.15.9): a renewal is one rename of this file and",
        "# needs no reload, which would close busy keep-alive connections.",
        "map $ssl_server_name $swarmfaas_served_pair {",
        f"    default {s.served_pair_path};",
        "}",
        "# TLS: Mozilla's intermediate profile (generator 6.0): TLS 1.2 and 1.3.",
        "ssl_certificate $swarmfaas_served_pair;",
        "ssl_certificate_key $swarmfaas_served_pair;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_ecdh_curve X25519:prime256v1:secp384r1;",
        f"ssl_ciphers {MOZILLA_INTERMEDIATE_CIPHERS};",
        "ssl_prefer_server_ciphers off;",
        "ssl_session_timeout 1d;",
        "ssl_session_cache shared:swarmfaas_tls:10m;",
        "ssl_session_tickets off;",
        "",
        *_http_server(s, ipv6),
        *_https_servers(s, ipv6),
    ]
    lines = [*top, *_block("http", http)]
    return "\n".join(lines) + "\n"
