"""Request JSON -> validated values: FunctionDeployment, scale, delete."""

from __future__ import annotations

import pytest

from faas_sidecar.allowlist import allowed
from faas_sidecar.errors import PlatformError
from faas_sidecar.system.payloads import (
    DEFAULT_LIMITS,
    Resources,
    parse_cpu,
    parse_delete_request,
    parse_deployment,
    parse_json_body,
    parse_memory,
    parse_scale_request,
    validate_function_name,
)

ALLOW = ("swarmfaas/*", "debian:bookworm-slim")


def deploy(doc, *, secrets=("fn-*",), max_replicas=20):
    return parse_deployment(doc, image_allowlist=ALLOW, secret_allowlist=secrets,
                            max_replicas=max_replicas)


def minimal(**extra):
    return {"service": "hello", "image": "swarmfaas/fn-echo:latest", **extra}


def test_a_full_deployment_is_parsed():
    dep = deploy(minimal(
        envProcess="cat", envVars={"MODE": "x"}, labels={"swarmfaas.timeout": "5", "team": "a"},
        annotations={"topic": "t"}, constraints=["node.role==manager"], secrets=["fn-key"],
        limits={"memory": "128M", "cpu": "0.5"}, requests={"memory": "64Mi", "cpu": "100m"},
        readOnlyRootFilesystem=True, namespace="", registryAuth="ignored", network="ignored",
    ))
    assert dep.name == "hello" and dep.image == "swarmfaas/fn-echo:latest"
    assert dep.env_process == "cat" and dict(dep.env_vars) == {"MODE": "x"}
    assert dict(dep.labels) == {"swarmfaas.timeout": "5", "team": "a"}
    assert dict(dep.annotations) == {"topic": "t"}
    assert dep.constraints == ("node.role==manager",) and dep.secrets == ("fn-key",)
    assert dep.limits == Resources(memory_bytes=128 * 2**20, nano_cpus=500_000_000)
    assert dep.requests == Resources(memory_bytes=64 * 2**20, nano_cpus=100_000_000)
    assert dep.read_only_root is True and dep.initial_replicas == 1


@pytest.mark.parametrize(("doc", "attr", "expected"), [
    (minimal(), "env_process", None),
    (minimal(envProcess=""), "env_process", None),
    (minimal(labels=None, annotations=None), "labels", {}),
    # Contained by default (stack.yml's x-function): 1 CPU, 512 MiB, a read-only root
    (minimal(), "limits", DEFAULT_LIMITS),
    (minimal(limits=None), "limits", DEFAULT_LIMITS),
    (minimal(limits={}), "limits", None),  # asked for no limit
    (minimal(), "read_only_root", True),
    (minimal(readOnlyRootFilesystem=None), "read_only_root", True),
    (minimal(readOnlyRootFilesystem=False), "read_only_root", False),
    (minimal(limits={"memory": "", "cpu": "2"}), "limits", Resources(None, 2_000_000_000)),
    (minimal(labels={"swarmfaas.scale.min": "3"}), "initial_replicas", 3),
    (minimal(labels={"swarmfaas.scale.min": "0"}), "initial_replicas", 0),
    ({"service": "a", "image": "debian:bookworm-slim"}, "name", "a"),
])
def test_optional_fields(doc, attr, expected):
    value = getattr(deploy(doc), attr)
    assert (dict(value) if hasattr(value, "items") else value) == expected


