"""Obtain the DOMAIN's certificate with certbot and keep it renewed.

The certbot service's main process. With DOMAIN and EMAIL set it runs
`certbot certonly --webroot` (HTTP-01: certbot writes the token into the ACME
webroot volume, our nginx serves it on port 80) and repeats it every
RENEW_INTERVAL seconds (12 h: "checked twice a day"); `--keep-until-expiring`
makes each run a no-op until the certificate is within 30 days of expiry.
nginx's supervisor notices the new files in the shared /etc/letsencrypt volume
and installs them, with no reload: no hook, no signal between containers.
Renewals keep the private key (`--reuse-key`): nginx loads the certificate
and then the key at each handshake, and a handshake that read the old
certificate just before the swap and the new key just after would fail
(docs/https.md, "Renewals without a reload").
Without DOMAIN it idles (the stack always has the service).

    python3 swarmfaas_certbot.py [--once] [--force-renewal]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
_DOMAIN_RE = re.compile(
    r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*(?![0-9]+$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class CertbotSettings:
    domains: tuple[str, ...]
    email: str
    acme_server: str
    webroot: str
    config_dir: str
    work_dir: str
    logs_dir: str
    renew_interval: int
    retry_interval: int

    @property
    def enabled(self) -> bool:
        return bool(self.domains)


def load_settings(env: Mapping[str, str]) -> CertbotSettings:
    def get(name: str, default: str = "") -> str:
        return (env.get(name) or "").strip() or default

    def seconds(name: str, default: int) -> int:
        text = get(name, str(default))
        if not text.isdigit() or int(text) < 1:
            raise SettingsError(f"{name}: expected a whole number of seconds >= 1, got {text!r}")
        return int(text)

    domains = tuple(dict.fromkeys(d.strip() for d in get("DOMAIN").lower().split(",") if d.strip()))
    bad = [d for d in domains if not _DOMAIN_RE.fullmatch(d)]
    if bad:
        raise SettingsError(f"DOMAIN: expected comma-separated DNS names, got {', '.join(bad)}")
    email = get("EMAIL")
    if domains and not _EMAIL_RE.fullmatch(email):
        raise SettingsError(
            f"EMAIL: an address for the ACME account is required with DOMAIN, got {email!r}"
        )
    server = get("ACME_SERVER", LETS_ENCRYPT)
    if not server.startswith("https://"):
        raise SettingsError(f"ACME_SERVER: expected an https:// directory URL, got {server!r}")
    return CertbotSettings(
        domains=domains,
        email=email,
        acme_server=server,
        webroot=get("ACME_WEBROOT", "/var/www/acme"),
        config_dir=get("CERTBOT_CONFIG_DIR", "/etc/letsencrypt"),
        work_dir=get("CERTBOT_WORK_DIR", "/var/lib/letsencrypt"),
        logs_dir=get("CERTBOT_LOGS_DIR", "/var/log/letsencrypt"),
        renew_interval=seconds("RENEW_INTERVAL", 12 * 3600),
        retry_interval=seconds("RETRY_INTERVAL", 600),
    )


def certonly_args(s: CertbotSettings, force_renewal: bool = False) -> list[str]:
    """The certbot command line for one obtain-or-renew run (pure)."""
    args = [
        "certbot",
        "certonly",
        "--non-interactive",
        "--agree-tos",
        "--email",
        s.email,
        "--server",
        s.acme_server,
        "--webroot",
        "--webroot-path",
        s.webroot,
        "--cert-name",
        s.domains[0],
        "--config-dir",
        s.config_dir,
        "--work-dir",
        s.work_dir,
        "--logs-dir",
        s.logs_dir,
        "--keep-until-expiring",
        "--expand",
        # The same key across renewals: a renewal then cannot pair an old
        # certificate with a new key in a handshake (see the module's doc).
        "--reuse-key",
    ]
    for domain in s.domains:
        args += ["-d", domain]
    if force_renewal:
        args.append("--force-renewal")
    return args


def next_wait(s: CertbotSettings, ok: bool, failures: int) -> float:
    """Seconds until the next run: the renew interval with 10% jitter after a
    success; after failures a doubling back-off that stays under Let's
    Encrypt's failed-validation limit (5 per hour), capped at the interval."""
    if ok:
        return s.renew_interval * random.uniform(0.9, 1.1)
    return min(s.retry_interval * 2 ** max(failures - 1, 0), s.renew_interval)


def run_once(s: CertbotSettings, force_renewal: bool = False) -> int:
    os.makedirs(os.path.join(s.webroot, ".well-known", "acme-challenge"), exist_ok=True)
    print(f"certbot: obtaining/renewing {', '.join(s.domains)} from {s.acme_server}", flush=True)
    return subprocess.run(certonly_args(s, force_renewal)).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="obtain and renew the DOMAIN's certificate")
    parser.add_argument("--once", action="store_true", help="one run, exit with certbot's status")
    parser.add_argument("--force-renewal", action="store_true")
    args = parser.parse_args(argv)
    # As PID 1 in a container, SIGTERM is ignored unless handled.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        print(f"certbot: invalid setting {exc}", file=sys.stderr)
        return 2
    if not settings.enabled:
        print("certbot: DOMAIN is not set: no ACME certificate (nginx serves the default one)")
        if args.once:
            return 0
        threading.Event().wait()  # idle; the service stays up so the stack stays the same
    if args.once:
        return run_once(settings, args.force_renewal)
    failures = 0
    force = args.force_renewal
    while True:
        ok = run_once(settings, force) == 0
        force = False
        failures = 0 if ok else failures + 1
        wait = next_wait(settings, ok, failures)
        print(f"certbot: {'done' if ok else 'failed'}; next run in {wait / 3600:.2f} h", flush=True)
        threading.Event().wait(wait)


if __name__ == "__main__":
    sys.exit(main())
