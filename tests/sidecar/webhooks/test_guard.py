"""WebhookGuard: secrets from files, refusals as platform errors, replays."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from faas_sidecar.errors import PlatformError
from faas_sidecar.metrics import Metrics
from faas_sidecar.model import FunctionSpec
from faas_sidecar.webhooks.guard import ReplayWindow, WebhookGuard
from faas_sidecar.webhooks.labels import WebhookCheck
from faas_sidecar.webhooks.signatures import Scheme

BODY = b'{"action": "opened"}'


def signed(secret: bytes, body: bytes = BODY) -> list[tuple[str, str]]:
    return [("X-Hub-Signature-256", "sha256=" + hmac.new(secret, body, hashlib.sha256)
             .hexdigest()), ("X-GitHub-Delivery", "d-1")]


def spec(*secrets: str) -> FunctionSpec:
    return FunctionSpec(name="hook", service_id="s", service_name="hook", image="i",
                        webhook=WebhookCheck(Scheme("github"), secrets))


@pytest.fixture
def guard(tmp_path):
    (tmp_path / "new").write_bytes(b"new-secret\n")  # docker secret create adds no newline,
    (tmp_path / "old").write_bytes(b"old-secret")    # echo does; both work
    (tmp_path / "empty").write_bytes(b"")
    metrics = Metrics()
    return WebhookGuard(tmp_path, metrics, clock=lambda: 1000.0), metrics


def test_either_secret_of_a_rotation_passes(guard):
    g, _ = guard
    assert g.check(spec("old", "new"), signed(b"new-secret"), BODY) == "d-1"
    assert g.check(spec("old", "new"), signed(b"old-secret"), BODY) == "d-1"


def test_a_refusal_is_a_401_platform_error_counted_by_cause(guard):
    g, metrics = guard
    with pytest.raises(PlatformError) as err:
        g.check(spec("new"), signed(b"old-secret"), BODY)
    assert (err.value.status, err.value.code) == (401, "webhook_signature_invalid")
    assert "hook" in err.value.reason and "new-secret" not in err.value.reason
    text = metrics.render().decode()
    assert 'swarmfaas_webhook_rejections_total{cause="mismatch",function_name="hook"} 1.0' in text


@pytest.mark.parametrize("secrets", [("missing",), ("empty",), ("missing", "empty")])
def test_no_readable_secret_is_a_500_and_never_passes(guard, secrets):
    g, _ = guard
    with pytest.raises(PlatformError) as err:
        g.check(spec(*secrets), signed(b""), BODY)
    assert (err.value.status, err.value.code) == (500, "webhook_secret_unavailable")


def test_an_unreadable_secret_beside_a_good_one_still_checks(guard):
    g, _ = guard
    assert g.check(spec("missing", "new"), signed(b"new-secret"), BODY) == "d-1"


def test_replays_are_remembered_per_function_once_answered(guard):
    g, metrics = guard
    hook = spec("new")
    assert not g.replayed(hook, "d-1")
    g.answered(hook, "d-1")
    assert g.replayed(hook, "d-1")
    other = FunctionSpec(name="other", service_id="o", service_name="other", image="i",
                         webhook=hook.webhook)
    assert not g.replayed(other, "d-1")
    assert 'swarmfaas_webhook_replays_total{function_name="hook"} 1.0' in \
        metrics.render().decode()


def test_replay_window_forgets_by_age_and_by_capacity():
    window = ReplayWindow(window=10, capacity=2)
    window.remember(("f", "a"), 0)
    assert window.seen(("f", "a"), 10) and not window.seen(("f", "a"), 10.5)
    for i, key in enumerate("bcd"):
        window.remember(("f", key), 100 + i)
    assert not window.seen(("f", "b"), 103)
    assert window.seen(("f", "c"), 103) and window.seen(("f", "d"), 103)
