"""scripts/validate_stack.py: every service's settings through its own loader,
before `docker stack deploy`; every problem names the service and the setting."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("validate_stack", REPO / "scripts/validate_stack.py")
validate_stack = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(validate_stack)

FUNCTION_IMAGE_ENV = {"fprocess": "cat", "mode": "fork"}


def image_env(image: str) -> dict[str, str] | None:
    """Stands in for `docker image inspect`: functions' images set fprocess."""
    return FUNCTION_IMAGE_ENV if "/fn-" in image else {}


@pytest.mark.parametrize(
    ("service", "component"),
    [
        ({"image": "swarmfaas/nginx:abc"}, "nginx"),
        ({"image": "swarmfaas/certbot:abc"}, "certbot"),
        ({"image": "swarmfaas/sidecar:abc"}, "sidecar"),
        ({"image": "swarmfaas/sidecar:abc", "command": ["faas-engine-gate"]}, "engine gate"),
        (
            {"image": "swarmfaas/fn-echo:1", "deploy": {"labels": {"swarmfaas.function": "true"}}},
            "watchdog",
        ),
        ({"image": "redis:7"}, None),
        # A multi-node swarm names images by registry and digest (docs/multi-node.md).
        ({"image": "10.77.0.11:5000/swarmfaas/nginx@sha256:" + "ab" * 32}, "nginx"),
        ({"image": "registry.example:5000/swarmfaas/sidecar:abc"}, "sidecar"),
        ({"image": "10.77.0.11:5000/redis@sha256:" + "ab" * 32}, None),
    ],
)
def test_each_service_gets_its_components_loader(service, component):
    picked = validate_stack.loader_for(service)
    assert (picked[0] if picked else None) == component


def test_secret_files_are_read_from_where_they_are_made(tmp_path):
    token = tmp_path / "token"
    config = {"secrets": {"tok": {"file": str(token)}}, "configs": {"ca": {"file": "/h/ca.pem"}}}
    service = {
        "environment": {"A": "/run/secrets/t", "B": "/etc/x/ca.pem", "C": "plain", "D": None},
        "secrets": [{"source": "tok", "target": "t"}],
        "configs": [{"source": "ca", "target": "/etc/x/ca.pem"}],
    }
    env = validate_stack.container_env(service, config, {"IMAGE": "1", "C": "from-image"})
    assert env == {"IMAGE": "1", "A": str(token), "B": "/h/ca.pem", "C": "plain", "D": ""}


def test_problems_name_the_service_and_the_setting():
    config = {
        "services": {
            "nginx": {"image": "swarmfaas/nginx:t", "environment": {"NGINX_RATE_LIMIT": "ten"}},
            "fn": {
                "image": "swarmfaas/fn-x:t",
                "deploy": {"labels": {"swarmfaas.function": "true"}},
                "environment": {"exec_timeout": "soon"},
            },
            "other": {"image": "redis:7", "environment": {"NGINX_RATE_LIMIT": "ten"}},
        }
    }
    found = validate_stack.problems(config, image_env)
    assert len(found) == 2, found
    assert found[0].startswith("service fn (watchdog): ") and "exec_timeout" in found[0]
    assert found[1].startswith("service nginx (nginx): NGINX_RATE_LIMIT:")


def test_a_function_whose_image_is_not_there_is_not_judged():
    config = {
        "services": {
            "fn": {
                "image": "swarmfaas/fn-x:t",
                "deploy": {"labels": {"swarmfaas.function": "true"}},
            }
        }
    }
    assert validate_stack.problems(config, lambda image: None) == []


# -- the real stack.yml, rendered by `docker stack config` (client-side only) ----
@pytest.fixture
def stack_env(tmp_path):
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI (scripts/engine.sh installs it)")
    (tmp_path / "engine-gate-token").write_text("t" * 32)
    (tmp_path / "engine-gate-scaler-token").write_text("s" * 32)  # the scaler's, another
    (tmp_path / "github-webhook-secret").write_text("w" * 32)  # webhookstash's
    (tmp_path / "queue-token").write_text("q" * 32)  # the queue worker's deliveries
    keep = ("PATH", "HOME")
    env = {k: v for k, v in os.environ.items() if k in keep}
    return {**env, "STACK": "ngvalid", "STATE_DIR": str(tmp_path)}


def check(stack_env, files=("stack.yml",), **settings) -> list[str]:
    config = validate_stack.render(list(files), {**stack_env, **settings})
    return validate_stack.problems(config, image_env)


def test_the_default_stack_is_valid(stack_env):
    assert check(stack_env) == []


@pytest.mark.parametrize(
    "settings",
    [
        # docs/https.md's off switch: nginx exited at start-up on it, because
        # stack.yml always passes a burst.
        {"NGINX_RATE_LIMIT": "0"},
        {"NGINX_RATE_BURST": "0"},
        {"NGINX_RATE_LIMIT": "0", "NGINX_RATE_BURST": "0"},
        {"NGINX_RATE_LIMIT": "20"},
        {"NGINX_RATE_LIMIT": "20", "NGINX_TRUSTED_PROXIES": "10.0.0.0/8"},
        {"DOMAIN": "api.example.com", "EMAIL": "ops@example.com"},
    ],
)
def test_documented_settings_are_valid(stack_env, settings):
    assert check(stack_env, **settings) == []


@pytest.mark.parametrize(
    ("settings", "service", "named"),
    [
        ({"NGINX_RATE_LIMIT": "lots"}, "nginx", "NGINX_RATE_LIMIT"),
        ({"NGINX_TRUSTED_PROXIES": "10.0.0.1/8"}, "nginx", "NGINX_TRUSTED_PROXIES"),
        ({"NGINX_MAX_BODY_SIZE": "10 MB"}, "nginx", "NGINX_MAX_BODY_SIZE"),
        ({"HTTPS_PORT": "0"}, "nginx", "HTTPS_PORT"),
        ({"DOMAIN": "*.example.com"}, "certbot", "DOMAIN"),
        ({"ACME_SERVER": "http://acme.example.com/dir"}, "certbot", "ACME_SERVER"),
        ({"ALEXA_TRUST_ROOTS": "/nonexistent/roots.pem"}, "sidecar", "ALEXA_TRUST_ROOTS"),
        ({"ALEXA_CERT_MIRROR": "ftp://mirror.example.com/"}, "sidecar", "ALEXA_CERT_MIRROR"),
    ],
)
def test_a_bad_setting_is_named_before_anything_is_deployed(stack_env, settings, service, named):
    found = check(stack_env, **settings)
    assert any(p.startswith(f"service {service} ") and named in p for p in found), found


def test_a_missing_secret_file_is_named(stack_env, tmp_path):
    (tmp_path / "engine-gate-token").unlink()
    found = check(stack_env)
    assert {p.split(" (")[0] for p in found} == {"service engine-gate", "service sidecar"}
    assert all("ENGINE_GATE_TOKEN_FILE" in p for p in found)
