"""The OpenAPI document shipped in the package is a valid OpenAPI 3.1 document."""

from __future__ import annotations

from openapi_spec_validator import validate

from faas_sidecar.system.routes import load_openapi


def test_openapi_document_is_valid():
    validate(load_openapi())


def test_every_operation_requires_basic_auth_and_documents_401():
    doc = load_openapi()
    assert doc["security"] == [{"basicAuth": []}]
    assert doc["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"
    for path, item in doc["paths"].items():
        assert path.startswith("/system/")
        for method, operation in item.items():
            assert "security" not in operation, f"{method} {path} overrides security"
            assert "401" in operation["responses"], f"{method} {path} lacks 401"


def test_function_status_namespace_is_the_platforms_one_namespace():
    from faas_sidecar.routing import NAMESPACE

    schema = load_openapi()["components"]["schemas"]["FunctionStatus"]["properties"]
    assert schema["namespace"]["enum"] == [NAMESPACE]
