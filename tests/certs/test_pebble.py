"""certbot against a real ACME server (Pebble) through our nginx's webroot.

Pebble's VA resolves every name to 127.0.0.1 (pebble-challtestsrv as its DNS)
and fetches the HTTP-01 token from our nginx's HTTP port. Our certbot runner
(the certbot image's entry point) obtains the certificate; the supervisor
notices it and installs it (no reload); a client trusting only Pebble's root gets it; a
forced renewal is served afterwards with no restart and no failed request.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ng_harness import (
    REPO,
    Front,
    Recorder,
    SteadyLoop,
    need_binary,
    served_serial,
    wait_port,
    world_readable_dir,
)

pytestmark = pytest.mark.slow

NAME = "ng-acme.swarmfaas.test"
ACME_PORT, ACME_MGMT_PORT = 18570, 18571
DNS_PORT, DNS_MGMT_PORT = 18553, 18555
HTTPS_PORT, HTTP_PORT, UPSTREAM_PORT = 18531, 18532, 18533


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    """Pebble and its DNS, with a self-made certificate for Pebble's listener."""
    for binary in ("pebble", "pebble-challtestsrv", "certbot", "nginx"):
        need_binary(binary)
    import dev_cert

    base = tmp_path_factory.mktemp("pebble")
    dev_cert.ensure(str(base / "listener"), ("localhost", "127.0.0.1"))
    config = base / "pebble.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{ACME_PORT}",
                    "managementListenAddress": f"127.0.0.1:{ACME_MGMT_PORT}",
                    "certificate": str(base / "listener" / "cert.pem"),
                    "privateKey": str(base / "listener" / "key.pem"),
                    "httpPort": HTTP_PORT,  # where our nginx serves /.well-known/acme-challenge/
                    "tlsPort": 18572,
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    logs = open(base / "pebble.log", "wb")  # noqa: SIM115
    dns = subprocess.Popen(
        [
            "pebble-challtestsrv",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
            "-dns01",
            f"127.0.0.1:{DNS_PORT}",
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            f"127.0.0.1:{DNS_MGMT_PORT}",
        ],
        stdout=logs,
        stderr=logs,
    )
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    pebble = subprocess.Popen(
        ["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{DNS_PORT}"],
        stdout=logs,
        stderr=logs,
        env=env,
    )
    try:
        wait_port(ACME_PORT)
        wait_port(ACME_MGMT_PORT)
        listener_ca = base / "listener" / "ca.pem"
        ctx = ssl.create_default_context(cafile=str(listener_ca))
        with urllib.request.urlopen(
            f"https://127.0.0.1:{ACME_MGMT_PORT}/roots/0", context=ctx, timeout=5
        ) as resp:
            (base / "pebble-root.pem").write_bytes(resp.read())
        yield base
    finally:
        for proc in (pebble, dns):
            proc.terminate()
            proc.wait(10)
        logs.close()


def run_certbot(acme: Path, front: Front, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "DOMAIN": NAME,
        "EMAIL": "ops@swarmfaas.test",
        "ACME_SERVER": f"https://127.0.0.1:{ACME_PORT}/dir",
        "ACME_WEBROOT": str(front.webroot),
        "CERTBOT_CONFIG_DIR": str(front.letsencrypt),
        "CERTBOT_WORK_DIR": str(acme / "certbot-work"),
        "CERTBOT_LOGS_DIR": str(acme / "certbot-logs"),
        "REQUESTS_CA_BUNDLE": str(acme / "listener" / "ca.pem"),
    }
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "certs" / "certbot" / "swarmfaas_certbot.py"),
            "--once",
            *flags,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_certbot_obtains_and_renews_through_our_nginx(acme):
    import dev_cert

    dev = world_readable_dir("ng-acme-dev-")
    dev_cert.ensure(str(dev))
    upstream = Recorder(UPSTREAM_PORT).start()
    front = Front(
        HTTPS_PORT,
        HTTP_PORT,
        world_readable_dir("ng-acme-front-"),
        {
            "DOMAIN": NAME,
            "TLS_CERT_FILE": str(dev / "cert.pem"),
            "TLS_KEY_FILE": str(dev / "key.pem"),
            "SIDECAR_UPSTREAM": f"127.0.0.1:{UPSTREAM_PORT}",
        },
    )
    try:
        front.start()
        # Before any ACME certificate, nginx serves the default (development) one.
        from cryptography import x509

        dev_only = ssl.create_default_context(cafile=str(dev / "ca.pem"))
        dev_only.check_hostname = False  # the development cert names localhost
        dev_serial = x509.load_pem_x509_certificate((dev / "cert.pem").read_bytes()).serial_number
        assert served_serial(HTTPS_PORT, dev_only, NAME) == dev_serial
        pebble_only = ssl.create_default_context(cafile=str(acme / "pebble-root.pem"))

        done = run_certbot(acme, front)
        assert done.returncode == 0, done.stdout + done.stderr
        live = front.letsencrypt / "live" / NAME / "fullchain.pem"
        assert live.exists()

        deadline = time.monotonic() + 10
        while True:  # the supervisor polls every 0.3 s
            try:
                first = served_serial(HTTPS_PORT, pebble_only, NAME)
                break
            except ssl.SSLCertVerificationError:
                assert time.monotonic() < deadline, front.log.read_text()
                time.sleep(0.2)
        pid = front.nginx_pid()
        key_before = (live.parent / "privkey.pem").read_bytes()

        with SteadyLoop(HTTPS_PORT, pebble_only, NAME) as loop:
            time.sleep(0.5)
            renewed = run_certbot(acme, front, "--force-renewal")
            assert renewed.returncode == 0, renewed.stdout + renewed.stderr
            assert loop.wait_for_serial_change(first, timeout=10), front.log.read_text()
            time.sleep(0.5)
        assert loop.failures == [], loop.failures[:3]
        assert loop.ok > 20
        assert front.nginx_pid() == pid  # the same nginx master: no restart
        assert "installed, no reload" in front.log.read_text()
        # --reuse-key: no handshake can pair the old certificate with a new key.
        assert (live.parent / "privkey.pem").read_bytes() == key_before
        on_disk = x509.load_pem_x509_certificate(live.read_bytes())
        assert loop.serials[-1] == on_disk.serial_number != first
        names = on_disk.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == [NAME]
        # The token was fetched from our nginx's webroot, by Pebble's VA.
        fetched = [
            e for e in front.access_entries() if e["uri"].startswith("/.well-known/acme-challenge/")
        ]
        assert fetched and all(e["status"] == "200" for e in fetched)
    finally:
        front.stop()
        upstream.stop()
        shutil.rmtree(front.base, ignore_errors=True)
        shutil.rmtree(dev, ignore_errors=True)
