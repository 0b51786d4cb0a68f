"""The platform on the multi-node cluster accepts what the faas CLI pushes there:
the system API's and the gate's image allowlist admit the cluster registry's
names, and the development certificate names every manager's address
(scripts/cluster-env.sh, cluster-deploy.sh; docs/multi-node.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from faas_sidecar import settings
from faas_sidecar.allowlist import allowed
from faas_sidecar.errors import PlatformError
from faas_sidecar.gate.policy import _DIGEST_RE
from faas_sidecar.system.payloads import parse_deployment

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "certs"))
import dev_cert  # noqa: E402

DIGEST = "sha256:" + "c" * 64


def cluster_env(*exprs: str) -> list[str]:
    """Each shell expression's value, after sourcing scripts/cluster-env.sh."""
    script = "source scripts/cluster-env.sh; " + "; ".join(f'echo "{e}"' for e in exprs)
    out = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    return out.splitlines()


def allowlist() -> tuple[str, ...]:
    (value,) = cluster_env("$CLUSTER_IMAGE_ALLOWLIST")
    return settings.globs({"SYSTEM_IMAGE_ALLOWLIST": value}, "SYSTEM_IMAGE_ALLOWLIST", ValueError)


def deploy(image: str) -> str:
    return parse_deployment({"service": "fn-x", "image": image}, image_allowlist=allowlist(),
                            secret_allowlist=(), max_replicas=20).image


def test_the_registry_s_names_are_deployable_on_the_cluster():
    (registry,) = cluster_env("$CLUSTER_REGISTRY")
    pushed = f"{registry}/swarmfaas/fn-x@{DIGEST}"  # what `faas push --registry` records
    assert deploy(pushed) == pushed
    assert allowed(_DIGEST_RE.sub("", pushed), allowlist())  # the gate's own check
    assert deploy("swarmfaas/fn-x:latest") == "swarmfaas/fn-x:latest"  # one node's names too
    for other in (f"{registry}/other/fn-x@{DIGEST}", f"evil.example/swarmfaas/fn-x@{DIGEST}"):
        with pytest.raises(PlatformError):
            deploy(other)


def test_the_stack_takes_its_allowlist_from_the_deploy():
    stack = yaml.safe_load((REPO / "stack.yml").read_text())
    for service in ("sidecar", "engine-gate"):  # both check it
        env = stack["services"][service]["environment"]
        assert env["SYSTEM_IMAGE_ALLOWLIST"] == "${SYSTEM_IMAGE_ALLOWLIST:-swarmfaas/*}"
    script = (REPO / "scripts/cluster-deploy.sh").read_text()
    assert 'SYSTEM_IMAGE_ALLOWLIST="${SYSTEM_IMAGE_ALLOWLIST:-$CLUSTER_IMAGE_ALLOWLIST}"' in script
    assert 'DEV_CERT_NAMES="${DEV_CERT_NAMES:-$CLUSTER_CERT_NAMES}"' in script
    assert '--names "${DEV_CERT_NAMES:-' in (REPO / "scripts/secrets.sh").read_text()


def test_the_development_certificate_names_every_manager(tmp_path):
    managers_addrs = "$(for n in $CLUSTER_MANAGERS; do printf '%s ' $(node_addr $n); done)"
    names_line, managers = cluster_env("$CLUSTER_CERT_NAMES", managers_addrs)
    names = tuple(names_line.split(","))
    dev_cert.ensure(str(tmp_path), names)
    cert = x509.load_pem_x509_certificate(
        Path(dev_cert.DevCertPaths.under(str(tmp_path)).cert).read_bytes())
    addrs = managers.split()
    assert len(addrs) == 3
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    assert set(addrs) | {"127.0.0.1"} <= ips
    assert "localhost" in san.get_values_for_type(x509.DNSName)
