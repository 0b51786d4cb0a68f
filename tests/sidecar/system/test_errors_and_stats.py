"""docker-py exceptions -> PlatformError, and invocation counts from the registry."""

from __future__ import annotations

import docker.errors
import pytest
import requests
from prometheus_client import CollectorRegistry, Counter

from faas_sidecar.errors import PlatformError
from faas_sidecar.system.stats import SystemMetrics, invocation_counts
from faas_sidecar.system.swarm_admin import translate_docker_error


class FakeResponse:
    """Just what docker.errors.APIError reads from a response."""

    def __init__(self, status: int) -> None:
        self.status_code = status
        self.reason = "reason"
        self.url = "http://docker/x"


def api_error(status: int, explanation: str = "explained") -> docker.errors.APIError:
    return docker.errors.APIError("boom", response=FakeResponse(status), explanation=explanation)


@pytest.mark.parametrize(("exc", "action", "status", "code"), [
    (api_error(409, "name conflicts"), "deploy", 409, "conflict"),
    (api_error(404, "service not found"), "remove", 404, "function_not_found"),
    (api_error(404, "service not found"), "scale", 404, "function_not_found"),
    (api_error(404, "network x not found"), "deploy", 400, "rejected_by_docker"),
    (api_error(400, "invalid constraint"), "update", 400, "rejected_by_docker"),
    (api_error(403, "the engine gate refuses to create this service: bind mount"), "deploy",
     403, "refused_by_engine_gate"),
    (api_error(500, "raft failure"), "deploy", 502, "docker_error"),
    (api_error(503, "not a manager"), "list", 502, "docker_error"),
    (docker.errors.DockerException("no socket"), "list", 502, "docker_unavailable"),
    (requests.exceptions.ConnectionError("refused"), "list", 502, "docker_unavailable"),
    (requests.exceptions.ReadTimeout("slow"), "scale", 502, "docker_unavailable"),
    (FileNotFoundError(2, "no such file"), "list", 502, "docker_unavailable"),
])
def test_translate_docker_error(exc, action, status, code):
    err = translate_docker_error(exc, action)
    assert isinstance(err, PlatformError)
    assert (err.status, err.code) == (status, code)
    assert err.reason.startswith(action)


def test_platform_errors_pass_through_and_bugs_are_not_hidden():
    original = PlatformError(404, "function_not_found", "no")
    assert translate_docker_error(original, "scale") is original
    with pytest.raises(KeyError):
        translate_docker_error(KeyError("bug"), "list")


def test_invocation_counts_sum_over_codes():
    registry = CollectorRegistry()
    counter = Counter("gateway_function_invocation", "calls", ["function_name", "code"],
                      registry=registry)
    counter.labels("echo", "200").inc(3)
    counter.labels("echo", "500").inc(2)
    counter.labels("other", "200").inc()
    assert invocation_counts(registry) == {"echo": 5, "other": 1}
    assert invocation_counts(CollectorRegistry()) == {}
    assert invocation_counts(None) is None


def test_system_metrics_register_and_count():
    registry = CollectorRegistry()
    metrics = SystemMetrics.register(registry)
    metrics.auth_failed()
    metrics.operation("deploy", 202)
    assert registry.get_sample_value("swarmfaas_system_auth_failures_total") == 1
    assert registry.get_sample_value("swarmfaas_system_operations_total",
                                     {"operation": "deploy", "code": "202"}) == 1
    SystemMetrics.register(None).auth_failed()  # no registry: a no-op
