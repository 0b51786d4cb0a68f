"""Make the development certificate: a local CA and a certificate it signs.

    python certs/dev_cert.py OUT_DIR [--names localhost,127.0.0.1,::1] [--secret-suffix]

Idempotent: an existing CA and certificate that still cover the names and are
valid for 30 more days are kept. The CA is name-constrained to exactly those
names, so trusting it cannot vouch for any other site. Its key stays in OUT_DIR
(never in git, never in the swarm: only cert.pem and key.pem go to nginx).
`--secret-suffix` prints a short hash of cert.pem + key.pem and nothing else:
Docker secrets are immutable, so the stack names them by content.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import ipaddress
import os
import sys
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
CA_DAYS = 3650
LEAF_DAYS = 397  # what browsers accept for a leaf certificate
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class DevCertPaths:
    ca_cert: str
    ca_key: str
    cert: str
    key: str

    @classmethod
    def under(cls, out_dir: str) -> DevCertPaths:
        j = os.path.join
        return cls(
            j(out_dir, "ca.pem"),
            j(out_dir, "ca-key.pem"),
            j(out_dir, "cert.pem"),
            j(out_dir, "key.pem"),
        )


def general_names(names: tuple[str, ...]) -> list[x509.GeneralName]:
    """DNS names and IP addresses, each as the right SAN type (pure)."""
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _permitted(names: tuple[str, ...]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for gn in general_names(names):
        if isinstance(gn, x509.IPAddress):
            out.append(x509.IPAddress(ipaddress.ip_network(f"{gn.value}/{gn.value.max_prefixlen}")))
        else:
            out.append(gn)
    return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(names: tuple[str, ...]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "swarmfaas development"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"swarmfaas dev CA {os.uname().nodename}"),
        ]
    )
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(permitted_subtrees=_permitted(names), excluded_subtrees=None),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    names: tuple[str, ...],
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf for `names` signed by the CA; for `key` (a renewal that keeps its
    key, as certbot's --reuse-key), else for a new one."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = _now()
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(general_names(names)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def covers(cert: x509.Certificate, names: tuple[str, ...], ext: type) -> bool:
    """True when the SAN (or the CA's permitted names) lists exactly these names."""
    try:
        value = cert.extensions.get_extension_for_class(ext).value
    except x509.ExtensionNotFound:
        return False
    have = set(value) if ext is x509.SubjectAlternativeName else set(value.permitted_subtrees or [])
    want = set(general_names(names) if ext is x509.SubjectAlternativeName else _permitted(names))
    return have == want


def still_good(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - _now() > RENEW_BEFORE


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: str, data: bytes, mode: int) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _load(path_cert: str, path_key: str):
    try:
        with open(path_cert, "rb") as c, open(path_key, "rb") as k:
            return x509.load_pem_x509_certificate(c.read()), serialization.load_pem_private_key(
                k.read(), None
            )
    except (FileNotFoundError, ValueError):
        return None


def ensure(out_dir: str, names: tuple[str, ...] = DEFAULT_NAMES) -> list[str]:
    """Create what is missing or stale; returns what was made ([] when nothing)."""
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    p = DevCertPaths.under(out_dir)
    made: list[str] = []
    loaded_ca = _load(p.ca_cert, p.ca_key)
    if loaded_ca and covers(loaded_ca[0], names, x509.NameConstraints) and still_good(loaded_ca[0]):
        ca, ca_key = loaded_ca
    else:
        ca, ca_key = make_ca(names)
        _write(p.ca_key, _pem_key(ca_key), 0o600)
        _write(p.ca_cert, ca.public_bytes(serialization.Encoding.PEM), 0o644)
        made.append("ca")
    leaf = _load(p.cert, p.key)
    fresh = (
        leaf is not None
        and not made
        and leaf[0].issuer == ca.subject
        and covers(leaf[0], names, x509.SubjectAlternativeName)
        and still_good(leaf[0])
    )
    if not fresh:
        cert, key = make_leaf(names, ca, ca_key)
        _write(p.key, _pem_key(key), 0o600)
        _write(p.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        made.append("cert")
    return made


def secret_suffix(out_dir: str) -> str:
    p = DevCertPaths.under(out_dir)
    with open(p.cert, "rb") as c, open(p.key, "rb") as k:
        return hashlib.sha256(c.read() + k.read()).hexdigest()[:12]


def trust_instructions(out_dir: str) -> str:
    ca = os.path.abspath(DevCertPaths.under(out_dir).ca_cert)
    return "\n".join(
        [
            f"The development CA is {ca} (it can only vouch for the local names above).",
            "Trust it to use https://localhost without warnings:",
            f"  curl:            curl --cacert {ca} https://localhost:8443/healthz",
            f"  Python/httpx:    SSL_CERT_FILE={ca}",
            f"  Debian/Ubuntu:   cp {ca} /usr/local/share/ca-certificates/swarmfaas-dev.crt"
            " && update-ca-certificates",
            f"  macOS:           security add-trusted-cert -d -r trustRoot -k "
            f"/Library/Keychains/System.keychain {ca}",
            f"  Firefox:         Settings > Certificates > View Certificates > Authorities"
            f" > Import {ca}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument(
        "--names",
        default=",".join(DEFAULT_NAMES),
        help="comma-separated DNS names and IP addresses",
    )
    parser.add_argument(
        "--secret-suffix",
        action="store_true",
        help="print only the content hash used to name the Docker secrets",
    )
    args = parser.parse_args(argv)
    names = tuple(n.strip() for n in args.names.split(",") if n.strip())
    if not names:
        parser.error("--names: give at least one name")
    made = ensure(args.out_dir, names)
    if args.secret_suffix:
        print(secret_suffix(args.out_dir))
        return 0
    if made:
        print(f"made the development {' and '.join(made)} for {', '.join(names)} in {args.out_dir}")
        if "ca" in made:
            print(trust_instructions(args.out_dir))
    else:
        print(f"the development certificate in {args.out_dir} is still good")
    return 0


if __name__ == "__main__":
    sys.exit(main())
