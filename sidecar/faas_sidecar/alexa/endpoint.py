"""The Alexa skill endpoint: ``POST /alexa`` and ``POST /`` (Sanic IO only).

Per request: parse and validate the envelope, find the skill by application
id, run Amazon's checks unless the skill switched them off, choose the
function, forward the raw body, check the answer against Amazon's limits.
Every rejection is a 4xx platform error and a log line; the function never
sees a rejected request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from ..errors import INTERNAL_HEADER, PlatformError, alexa_timeout
from ..labels import is_decimal
from ..model import RoutingTable
from ..routing import FUNCTION_HEADER, check_name, header_name
from . import rejection
from .certs import CertCache, UrlFetcher
from .certurl import normalise_cert_url
from .config import DEFAULT_TRUST_ROOTS, AlexaConfig
from .envelope import AlexaRequest, load_validator, parse_envelope
from .limits import forward_timeout, response_breaches
from .rejection import Rejected
from .routing import SkillIndex, build_index, choose_function, find_skill
from .verify import check_signature, check_timestamp, load_trust_store

log = logging.getLogger("faas_sidecar.alexa")

CERT_URL_HEADER = "SignatureCertChainUrl"
SIGNATURE_HEADER = "Signature-256"


class AlexaMetrics:
    """Counters on the sidecar's registry (docs/alexa.md lists them)."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter

        self.rejected = Counter(
            "swarmfaas_alexa_rejected",
            "Alexa requests turned away before any function saw them, by reason",
            ["code"],
            registry=registry,
        )
        self.forwarded = Counter(
            "swarmfaas_alexa_forwarded",
            "Alexa requests forwarded to a function",
            ["function"],
            registry=registry,
        )
        self.breaches = Counter(
            "swarmfaas_alexa_limit_breaches",
            "Alexa answers that broke Amazon's limits (time: over 8 s, size: over 24 kB, not_json)",
            ["function", "limit"],
            registry=registry,
        )


@dataclass
class AlexaState:
    """What the endpoint keeps between requests: compiled schema, trust, cache."""

    config: AlexaConfig
    validator: Any
    certs: CertCache
    metrics: AlexaMetrics | None = None
    _table: RoutingTable | None = field(default=None, repr=False)
    _index: SkillIndex = field(default_factory=SkillIndex, repr=False)

    @classmethod
    def create(cls, config: AlexaConfig) -> AlexaState:
        validator = load_validator(config.resolved_schema_path())
        store = None
        if config.trust_roots is None:
            log.warning(
                "alexa: no trust roots (%s is missing and ALEXA_TRUST_ROOTS is unset): "
                "every signed Alexa request will be refused",
                DEFAULT_TRUST_ROOTS,
            )
        else:
            store, skipped = load_trust_store(config.trust_roots.read_bytes())
            for note in skipped:
                log.warning("alexa: %s", note)
        fetch = UrlFetcher(config.cert_fetch_timeout, config.cert_max_bytes, config.cert_mirror)
        if config.cert_mirror:
            log.warning(
                "alexa: certificate chains are read from the mirror %s instead of %s "
                "(for tests; the URL rules and the trust roots still apply)",
                config.cert_mirror,
                "https://s3.amazonaws.com/echo.api/",
            )
        certs = CertCache(fetch, store, config.cert_cache_ttl, config.cert_cache_size)
        return cls(config=config, validator=validator, certs=certs)

    def index_for(self, table: RoutingTable) -> SkillIndex:
        """The skill index of this snapshot, rebuilt only when the snapshot changes."""
        if table is not self._table:
            index = build_index(table.functions)
            for problem in index.problems:
                log.warning("alexa: %s", problem)
            self._table, self._index = table, index
        return self._index

    async def verify(self, headers: Mapping[str, str], raw: bytes, alexa: AlexaRequest) -> None:
        url = normalise_cert_url(headers.get(CERT_URL_HEADER))
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            raise rejection.signature_missing(f"the {SIGNATURE_HEADER} header is missing")
        now = datetime.now(UTC)
        leaf = await self.certs.signing_cert(url, now)
        check_signature(leaf, signature, raw)
        check_timestamp(alexa.timestamp, now, self.config.timestamp_tolerance)


