import pytest

from faas_cli.payload import delete_request, deployment, scale_request, secret
from faas_cli.stack import Function


@pytest.mark.parametrize(("fn", "want"), [
    (Function("a", "python", "./a", "swarmfaas/fn-a:1"),
     {"service": "a", "image": "swarmfaas/fn-a:1"}),
    (Function("a", "python", "./a", "i", fprocess="cat", environment={"K": "v"},
              labels={"l": "1"}, annotations={"topic": "t"}, secrets=("s",),
              constraints=("node.role == manager",), limits={"memory": "40Mi", "cpu": "100m"},
              requests={"memory": "20Mi"}, readonly_root_filesystem=True),
     {"service": "a", "image": "i", "envProcess": "cat", "envVars": {"K": "v"},
      "labels": {"l": "1"}, "annotations": {"topic": "t"}, "secrets": ["s"],
      "constraints": ["node.role == manager"], "limits": {"memory": "40Mi", "cpu": "100m"},
      "requests": {"memory": "20Mi"}, "readOnlyRootFilesystem": True}),
    # A stack file that asks for a writable root says so; one that is silent
    # leaves the platform's default (read-only) in place.
    (Function("a", "python", "./a", "i", readonly_root_filesystem=False),
     {"service": "a", "image": "i", "readOnlyRootFilesystem": False}),
])
def test_deployment(fn, want):
    assert deployment(fn) == want


def test_deployment_fields_are_the_openapi_documents():
    import json
    from pathlib import Path

    import faas_sidecar

    doc = json.loads((Path(faas_sidecar.__file__).parent / "system" / "openapi.json").read_text())
    allowed = set(doc["components"]["schemas"]["FunctionDeployment"]["properties"])
    full = Function("a", "python", "./a", "i", fprocess="cat", environment={"K": "v"},
                    labels={"l": "1"}, annotations={"t": "t"}, secrets=("s",),
                    constraints=("c",), limits={"cpu": "1"}, requests={"cpu": "1"},
                    readonly_root_filesystem=True)
    assert set(deployment(full)) <= allowed


def test_scale_and_delete():
    assert scale_request("a", 3) == {"serviceName": "a", "replicas": 3}
    assert delete_request("a") == {"functionName": "a"}


@pytest.mark.parametrize(("value", "want"), [
    (b"s3cret\n", {"name": "k", "value": "s3cret\n"}),
    ("café".encode(), {"name": "k", "value": "café"}),
    (b"\x00\xff\xfe", {"name": "k", "rawValue": "AP/+"}),
])
def test_secret(value, want):
    assert secret("k", value) == want
