"""The front door's settings: read once from a mapping, validated, frozen.

Every error names the variable and says what it accepts. Only `__main__`
passes `os.environ` in; everything else gets a `Settings`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

# One label of a DNS name; a domain is at least two labels (HTTP-01 cannot do
# wildcards, so none are accepted).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^({_LABEL}\.)*(?![0-9]+$){_LABEL}$")  # no IP addresses
_HOST_RE = re.compile(rf"^({_LABEL}(\.{_LABEL})*|\[[0-9a-f:]+\]|[0-9.]+)$")
_SIZE_RE = re.compile(r"^[1-9][0-9]*[kKmM]?$")
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]*$")
_PATH_RE = re.compile(r"^/[^\s;'\"{}$]*$")

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
TWO_YEARS = 63072000


class SettingsError(ValueError):
    """One or more settings are invalid; the message names each of them."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Settings:
    domains: tuple[str, ...]  # empty: development mode, any Host is served
    https_port: int  # the public HTTPS port, used in redirects
    listen_https_port: int  # inside the container
    listen_http_port: int
    sidecar_host: str
    sidecar_port: int
    max_body_size: str  # nginx size syntax: 10m, 512k, 1048576
    client_header_timeout: int
    client_body_timeout: int
    send_timeout: int
    proxy_timeout: int
    proxy_connect_timeout: int
    rate_limit: int  # requests per second per client address; 0 (the default): off
    rate_burst: int
    # Networks whose X-Forwarded-For nginx believes (its realip module): the
    # client address, for the log, the rate limit and the sidecar, is then the
    # last address in it not from these networks. Empty: the peer's address.
    trusted_proxies: tuple[str, ...]
    metrics_public: bool
    hsts_max_age: int  # 0: no Strict-Transport-Security header
    ipv6: bool | None  # None: decided at start-up by probing the kernel
    loopback_only: bool  # listen on 127.0.0.1/::1 only (tests, or behind another proxy)
    state_dir: str
    acme_webroot: str
    letsencrypt_dir: str
    default_cert_file: str
    default_key_file: str
    worker_user: str  # empty: no `user` directive
    worker_processes: str
    access_log: str
    watch_interval: float

    @property
    def primary_domain(self) -> str | None:
        return self.domains[0] if self.domains else None

    @property
    def conf_path(self) -> str:
        return f"{self.state_dir}/nginx.conf"

    @property
    def tls_dir(self) -> str:
        return f"{self.state_dir}/tls"

    @property
    def sidecars_path(self) -> str:
        """The sidecars' addresses, "ip port" a line: the supervisor writes it,
        nginx's workers read it (sidecars.lua)."""
        return f"{self.state_dir}/sidecars"

    @property
    def served_pair_path(self) -> str:
        """The one file nginx's workers read per TLS handshake: chain and key."""
        return f"{self.tls_dir}/served.pem"


class _Reader:
    """Reads typed values out of the mapping, collecting every problem."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str, default: str) -> str:
        value = self.env.get(name, "")
        return value.strip() if value.strip() else default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.raw(name, str(default))
        if not re.fullmatch(r"[0-9]+", text) or not low <= int(text) <= high:
            self.problems.append(
                f"{name}: expected a whole number from {low} to {high}, got {text!r}"
            )
            return default
        return int(text)

    def number(self, name: str, default: float, low: float, high: float) -> float:
        text = self.raw(name, str(default))
        try:
            value = float(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            self.problems.append(f"{name}: expected a number from {low} to {high}, got {text!r}")
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        text = self.raw(name, "true" if default else "false").lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        self.problems.append(f"{name}: expected true or false, got {text!r}")
        return default

    def tristate(self, name: str) -> bool | None:
        text = self.raw(name, "auto").lower()
        if text == "auto":
            return None
        return self.boolean(name, False)

    def matching(self, name: str, default: str, pattern: re.Pattern[str], accepts: str) -> str:
        text = self.raw(name, default)
        if not pattern.fullmatch(text):
            self.problems.append(f"{name}: expected {accepts}, got {text!r}")
            return default
        return text

    def path(self, name: str, default: str) -> str:
        return self.matching(name, default, _PATH_RE, "an absolute path without spaces or quotes")


def _items(
    r: _Reader, name: str, normal: Callable[[str], str | None], accepts: str
) -> tuple[str, ...]:
    """A comma-separated list; `normal` gives an item's normal form, or None if bad."""
    items = [i.strip() for i in r.raw(name, "").split(",") if i.strip()]
    good = [normal(i) for i in items]
    bad = [i for i, g in zip(items, good, strict=True) if g is None]
    if bad:
        r.problems.append(f"{name}: expected {accepts}, got {', '.join(map(repr, bad))}")
        return ()
    return tuple(dict.fromkeys(g for g in good if g is not None))


def _domain(text: str) -> str | None:
    name = text.lower()
    return name if _DOMAIN_RE.fullmatch(name) else None