def setup_alexa(app: Sanic, config: AlexaConfig) -> None:
    """Register the Alexa endpoint. Schema and trust roots load now: a bad one fails start-up."""
    state = AlexaState.create(config)
    app.ctx.alexa = state

    def attach_metrics() -> None:
        registry = getattr(app.ctx, "metrics", None)
        if registry is not None and state.metrics is None:
            state.metrics = AlexaMetrics(registry)

    attach_metrics()
    if state.metrics is None:
        app.before_server_start(lambda app_, loop=None: attach_metrics())

    # stream=True: the body is read here, with Alexa's own size limit, instead
    # of Sanic buffering up to its global REQUEST_MAX_SIZE first.
    app.add_route(handle_alexa, "/alexa", methods=["POST"], name="alexa", stream=True)
    app.add_route(handle_root, "/", methods=["POST"], name="alexa_root", stream=True)


async def handle_root(request: Request) -> HTTPResponse:
    """``POST /`` is the Alexa endpoint, as in the original gateway. A request
    naming its function in ``X-Function`` is an ordinary call to that function."""
    name = header_name(request.headers.getall(FUNCTION_HEADER, []))
    if name is not None:
        check_name(name)
        return await request.app.ctx.proxy.forward(request, name, path=request.path)
    return await handle_alexa(request)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) as soon as it is known to be over ``limit``."""
    declared = request.headers.get("content-length", "")
    if is_decimal(declared) and int(declared) > limit:
        raise rejection.body_too_large(f"the body has {declared} bytes, over {limit}")
    if request.stream is None or not getattr(request.stream, "request_body", None):
        return request.body or b""
    parts, size = [], 0
    while (chunk := await request.stream.read()) is not None:
        size += len(chunk)
        if size > limit:
            raise rejection.body_too_large(f"the body is over {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def handle_alexa(request: Request) -> HTTPResponse:
    state: AlexaState = request.app.ctx.alexa
    table: RoutingTable = request.app.ctx.discovery.table  # one snapshot per request
    alexa: AlexaRequest | None = None
    try:
        raw = await read_body(request, state.config.max_body)
        alexa = parse_envelope(raw, state.validator, state.config.max_body)
        index = state.index_for(table)
        skill = find_skill(index, alexa.application_id)
        if skill.verify:
            await state.verify(request.headers, raw, alexa)
        else:
            log.warning(
                "alexa: request %s of skill %s NOT verified (swarmfaas.alexa.verify=false)",
                alexa.request_id,
                skill.application_id,
            )
        function = choose_function(skill, alexa)
    except Rejected as rejected:
        log.warning(
            "alexa: rejected %s from %s: %s (%s)",
            alexa.request_id if alexa else "a request",
            request.ip,
            rejected.reason,
            rejected.code,
        )
        if state.metrics:
            state.metrics.rejected.labels(rejected.code).inc()
        raise PlatformError(rejected.status, rejected.code, rejected.reason) from None

    labels = index.labels.get(function)
    timeout = forward_timeout(table.get(function), labels, state.config.forward_timeout)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            response = await request.app.ctx.proxy.forward(request, function, body=raw, path="/")
    except TimeoutError:
        record_breaches(state, function, alexa, ["time"], time.monotonic() - started, None)
        raise alexa_timeout(function, timeout) from None
    elapsed = time.monotonic() - started
    if state.metrics:
        state.metrics.forwarded.labels(function).inc()
    # A streamed answer has no body yet: its Content-Length, when sent, gives the size.
    body = response.body if isinstance(response.body, bytes) else None
    size = len(body) if body is not None else _int(response.headers.get("content-length"))
    breaches = response_breaches(response.status, body, size, elapsed)
    if breaches:
        record_breaches(state, function, alexa, breaches, elapsed, size)
    if 200 <= response.status < 300 and INTERNAL_HEADER not in response.headers:
        response.headers["Content-Type"] = "application/json"
    return response


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and is_decimal(text) else None


def record_breaches(
    state: AlexaState,
    function: str,
    alexa: AlexaRequest,
    breaches: list[str],
    elapsed: float,
    size: int | None,
) -> None:
    log.warning(
        "alexa: function %s broke Amazon's limits (%s) answering %s: %.2f s, %s bytes "
        "(Alexa waits 8 s and accepts 24 kB)",
        function,
        ", ".join(breaches),
        alexa.request_id,
        elapsed,
        "?" if size is None else size,
    )
    if state.metrics:
        for limit in breaches:
            state.metrics.breaches.labels(function, limit).inc()