@pytest.mark.parametrize(("doc", "status", "fragment"), [
    ([], 400, "JSON object"),
    ("x", 400, "JSON object"),
    ({"image": "swarmfaas/x"}, 400, "service"),
    (minimal(service="Hello"), 400, "service"),
    (minimal(service="-x"), 400, "service"),
    (minimal(service="a" * 64), 400, "service"),
    (minimal(service="a_b"), 400, "service"),
    # a final newline: `$` matches before it, so every pattern must match whole
    (minimal(service="echo\n"), 400, "service"),
    (minimal(image="swarmfaas/x\n"), 400, "image"),
    (minimal(envVars={"A\n": "x"}), 400, "envVars"),
    (minimal(labels={"key\n": "x"}), 400, "labels"),
    (minimal(secrets=["fn-key\n"]), 400, "secret name"),
    (minimal(image=None), 400, "image"),
    (minimal(image="swarmfaas/UPPER"), 400, "image"),
    (minimal(image="swarmfaas/../x"), 400, "image"),
    (minimal(image="swarmfaas/x y"), 400, "image"),
    (minimal(image="evil/miner:latest"), 403, "allowlist"),
    (minimal(image="docker.io/swarmfaas/x"), 403, "allowlist"),
    (minimal(image="debian:bookworm"), 403, "allowlist"),
    (minimal(surprise=1), 400, "surprise"),
    (minimal(namespace="kube-system"), 404, "namespace"),
    (minimal(envProcess=3), 400, "envProcess"),
    (minimal(envVars=["A=1"]), 400, "envVars"),
    (minimal(envVars={"1A": "x"}), 400, "envVars"),
    (minimal(envVars={"A": 1}), 400, "envVars.A"),
    (minimal(envVars={"A": "x\x00"}), 400, "NUL"),
    (minimal(labels={"swarmfaas.function": "false"}), 400, "swarmfaas.function"),
    (minimal(labels={"swarmfaas.name": "other"}), 400, "swarmfaas.name"),
    (minimal(labels={"com.docker.stack.namespace": "faas"}), 400, "com.docker"),
    (minimal(labels={"swarmfaas.annotation.x": "y"}), 400, "swarmfaas.annotation"),
    (minimal(labels={"swarmfaas.port": "0"}), 400, "swarmfaas.port"),
    (minimal(labels={"swarmfaas.port": "http"}), 400, "swarmfaas.port"),
    (minimal(labels={"swarmfaas.timeout": "-1"}), 400, "swarmfaas.timeout"),
    (minimal(labels={"swarmfaas.timeout": "soon"}), 400, "swarmfaas.timeout"),
    (minimal(labels={"swarmfaas.scale.min": "21"}), 400, "swarmfaas.scale.min"),
    (minimal(labels={"bad key": "x"}), 400, "labels"),
    (minimal(annotations={"k": 1}), 400, "annotations.k"),
    (minimal(constraints="node.role==manager"), 400, "constraints"),
    (minimal(constraints=[""]), 400, "constraints[0]"),
    (minimal(secrets=["fn-key", 3]), 400, "secrets[1]"),
    (minimal(secrets=["bad/name"]), 400, "secret name"),
    (minimal(secrets=["basic-auth-password"]), 403, "SYSTEM_SECRET_ALLOWLIST"),
    (minimal(limits="128M"), 400, "limits"),
    (minimal(limits={"memory": "lots"}), 400, "limits.memory"),
    (minimal(limits={"memory": "1M"}), 400, "at least 6M"),
    (minimal(limits={"cpu": "-1"}), 400, "limits.cpu"),
    (minimal(limits={"cpu": "0"}), 400, "limits.cpu"),
    (minimal(requests={"gpu": "1"}), 400, "gpu"),
    (minimal(readOnlyRootFilesystem="yes"), 400, "readOnlyRootFilesystem"),
    (minimal(labels={"swarmfaas.pids_limit": "-1"}), 400, "swarmfaas.pids_limit"),
    (minimal(labels={"swarmfaas.pids_limit": "many"}), 400, "swarmfaas.pids_limit"),
    (minimal(labels={"swarmfaas.pids_limit": "4194305"}), 400, "swarmfaas.pids_limit"),
])
def test_invalid_deployments_are_refused_with_a_reason(doc, status, fragment):
    with pytest.raises(PlatformError) as info:
        deploy(doc)
    assert info.value.status == status
    assert fragment in info.value.reason


@pytest.mark.parametrize(("image", "patterns", "ok"), [
    ("swarmfaas/fn-echo:latest", ("swarmfaas/*",), True),
    ("swarmfaas/a/b:1", ("swarmfaas/*",), True),
    ("swarmfaasx/a", ("swarmfaas/*",), False),
    ("registry:5000/swarmfaas/a", ("swarmfaas/*",), False),
    ("debian:bookworm-slim", ("debian:bookworm-slim",), True),
    ("Debian:bookworm-slim", ("debian:*",), False),  # case-sensitive
    ("anything", (), False),
])
def test_image_allowlist(image, patterns, ok):
    assert allowed(image, patterns) is ok


