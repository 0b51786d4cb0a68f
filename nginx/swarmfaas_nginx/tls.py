"""Which certificate nginx serves, and installing it where nginx reads it.

Sources, best first: the ACME certificate certbot keeps for the primary DOMAIN,
the default certificate (the development CA's, from Docker secrets), and a
self-signed one made here so nginx can always start. nginx's workers read one
file, `<state>/tls/served.pem` (the chain, then the key), at every TLS
handshake; a renewal replaces it with one rename, and nginx is not reloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import subprocess
import tempfile
from dataclasses import dataclass

from .settings import Settings

log = logging.getLogger("swarmfaas.nginx.tls")


@dataclass(frozen=True)
class CertSource:
    name: str  # acme, default, self-signed
    cert_path: str
    key_path: str


@dataclass(frozen=True)
class CertPair:
    source: CertSource
    cert: bytes
    key: bytes

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.cert + b"\0" + self.key).hexdigest()


def cert_sources(s: Settings) -> list[CertSource]:
    """The places a certificate may come from, best first (pure)."""
    sources = []
    if s.primary_domain:
        live = f"{s.letsencrypt_dir}/live/{s.primary_domain}"
        sources.append(CertSource("acme", f"{live}/fullchain.pem", f"{live}/privkey.pem"))
    sources.append(CertSource("default", s.default_cert_file, s.default_key_file))
    sources.append(
        CertSource(
            "self-signed", f"{s.tls_dir}/self-signed/cert.pem", f"{s.tls_dir}/self-signed/key.pem"
        )
    )
    return sources


def read_best(sources: list[CertSource]) -> CertPair | None:
    """The first source whose files exist, read at once. None when none exists."""
    for source in sources:
        try:
            with open(source.cert_path, "rb") as c, open(source.key_path, "rb") as k:
                return CertPair(source, c.read(), k.read())
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot read the %s certificate: %s", source.name, exc)
    return None


def served_bytes(pair: CertPair) -> bytes:
    """The served file: the chain, then the key (nginx takes each from the same file)."""
    return pair.cert.rstrip(b"\n") + b"\n" + pair.key


def is_valid_pair(pair: CertPair, scratch_dir: str) -> bool:
    """True when the file to be served loads: the key matches the certificate.

    certbot swaps several symlinks: between two reads the certificate and the
    key may belong to different generations; such a pair is skipped until the
    next look. nginx itself no longer checks (`nginx -t` does not load a
    certificate named by a variable), so this is the only gate."""
    with tempfile.TemporaryDirectory(dir=scratch_dir) as tmp:
        served = os.path.join(tmp, "served.pem")
        _write(served, served_bytes(pair), 0o600)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(served, served)
        except (ssl.SSLError, OSError) as exc:
            log.warning(
                "the %s certificate and key do not load together: %s", pair.source.name, exc
            )
            return False
    return True


def install(pair: CertPair, path: str, reader_gid: int | None) -> None:
    """Put the pair where nginx's workers read it, with one atomic rename.

    One file, not two: a handshake opens the chain and then the key, and with
    two files a swap between the two opens would pair a new key with an old
    certificate. `reader_gid` is the workers' group (they run unprivileged and
    now read the key themselves); None when they run as this process's user."""
    tmp = f"{path}.tmp"
    _write(tmp, served_bytes(pair), 0o600)
    if reader_gid is not None:
        os.chown(tmp, -1, reader_gid)
        os.chmod(tmp, 0o640)
    os.replace(tmp, path)


def make_self_signed(source: CertSource, names: list[str]) -> None:
    """A throwaway certificate so nginx starts with no secret and no ACME cert yet."""
    os.makedirs(os.path.dirname(source.cert_path), mode=0o700, exist_ok=True)
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=swarmfaas self-signed",
            "-addext",
            f"subjectAltName={san}",
            "-keyout",
            source.key_path,
            "-out",
            source.cert_path,
        ],
        check=True,
        capture_output=True,
    )
    os.chmod(source.key_path, 0o600)


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