def _network(text: str) -> str | None:
    try:
        return str(ipaddress.ip_network(text))
    except ValueError:
        return None


def _upstream(r: _Reader) -> tuple[str, int]:
    text = r.raw("SIDECAR_UPSTREAM", "tasks.sidecar:8080").lower()
    host, sep, port = text.rpartition(":")
    if not sep or not _HOST_RE.fullmatch(host) or not port.isdigit() or not 0 < int(port) < 65536:
        r.problems.append(f"SIDECAR_UPSTREAM: expected host:port like sidecar:8080, got {text!r}")
        return "sidecar", 8080
    return host.strip("[]"), int(port)


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build the settings from a mapping (the environment in production)."""
    r = _Reader(env)
    domains = _items(
        r,
        "DOMAIN",
        _domain,
        "comma-separated DNS names like api.example.com (no wildcards, no ports)",
    )
    sidecar_host, sidecar_port = _upstream(r)
    port = (1, 65535)
    proxy_timeout = r.integer("NGINX_PROXY_TIMEOUT", 65, 1, 86400)
    rate_limit = r.integer("NGINX_RATE_LIMIT", 0, 0, 100000)
    settings = Settings(
        domains=domains,
        https_port=r.integer("HTTPS_PORT", 443, *port),
        listen_https_port=r.integer("LISTEN_HTTPS_PORT", 443, *port),
        listen_http_port=r.integer("LISTEN_HTTP_PORT", 80, *port),
        sidecar_host=sidecar_host,
        sidecar_port=sidecar_port,
        max_body_size=r.matching(
            "NGINX_MAX_BODY_SIZE", "10m", _SIZE_RE, "a size like 10m, 512k or 1048576 (bytes)"
        ).lower(),
        client_header_timeout=r.integer("NGINX_CLIENT_HEADER_TIMEOUT", 10, 1, 3600),
        client_body_timeout=r.integer("NGINX_CLIENT_BODY_TIMEOUT", 30, 1, 3600),
        send_timeout=r.integer("NGINX_SEND_TIMEOUT", 30, 1, 3600),
        proxy_timeout=proxy_timeout,
        proxy_connect_timeout=r.integer("NGINX_PROXY_CONNECT_TIMEOUT", 5, 1, 75),
        # Off by default: many senders behind one address (webhooks, a batch
        # job, every internal caller) would look like one client.
        rate_limit=rate_limit,
        # Burst defaults to two seconds' worth; with the limit off it is unused,
        # whatever it says (an off switch must never stop nginx starting).
        rate_burst=r.integer("NGINX_RATE_BURST", 2 * rate_limit, 0, 100000),
        trusted_proxies=_items(
            r,
            "NGINX_TRUSTED_PROXIES",
            _network,
            "comma-separated addresses or networks like 10.0.0.0/8 or fd00::/8 "
            "(no host bits set after the prefix)",
        ),
        metrics_public=r.boolean("METRICS_PUBLIC", False),
        # HSTS pins a host name in the browser for every port: on `localhost`
        # (development) that would force https onto every other local dev
        # server, so it is on by default only when a real DOMAIN is set.
        hsts_max_age=r.integer(
            "NGINX_HSTS_MAX_AGE", TWO_YEARS if domains else 0, 0, 10 * TWO_YEARS
        ),
        ipv6=r.tristate("NGINX_IPV6"),
        loopback_only=r.matching("NGINX_BIND", "all", re.compile("all|loopback"), "all or loopback")
        == "loopback",
        state_dir=r.path("NGINX_STATE_DIR", "/var/lib/swarmfaas-nginx"),
        acme_webroot=r.path("ACME_WEBROOT", "/var/www/acme"),
        letsencrypt_dir=r.path("LETSENCRYPT_DIR", "/etc/letsencrypt"),
        default_cert_file=r.path("TLS_CERT_FILE", "/run/secrets/tls_cert"),
        default_key_file=r.path("TLS_KEY_FILE", "/run/secrets/tls_key"),
        worker_user=r.matching(
            "NGINX_USER",
            "www-data",
            re.compile(rf"{_USER_RE.pattern[1:-1]}|none"),
            "a user name or none",
        ),
        worker_processes=r.matching(
            "NGINX_WORKER_PROCESSES", "auto", re.compile(r"auto|[1-9][0-9]{0,2}"), "auto or 1-999"
        ),
        access_log=r.matching(
            "NGINX_ACCESS_LOG",
            "/dev/stdout",
            re.compile(rf"off|{_PATH_RE.pattern[1:-1]}"),
            "off or an absolute path",
        ),
        watch_interval=r.number("NGINX_WATCH_INTERVAL", 0.5, 0.1, 3600),
    )
    if settings.listen_https_port == settings.listen_http_port:
        r.problems.append("LISTEN_HTTPS_PORT: must differ from LISTEN_HTTP_PORT")
    if r.problems:
        raise SettingsError(r.problems)
    if settings.worker_user == "none":
        settings = replace(settings, worker_user="")
    return settings
