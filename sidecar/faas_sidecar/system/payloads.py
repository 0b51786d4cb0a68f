"""Request JSON of the system API -> validated values (pure, no IO).

The shapes are those of the OpenFaaS gateway (FunctionDeployment,
ScaleServiceRequest, DeleteFunctionRequest) so existing clients work. Every
rejection is a ``PlatformError`` with a reason that names the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from faas_sidecar import errors
from faas_sidecar import labels as keys
from faas_sidecar.allowlist import allowed
from faas_sidecar.errors import invalid_request
from faas_sidecar.labels import is_valid_name
from faas_sidecar.routing import check_namespace
from faas_sidecar.scaler.labels import ScaleLabelError, parse_scale_labels

# A simplified Docker image reference: [host[:port]/]path[:tag][@sha256:digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
IMAGE_RE = re.compile(
    rf"^(?:{_HOST}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,253}[A-Za-z0-9])?$")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MEMORY_RE = re.compile(r"^([0-9]+)\s*([kKmMgG]?)(i?)[bB]?$")
_CPU_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(m?)$")

MAX_VALUE_LENGTH = 4096
MIN_MEMORY_BYTES = 6 * 1024 * 1024  # Docker refuses less

DEPLOYMENT_FIELDS = frozenset({
    "service", "image", "namespace", "envProcess", "envVars", "constraints", "secrets",
    "labels", "annotations", "limits", "requests", "readOnlyRootFilesystem",
    # Deprecated in OpenFaaS and ignored there too; accepted so old clients work.
    "registryAuth", "network",
})
RESERVED_LABELS = frozenset({keys.FUNCTION, keys.NAME})
RESERVED_LABEL_PREFIXES = (keys.ANNOTATION_PREFIX, keys.DOCKER_PREFIX)


@dataclass(frozen=True, slots=True)
class Resources:
    memory_bytes: int | None = None
    nano_cpus: int | None = None


# Containment by default, as stack.yml's x-function gives its functions
# (docs/watchdog.md, "Containment defaults"): a request that leaves out
# `limits` gets these, and one that leaves out `readOnlyRootFilesystem` a
# read-only root. `"limits": {}` asks for none; `false` for a writable root.
DEFAULT_LIMITS = Resources(memory_bytes=512 * 1024 * 1024, nano_cpus=1_000_000_000)
DEFAULT_READ_ONLY_ROOT = True


@dataclass(frozen=True, slots=True)
class Deployment:
    """A function to create or replace, as validated from FunctionDeployment."""

    name: str
    image: str
    env_process: str | None = None
    env_vars: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    constraints: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    limits: Resources | None = DEFAULT_LIMITS
    requests: Resources | None = None
    read_only_root: bool = DEFAULT_READ_ONLY_ROOT
    initial_replicas: int = 1


@dataclass(frozen=True, slots=True)
class ScaleRequest:
    name: str
    replicas: int


def parse_json_body(body: bytes) -> Any:
    if not body or not body.strip():
        raise errors.invalid_json("the request needs a JSON body")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.invalid_json(f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # nested deeper than the parser's stack: a client's mistake
        raise errors.invalid_json("the body is JSON nested too deeply") from None


def validate_function_name(value: Any, what: str = "function name") -> str:
    if not isinstance(value, str) or not is_valid_name(value):
        raise errors.invalid_function_name(
            f"{what} must be 1-63 characters of [a-z0-9-], starting and ending with "
            f"a letter or digit, got {_show(value)}"
        )
    return value


def parse_deployment(doc: Any, *, image_allowlist: tuple[str, ...],
                     secret_allowlist: tuple[str, ...], max_replicas: int,
                     platform_secrets: frozenset[str] = frozenset()) -> Deployment:
    """FunctionDeployment JSON -> Deployment, or a 400/403/404 PlatformError.

    A secret is allowed if it matches ``secret_allowlist`` or is one of
    ``platform_secrets`` (made by /system/secrets for functions)."""
    if not isinstance(doc, dict):
        raise invalid_request("the body must be a JSON object (FunctionDeployment)")
    unknown = sorted(set(doc) - DEPLOYMENT_FIELDS)
    if unknown:
        raise invalid_request(f"unknown field(s) in FunctionDeployment: {', '.join(unknown)}")
    name = validate_function_name(doc.get("service"), "service")
    image = doc.get("image")
    if not isinstance(image, str) or len(image) > 512 or not IMAGE_RE.fullmatch(image):
        raise invalid_request(f"image must be a Docker image reference, got {_show(image)}")
    if not allowed(image, image_allowlist):
        raise errors.image_not_allowed(image)
    namespace = doc.get("namespace")
    if namespace not in (None, ""):
        check_namespace(str(namespace))  # the platform's one, or openfaas-fn
    env_process = doc.get("envProcess")
    if env_process is not None:
        env_process = _string(env_process, "envProcess", allow_empty=True) or None
    labels = _string_map(doc.get("labels"), "labels", _LABEL_KEY_RE)
    for key in labels:
        if key in RESERVED_LABELS or key.startswith(RESERVED_LABEL_PREFIXES):
            raise invalid_request(f"label {key!r} is set by the platform and cannot be given")
    _check_known_labels(labels, max_replicas)
    annotations = _string_map(doc.get("annotations"), "annotations", _LABEL_KEY_RE)
    secrets = _string_list(doc.get("secrets"), "secrets")
    for secret in secrets:
        if not _SECRET_RE.fullmatch(secret):
            raise invalid_request(f"secrets: {secret!r} is not a Docker secret name")
        if secret not in platform_secrets and not allowed(secret, secret_allowlist):
            raise errors.secret_not_allowed(secret)
    read_only = doc.get("readOnlyRootFilesystem")
    if read_only is None:
        read_only = DEFAULT_READ_ONLY_ROOT
    if not isinstance(read_only, bool):
        raise invalid_request("readOnlyRootFilesystem must be true or false")
    return Deployment(
        name=name,
        image=image,
        env_process=env_process,
        env_vars=MappingProxyType(_string_map(doc.get("envVars"), "envVars", _ENV_KEY_RE)),
        labels=MappingProxyType(labels),
        annotations=MappingProxyType(annotations),
        constraints=tuple(_string_list(doc.get("constraints"), "constraints")),
        secrets=tuple(secrets),
        limits=(DEFAULT_LIMITS if doc.get("limits") is None
                else _resources(doc["limits"], "limits")),
        requests=_resources(doc.get("requests"), "requests"),
        read_only_root=read_only,
        initial_replicas=int(labels.get(keys.SCALE_MIN, keys.DEFAULT_SCALE_MIN)),
    )


def check_scale_bounds(scale: ScaleRequest, labels: Mapping[str, str]) -> None:
    """400 when a hand scaling leaves the function's own scaling bounds
    (``swarmfaas.scale.min``/``.max`` or OpenFaaS's names): the scaler would
    only undo it. 0 is always allowed: a function stopped by hand."""
    if scale.replicas == 0:
        return
    try:
        bounds = parse_scale_labels(labels)
    except ScaleLabelError:
        return  # the scaler leaves such a function alone, and so does this check
    if not bounds.min <= scale.replicas <= bounds.max:
        raise invalid_request(
            f"replicas {scale.replicas} is outside the function's scaling bounds "
            f"{bounds.min}-{bounds.max} (swarmfaas.scale.min/max); 0 stops it")


def parse_scale_request(name: str, doc: Any, *, max_replicas: int) -> ScaleRequest:
    """ScaleServiceRequest JSON for /system/scale-function/<name> -> ScaleRequest."""
    validate_function_name(name)
    if not isinstance(doc, dict):
        raise invalid_request("the body must be a JSON object (ScaleServiceRequest)")
    service_name = doc.get("serviceName")
    if service_name not in (None, "", name):
        raise invalid_request(
            f"serviceName {_show(service_name)} does not match the path ({name!r})"
        )
    replicas = doc.get("replicas")
    # bool is an int in Python; true is not a replica count.
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise invalid_request(f"replicas must be an integer, got {_show(replicas)}")
    if not 0 <= replicas <= max_replicas:
        raise invalid_request(f"replicas must be between 0 and {max_replicas}, got {replicas}")
    return ScaleRequest(name=name, replicas=replicas)


def parse_delete_request(doc: Any) -> str:
    """DeleteFunctionRequest JSON -> the function name."""
    if not isinstance(doc, dict):
        raise invalid_request("the body must be a JSON object (DeleteFunctionRequest)")
    return validate_function_name(doc.get("functionName"), "functionName")


def parse_memory(value: str) -> int:
    """'128M', '128Mi', '1G', '67108864' -> bytes (K/M/G are powers of 1024, as in Docker)."""
    match = _MEMORY_RE.fullmatch(value.strip())
    if not match:
        raise ValueError(value)
    number, unit, _ = match.groups()
    return int(number) * 1024 ** " KMG".index(unit.upper() or " ")


def parse_cpu(value: str) -> int:
    """'0.5', '2', '500m' -> nano CPUs."""
    match = _CPU_RE.fullmatch(value.strip())
    if not match:
        raise ValueError(value)
    number, milli = match.groups()
    cpus = float(number) / (1000 if milli else 1)
    return round(cpus * 1_000_000_000)


def _resources(value: Any, where: str) -> Resources | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_request(f'{where} must be an object like {{"memory": "128M", "cpu": "0.5"}}')
    unknown = sorted(set(value) - {"memory", "cpu"})
    if unknown:
        raise invalid_request(f"{where}: unknown field(s) {', '.join(unknown)}")
    memory = cpu = None
    if value.get("memory") not in (None, ""):
        raw = _string(value["memory"], f"{where}.memory")
        try:
            memory = parse_memory(raw)
        except ValueError:
            raise invalid_request(
                f"{where}.memory must look like 128M or 1Gi, got {raw!r}"
            ) from None
        if memory < MIN_MEMORY_BYTES:
            raise invalid_request(f"{where}.memory must be at least 6M, got {raw!r}")
    if value.get("cpu") not in (None, ""):
        raw = _string(value["cpu"], f"{where}.cpu")
        try:
            cpu = parse_cpu(raw)
        except ValueError:
            raise invalid_request(f"{where}.cpu must look like 0.5 or 500m, got {raw!r}") from None
        if cpu <= 0:
            raise invalid_request(f"{where}.cpu must be more than 0, got {raw!r}")
    if memory is None and cpu is None:
        return None
    return Resources(memory_bytes=memory, nano_cpus=cpu)


def _check_known_labels(labels: Mapping[str, str], max_replicas: int) -> None:
    """Catch the platform labels a typo would make silently unroutable (docs/labels.md)."""
    checks = {
        keys.PORT: (lambda v: keys.is_decimal(v) and 1 <= int(v) <= 65535, "a port 1-65535"),
        keys.TIMEOUT: (_positive_number, "a number of seconds above 0"),
        keys.SCALE_MIN: (lambda v: keys.is_decimal(v) and int(v) <= max_replicas,
                         f"an integer 0-{max_replicas}"),
        keys.SCALE_MAX: (keys.is_decimal, "an integer"),
        keys.PIDS_LIMIT: (lambda v: keys.is_decimal(v) and int(v) <= keys.MAX_PIDS_LIMIT,
                          f"an integer 0-{keys.MAX_PIDS_LIMIT} (0: no limit)"),
    }
    for key, (ok, what) in checks.items():
        if key in labels and not ok(labels[key]):
            raise invalid_request(f"label {key} must be {what}, got {labels[key]!r}")


def _positive_number(value: str) -> bool:
    try:
        return float(value) > 0
    except ValueError:
        return False


def _string(value: Any, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise invalid_request(f"{where} must be a string, got {_show(value)}")
    if (not value and not allow_empty) or len(value) > MAX_VALUE_LENGTH or "\x00" in value:
        raise invalid_request(f"{where} must be a non-empty string without NUL, "
                          f"at most {MAX_VALUE_LENGTH} characters")
    return value


def _string_map(value: Any, where: str, key_re: re.Pattern[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_request(f"{where} must be an object of strings")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not key_re.fullmatch(key):
            raise invalid_request(f"{where}: {key!r} is not a valid key")
        result[key] = _string(item, f"{where}.{key}", allow_empty=True)
    return result


def _string_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_request(f"{where} must be a list of strings")
    return [_string(item, f"{where}[{index}]") for index, item in enumerate(value)]


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
