"""The endpoint's handler over real sockets, with a recording stand-in for the proxy.

Discovery and the proxy are narrow fakes here (this is the handler's unit
test); test_integration.py runs the real proxy and a real watchdog.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from types import MappingProxyType

import alexa_signing
import httpx
import pytest
from alexa_live import serve, unique_app_name
from prometheus_client import CollectorRegistry
from sanic import Sanic
from sanic.response import HTTPResponse

from faas_sidecar.alexa import AlexaConfig, setup_alexa
from faas_sidecar.app import setup_errors
from faas_sidecar.model import FunctionSpec, RoutingTable

SKILL = alexa_signing.SKILL_ID
DEV_SKILL = "amzn1.ask.skill.devdevdev"


def spec(name: str, fn_timeout: float = 60.0, **labels: str) -> FunctionSpec:
    full = {"swarmfaas.function": "true"} | {f"swarmfaas.alexa.{k}": v for k, v in labels.items()}
    return FunctionSpec(
        name, f"id-{name}", name, "img", timeout=fn_timeout, labels=MappingProxyType(full)
    )


TABLE = RoutingTable(
    functions=MappingProxyType(
        {
            "skill-main": spec("skill-main", skill_ids=SKILL, default="true"),
            "hostname-intent": spec("hostname-intent", skill_ids=SKILL),
            "big-answer": spec("big-answer", skill_ids=SKILL, intents="BigIntent"),
            "slow": spec("slow", skill_ids=SKILL, intents="SlowIntent", timeout="0.5"),
            "dev-skill": spec("dev-skill", skill_ids=DEV_SKILL, default="true", verify="false"),
            "echo": spec("echo"),
        }
    ),
    generation=1,
)


@dataclass
class Discovery:
    table: RoutingTable = TABLE


@dataclass
class RecordingProxy:
    calls: list[tuple[str, bytes | None, str | None]] = field(default_factory=list)

    async def forward(self, request, function_name, *, body=None, path=None):  # type: ignore[no-untyped-def]
        if body is None:
            body = request.body or b""
            if request.stream is not None:
                await request.receive_body()
                body = request.body
        self.calls.append((function_name, body, path))
        if function_name == "slow":
            await asyncio.sleep(5)
        if function_name == "big-answer":
            text = "x" * 30_000
        else:
            text = json.dumps({"version": "1.0", "response": {"from": function_name}})
        return HTTPResponse(text, status=200, content_type="text/plain")


@pytest.fixture
async def live(roots_file, mirror_dir):  # type: ignore[no-untyped-def]
    app = Sanic(unique_app_name("alexa_endpoint"))
    app.config.MOTD = False
    app.config.TOUCHUP = False  # several apps in one test process
    setup_errors(app)
    app.ctx.metrics = CollectorRegistry()
    app.ctx.discovery = Discovery()
    app.ctx.proxy = RecordingProxy()
    config = AlexaConfig.from_env(
        {
            "ALEXA_TRUST_ROOTS": str(roots_file),
            "ALEXA_CERT_MIRROR": mirror_dir.as_uri() + "/",
        }
    )
    setup_alexa(app, config)
    async for server in serve(app):
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield client, app


def metric(app: Sanic, name: str, **labels: str) -> float:
    return app.ctx.metrics.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("path", ["/alexa", "/"])
@pytest.mark.parametrize(
    ("kind", "intent", "function"),
    [
        ("LaunchRequest", "", "skill-main"),
        ("IntentRequest", "HostnameIntent", "hostname-intent"),
        ("CanFulfillIntentRequest", "HostnameIntent", "hostname-intent"),
        ("IntentRequest", "UnclaimedIntent", "skill-main"),
        ("SessionEndedRequest", "", "skill-main"),
    ],
)
async def test_signed_requests_reach_their_function_unchanged(
    live, signer, path: str, kind: str, intent: str, function: str
) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    body = alexa_signing.envelope(kind, intent=intent or "Unused")
    response = await client.post(
        path, content=body, headers=alexa_signing.signed_headers(body, signer[1])
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["response"]["from"] == function
    assert app.ctx.proxy.calls == [(function, body, "/")]  # the exact bytes, at /
    assert metric(app, "swarmfaas_alexa_forwarded_total", function=function) == 1


def _tamper(body: bytes) -> bytes:
    doc = json.loads(body)
    doc["request"]["intent"]["name"] = "AMAZON.StopIntent"
    return json.dumps(doc).encode()


REJECTIONS = [
    # (what, headers(body, key) -> dict, body edit, expected code)
    ("unsigned", lambda b, k: {}, None, "alexa_signature_missing"),
    (
        "no signature",
        lambda b, k: {"SignatureCertChainUrl": alexa_signing.CERT_URL},
        None,
        "alexa_signature_missing",
    ),
    (
        "another key",
        lambda b, k: alexa_signing.signed_headers(b, alexa_signing.new_key()),
        None,
        "alexa_signature_invalid",
    ),
    (
        "bad url",
        lambda b, k: alexa_signing.signed_headers(
            b, k, "https://evil.test/echo.api/echo-api-cert.pem"
        ),
        None,
        "alexa_cert_url_invalid",
    ),
    (
        "chain not there",
        lambda b, k: alexa_signing.signed_headers(
            b, k, "https://s3.amazonaws.com/echo.api/nope.pem"
        ),
        None,
        "alexa_cert_unavailable",
    ),
    (
        "body changed after signing",
        lambda b, k: alexa_signing.signed_headers(b, k),
        _tamper,
        "alexa_signature_invalid",
    ),
]


@pytest.mark.parametrize(
    ("what", "headers", "edit", "code"), REJECTIONS, ids=[r[0] for r in REJECTIONS]
)
async def test_rejected_requests_never_reach_a_function(
    live, signer, caplog, what, headers, edit, code
) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    body = alexa_signing.envelope()
    sent = edit(body) if edit else body
    with caplog.at_level(logging.WARNING, logger="faas_sidecar.alexa"):
        response = await client.post("/alexa", content=sent, headers=headers(body, signer[1]))
    assert response.status_code == 400
    assert response.headers["x-swarmfaas-internal"] == "sidecar"
    assert response.json()["error"] == code
    assert app.ctx.proxy.calls == []
    assert any(code in r.getMessage() for r in caplog.records)
    assert metric(app, "swarmfaas_alexa_rejected_total", code=code) == 1


async def test_old_timestamp_is_rejected(live, signer) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=300)
    body = alexa_signing.envelope(timestamp=old)
    response = await client.post(
        "/alexa", content=body, headers=alexa_signing.signed_headers(body, signer[1])
    )
    assert (response.status_code, response.json()["error"]) == (400, "alexa_timestamp_out_of_range")
    assert app.ctx.proxy.calls == []


async def test_unknown_application_id(live, signer) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    body = alexa_signing.envelope(skill_id="amzn1.ask.skill.stranger")
    response = await client.post(
        "/alexa", content=body, headers=alexa_signing.signed_headers(body, signer[1])
    )
    assert (response.status_code, response.json()["error"]) == (400, "unknown_application_id")
    assert app.ctx.proxy.calls == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "invalid_alexa_envelope"),
        (b'{"version": "1.0", "request": {}}', 400, "invalid_alexa_envelope"),
        (b"x" * (10 * 1024 * 1024), 413, "alexa_body_too_large"),
    ],
)
async def test_bad_envelopes(live, body: bytes, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    response = await client.post("/alexa", content=body)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert app.ctx.proxy.calls == []


async def test_missing_type_names_the_path(live) -> None:  # type: ignore[no-untyped-def]
    client, _ = live
    doc = json.loads(alexa_signing.envelope())
    del doc["request"]["type"]
    response = await client.post("/alexa", json=doc)
    assert "$.request.type" in response.json()["reason"]


async def test_verify_false_skill_takes_unsigned_requests_and_says_so(live, caplog) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    body = alexa_signing.envelope("LaunchRequest", skill_id=DEV_SKILL)
    with caplog.at_level(logging.WARNING, logger="faas_sidecar.alexa"):
        response = await client.post("/alexa", content=body)
    assert response.status_code == 200
    assert app.ctx.proxy.calls == [("dev-skill", body, "/")]
    assert any("NOT verified" in r.getMessage() for r in caplog.records)


async def test_answer_over_24kb_is_logged_and_counted(live, signer, caplog) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    body = alexa_signing.envelope(intent="BigIntent")
    with caplog.at_level(logging.WARNING, logger="faas_sidecar.alexa"):
        response = await client.post(
            "/alexa", content=body, headers=alexa_signing.signed_headers(body, signer[1])
        )
    assert response.status_code == 200 and len(response.content) == 30_000  # passed on as is
    assert (
        metric(app, "swarmfaas_alexa_limit_breaches_total", function="big-answer", limit="size")
        == 1
    )
    assert (
        metric(app, "swarmfaas_alexa_limit_breaches_total", function="big-answer", limit="not_json")
        == 1
    )
    assert any("broke Amazon's limits" in r.getMessage() for r in caplog.records)


async def test_timeout_label_bounds_the_call(live, signer) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    body = alexa_signing.envelope(intent="SlowIntent")
    response = await client.post(
        "/alexa", content=body, headers=alexa_signing.signed_headers(body, signer[1])
    )
    assert (response.status_code, response.json()["error"]) == (504, "alexa_timeout")
    assert metric(app, "swarmfaas_alexa_limit_breaches_total", function="slow", limit="time") == 1


async def test_x_function_on_root_is_an_ordinary_call(live) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    response = await client.post("/", content=b"hello", headers={"X-Function": "echo"})
    assert response.status_code == 200
    assert app.ctx.proxy.calls == [("echo", b"hello", "/")]


async def test_cert_chain_is_fetched_once(live, signer) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    for _ in range(3):
        body = alexa_signing.envelope()
        response = await client.post(
            "/alexa", content=body, headers=alexa_signing.signed_headers(body, signer[1])
        )
        assert response.status_code == 200
    assert app.ctx.alexa.certs.fetches == 1


def test_forward_timeout_rules() -> None:
    from faas_sidecar.alexa.labels import parse_alexa_labels
    from faas_sidecar.alexa.limits import forward_timeout

    plain = parse_alexa_labels({"swarmfaas.alexa.skill_ids": SKILL})
    longer = parse_alexa_labels(
        {"swarmfaas.alexa.skill_ids": SKILL, "swarmfaas.alexa.timeout": "20"}
    )
    assert forward_timeout(spec("a", fn_timeout=60), plain, 8.0) == 8.0
    assert forward_timeout(spec("a", fn_timeout=3), plain, 8.0) == 3.0
    assert forward_timeout(spec("a", fn_timeout=60), longer, 8.0) == 20.0
    assert forward_timeout(None, None, 8.0) == 8.0
