"""Stack-file functions -> the system API's FunctionDeployment (OpenFaaS's shape). Pure."""

from __future__ import annotations

import base64
from typing import Any

from .stack import Function


def deployment(fn: Function) -> dict[str, Any]:
    """The body of POST/PUT /system/functions for `fn`; empty fields are left out."""
    body: dict[str, Any] = {"service": fn.name, "image": fn.image}
    if fn.fprocess:
        body["envProcess"] = fn.fprocess
    optional = {
        "envVars": dict(fn.environment),
        "labels": dict(fn.labels),
        "annotations": dict(fn.annotations),
        "secrets": list(fn.secrets),
        "constraints": list(fn.constraints),
        "limits": dict(fn.limits),
        "requests": dict(fn.requests),
    }
    body.update({k: v for k, v in optional.items() if v})
    if fn.readonly_root_filesystem is not None:  # else the platform's default: read-only
        body["readOnlyRootFilesystem"] = fn.readonly_root_filesystem
    return body


def scale_request(name: str, replicas: int) -> dict[str, Any]:
    return {"serviceName": name, "replicas": replicas}


def delete_request(name: str) -> dict[str, Any]:
    return {"functionName": name}


def secret(name: str, value: bytes) -> dict[str, Any]:
    """The body of POST/PUT /system/secrets: text as ``value``, other bytes as
    ``rawValue`` (base64), so a binary key file arrives byte for byte."""
    try:
        return {"name": name, "value": value.decode("utf-8")}
    except UnicodeDecodeError:
        return {"name": name, "rawValue": base64.b64encode(value).decode("ascii")}