@pytest.mark.parametrize(("text", "expected"), [
    ("67108864", 67108864), ("128M", 128 * 2**20), ("128Mi", 128 * 2**20),
    ("128mb", 128 * 2**20), ("1G", 2**30), ("2Gi", 2 * 2**30), ("512k", 512 * 1024),
])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("1", 1_000_000_000), ("0.5", 500_000_000), (".25", 250_000_000), ("250m", 250_000_000),
])
def test_parse_cpu(text, expected):
    assert parse_cpu(text) == expected


@pytest.mark.parametrize("text", ["", "1T", "-1M", "M", "1.5G"])
def test_parse_memory_refuses(text):
    with pytest.raises(ValueError):
        parse_memory(text)


@pytest.mark.parametrize(("name", "doc", "expected"), [
    ("hello", {"serviceName": "hello", "replicas": 3}, 3),
    ("hello", {"replicas": 0}, 0),
    ("hello", {"serviceName": "", "replicas": 20, "namespace": ""}, 20),
])
def test_scale_requests(name, doc, expected):
    assert parse_scale_request(name, doc, max_replicas=20).replicas == expected


@pytest.mark.parametrize(("name", "doc", "fragment"), [
    ("hello", {"serviceName": "other", "replicas": 1}, "does not match"),
    ("hello", {"replicas": -1}, "between 0 and 20"),
    ("hello", {"replicas": 21}, "between 0 and 20"),
    ("hello", {"replicas": "2"}, "integer"),
    ("hello", {"replicas": 2.5}, "integer"),
    ("hello", {"replicas": True}, "integer"),
    ("hello", {}, "integer"),
    ("hello", [1], "JSON object"),
    ("Bad_Name", {"replicas": 1}, "function name"),
])
def test_bad_scale_requests(name, doc, fragment):
    with pytest.raises(PlatformError) as info:
        parse_scale_request(name, doc, max_replicas=20)
    assert info.value.status == 400 and fragment in info.value.reason


@pytest.mark.parametrize(("doc", "expected"), [
    ({"functionName": "hello"}, "hello"),
    ({"functionName": "hello", "namespace": ""}, "hello"),
])
def test_delete_requests(doc, expected):
    assert parse_delete_request(doc) == expected


@pytest.mark.parametrize("doc", [{}, {"functionName": ""}, {"functionName": "../x"}, "hello",
                                 {"functionName": 1}])
def test_bad_delete_requests(doc):
    with pytest.raises(PlatformError) as info:
        parse_delete_request(doc)
    assert info.value.status == 400


@pytest.mark.parametrize(("body", "ok"), [
    (b'{"a": 1}', True), (b"[]", True), (b"", False), (b"  ", False), (b"{", False),
    (b"\xff\xfe", False),
    # Deeper than the JSON parser's stack: RecursionError was a 500 (reliability corpus).
    (b"[" * 100_000, False), (b'{"a":' * 5000 + b"1" + b"}" * 5000, False),
])
def test_parse_json_body(body, ok):
    if ok:
        parse_json_body(body)
    else:
        with pytest.raises(PlatformError) as info:
            parse_json_body(body)
        assert info.value.status == 400 and info.value.code == "invalid_json"


@pytest.mark.parametrize(("name", "ok"), [
    ("a", True), ("a-b", True), ("0x", True), ("a" * 63, True), ("a" * 64, False),
    ("-a", False), ("a-", False), ("A", False), ("a.b", False), ("", False), (None, False),
])
def test_validate_function_name(name, ok):
    if ok:
        assert validate_function_name(name) == name
    else:
        with pytest.raises(PlatformError):
            validate_function_name(name)


@pytest.mark.parametrize("namespace", ["", "openfaas-fn", "swarmfaas-fn"])
def test_the_platform_namespace_and_its_alias_are_accepted(namespace):
    assert deploy(minimal(namespace=namespace)).name == "hello"


def test_the_platform_secrets_are_allowed_without_the_allowlist():
    doc = minimal(secrets=["api-key"])
    with pytest.raises(PlatformError) as info:
        parse_deployment(doc, image_allowlist=("swarmfaas/*",), secret_allowlist=(),
                         max_replicas=20)
    assert info.value.code == "secret_not_allowed"
    dep = parse_deployment(doc, image_allowlist=("swarmfaas/*",), secret_allowlist=(),
                           max_replicas=20, platform_secrets=frozenset({"api-key"}))
    assert dep.secrets == ("api-key",)
