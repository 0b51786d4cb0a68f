"""A local stand-in for Amazon's Alexa signing PKI (a root, an intermediate, leaves).

The Alexa tests sign with it (tests/sidecar/alexa/alexa_signing.py), and
scripts/deploy.sh (with ALEXA_TEST=1) writes the material an end-to-end stack
needs (see docs/alexa.md):

    python certs/alexa_test_pki.py DIR

writes DIR/ca.pem (the root to trust), DIR/echo-api-cert.pem (the chain the
sidecar reads through ALEXA_CERT_MIRROR) and DIR/signer-key.pem (mode 600,
the key the tests sign with). Existing files are kept. Never for production:
a sidecar trusts this root only when told to (ALEXA_TRUST_ROOTS).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ECHO_API = "echo-api.amazon.com"
UTC = dt.UTC


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


_USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
           "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


def _usage(*on: str) -> x509.KeyUsage:
    """A KeyUsage with the named flags set and every other one clear."""
    return x509.KeyUsage(**{flag: flag in on for flag in _USAGES})


@dataclass
class TestPKI:
    """A root and an intermediate CA, shaped like Amazon's (leaf, intermediate, root)."""

    __test__ = False  # not a pytest test class

    name: str = "swarmfaas test"
    root_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    inter_key: rsa.RSAPrivateKey = field(default_factory=new_key)

    def __post_init__(self) -> None:
        start, end = _now() - dt.timedelta(days=1), _now() + dt.timedelta(days=3650)
        self.root = self._ca(_name(f"{self.name} root"), self.root_key, None, None, start, end)
        self.intermediate = self._ca(
            _name(f"{self.name} intermediate"), self.inter_key, self.root, self.root_key, start, end
        )

    @staticmethod
    def _ca(subject, key, issuer, issuer_key, start, end) -> x509.Certificate:  # type: ignore[no-untyped-def]
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage("digital_signature", "key_cert_sign", "crl_sign"),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
        signer = issuer_key or key
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        )
        return builder.sign(signer, hashes.SHA256())

    def issue(
        self,
        names: tuple[str, ...] = (ECHO_API,),
        key: rsa.RSAPrivateKey | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        """A signing certificate issued by the intermediate."""
        key = key or new_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0] if names else "no names"))
            .issuer_name(self.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or _now() - dt.timedelta(hours=1))
            .not_valid_after(not_after or _now() + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage("digital_signature", "key_encipherment"), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.inter_key.public_key()),
                False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
        if names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False
            )
        return builder.sign(self.inter_key, hashes.SHA256()), key

    def chain_pem(self, leaf: x509.Certificate) -> bytes:
        """What Amazon serves at the cert URL: the leaf, then the intermediate."""
        return pem(leaf) + pem(self.intermediate)

    def root_pem(self) -> bytes:
        return pem(self.root)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )



def write_material(directory: Path) -> None:
    """The files an end-to-end stack and its tests share (kept if present)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / n for n in ("ca.pem", "echo-api-cert.pem", "signer-key.pem")]
    if all(p.exists() for p in paths):
        return
    pki = TestPKI(name="swarmfaas e2e")
    leaf, key = pki.issue()
    paths[0].write_bytes(pki.root_pem())
    paths[1].write_bytes(pki.chain_pem(leaf))
    fd = os.open(paths[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem(key))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: alexa_test_pki.py DIR")
    write_material(Path(sys.argv[1]))
