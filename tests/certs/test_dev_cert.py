"""The development CA and certificate (certs/dev_cert.py)."""

from __future__ import annotations

import ipaddress
import stat
import subprocess
import sys

import dev_cert
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from ng_harness import REPO


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def verify(ca, leaf, name):
    import datetime as dt

    verifier = (
        PolicyBuilder().store(Store([ca])).time(dt.datetime.now(dt.UTC)).build_server_verifier(name)
    )
    return verifier.verify(leaf, [])


def test_makes_a_ca_and_a_cert_for_localhost(tmp_path):
    assert dev_cert.ensure(str(tmp_path)) == ["ca", "cert"]
    ca, leaf = load(tmp_path / "ca.pem"), load(tmp_path / "cert.pem")
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    for name in ("localhost", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))):
        subject = x509.DNSName(name) if isinstance(name, str) else name
        assert verify(ca, leaf, subject)
    for key in ("ca-key.pem", "key.pem"):
        assert stat.S_IMODE((tmp_path / key).stat().st_mode) == 0o600


def test_the_ca_cannot_vouch_for_other_names(tmp_path):
    dev_cert.ensure(str(tmp_path))
    ca = load(tmp_path / "ca.pem")
    from cryptography.hazmat.primitives import serialization

    ca_key = serialization.load_pem_private_key((tmp_path / "ca-key.pem").read_bytes(), None)
    rogue, _ = dev_cert.make_leaf(("bank.example",), ca, ca_key)
    with pytest.raises(VerificationError):
        verify(ca, rogue, x509.DNSName("bank.example"))


def test_is_idempotent_and_the_secret_suffix_is_stable(tmp_path):
    dev_cert.ensure(str(tmp_path))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    suffix = dev_cert.secret_suffix(str(tmp_path))
    assert dev_cert.ensure(str(tmp_path)) == []
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert dev_cert.secret_suffix(str(tmp_path)) == suffix and len(suffix) == 12


def test_reissues_a_leaf_close_to_expiry_with_the_same_ca(tmp_path, monkeypatch):
    dev_cert.ensure(str(tmp_path))
    ca_before = (tmp_path / "ca.pem").read_bytes()
    leaf_before = (tmp_path / "cert.pem").read_bytes()
    monkeypatch.setattr(dev_cert, "LEAF_DAYS", 10)
    (tmp_path / "cert.pem").unlink()
    dev_cert.ensure(str(tmp_path))  # a 10-day leaf
    assert dev_cert.ensure(str(tmp_path)) == ["cert"]  # < 30 days left: re-issued
    assert (tmp_path / "ca.pem").read_bytes() == ca_before
    assert (tmp_path / "cert.pem").read_bytes() != leaf_before


def test_other_names_make_a_new_ca(tmp_path):
    dev_cert.ensure(str(tmp_path))
    fp = load(tmp_path / "ca.pem").fingerprint(hashes.SHA256())
    assert dev_cert.ensure(str(tmp_path), ("localhost", "dev.lan")) == ["ca", "cert"]
    assert load(tmp_path / "ca.pem").fingerprint(hashes.SHA256()) != fp


def test_command_line_prints_trust_instructions_once(tmp_path):
    run = [sys.executable, str(REPO / "certs" / "dev_cert.py"), str(tmp_path / "dev")]
    first = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "Trust it" in first and "ca.pem" in first
    second = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "still good" in second
    suffix = subprocess.run([*run, "--secret-suffix"], capture_output=True, text=True, check=True)
    assert suffix.stdout.strip() == dev_cert.secret_suffix(str(tmp_path / "dev"))
