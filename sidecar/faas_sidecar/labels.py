"""Every service label the platform reads, the function-name rule and the defaults.

docs/labels.md is the human form of this module; tests/sidecar/test_labels.py
checks that its table lists exactly the keys of ``DOCUMENTED``, with the
defaults given here. Parsing stays with the part that owns the meaning
(``spec.parse_service``, ``alexa.labels``, ``system.payloads``): this module
only names things. A new label is one constant and one ``Label`` row here,
and one row in docs/labels.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "swarmfaas."

# -- the keys -------------------------------------------------------------------
FUNCTION = "swarmfaas.function"  # "true" (exactly) marks a function
NAME = "swarmfaas.name"
PORT = "swarmfaas.port"
TIMEOUT = "swarmfaas.timeout"
PIDS_LIMIT = "swarmfaas.pids_limit"  # functions deployed through the system API

ALEXA_PREFIX = "swarmfaas.alexa."
ALEXA_INTENTS = "swarmfaas.alexa.intents"
ALEXA_SKILL_IDS = "swarmfaas.alexa.skill_ids"
ALEXA_DEFAULT = "swarmfaas.alexa.default"
ALEXA_VERIFY = "swarmfaas.alexa.verify"
ALEXA_TIMEOUT = "swarmfaas.alexa.timeout"

SCALE_MIN = "swarmfaas.scale.min"
SCALE_MAX = "swarmfaas.scale.max"
SCALE_TYPE = "swarmfaas.scale.type"
SCALE_TARGET = "swarmfaas.scale.target"
SCALE_ZERO = "swarmfaas.scale.zero"
SCALE_ZERO_DURATION = "swarmfaas.scale.zero_duration"
# OpenFaaS's names of the same settings; the scaler reads them where ours are absent.
OPENFAAS_SCALE = {
    SCALE_MIN: "com.openfaas.scale.min",
    SCALE_MAX: "com.openfaas.scale.max",
    SCALE_TYPE: "com.openfaas.scale.type",
    SCALE_TARGET: "com.openfaas.scale.target",
    SCALE_ZERO: "com.openfaas.scale.zero",
    SCALE_ZERO_DURATION: "com.openfaas.scale.zero-duration",
}

QUEUE_LENGTH = "swarmfaas.queue.length"
QUEUE_WAIT = "swarmfaas.queue.wait"

RATELIMIT_PREFIX = "swarmfaas.ratelimit."
RATELIMIT_RPS = "swarmfaas.ratelimit.rps"
RATELIMIT_BURST = "swarmfaas.ratelimit.burst"

WEBHOOK_PREFIX = "swarmfaas.webhook."
WEBHOOK_SCHEME = "swarmfaas.webhook.scheme"
WEBHOOK_SECRETS = "swarmfaas.webhook.secrets"
WEBHOOK_TOLERANCE = "swarmfaas.webhook.tolerance"
WEBHOOK_HEADER = "swarmfaas.webhook.header"
WEBHOOK_DIGEST = "swarmfaas.webhook.digest"
WEBHOOK_ENCODING = "swarmfaas.webhook.encoding"
WEBHOOK_PREFIX_TEXT = "swarmfaas.webhook.prefix"
WEBHOOK_ID_HEADER = "swarmfaas.webhook.id_header"

# Asynchronous calls (docs/webhooks.md): swarmfaas.async=true makes
# /function/<name> answer 202 after storing the call, as /async-function/ does.
ASYNC = "swarmfaas.async"
ASYNC_ATTEMPTS = "swarmfaas.async.attempts"
ASYNC_CONCURRENCY = "swarmfaas.async.concurrency"
SCHEDULE = "swarmfaas.schedule"  # a cron expression, optionally after CRON_TZ=<zone>
SCHEDULE_CATCH_UP = "swarmfaas.schedule.catch_up"

ANNOTATION_PREFIX = "swarmfaas.annotation."  # + an OpenFaaS annotation's key
# faas-swarm's labels for the same (an OpenFaaS-era service's annotations):
# shown as annotations, ours winning a key both give.
OPENFAAS_ANNOTATION_PREFIX = "com.openfaas.annotations."

# On a Docker secret (not a service): "true" marks a secret the system API made
# (/system/secrets); with the name prefix SYSTEM_SECRET_PREFIX, the only
# secrets it lists, replaces or removes.
SECRET = "swarmfaas.secret"
SECRET_FILTER = f"{SECRET}=true"

# Set by Docker and `docker stack deploy`, read by the platform.
DOCKER_PREFIX = "com.docker."
STACK_NAMESPACE = "com.docker.stack.namespace"

# The label filter every listing of functions sends, and the one the engine
# gate requires: one string, so the two always agree.
FUNCTION_FILTER = f"{FUNCTION}=true"
# faas-swarm's mark of a function: "true". Routed only with the sidecar's
# OPENFAAS_FUNCTIONS=true (docs/migrating-from-openfaas.md), and then only on
# the functions network, as every function.
OPENFAAS_FUNCTION = "function"
OPENFAAS_FUNCTION_FILTER = f"{OPENFAAS_FUNCTION}=true"


def function_filters(openfaas: bool) -> tuple[str, ...]:
    """The label filters that list every function: Docker ANDs the label
    filters of one listing, so each mark is a listing of its own."""
    return (FUNCTION_FILTER, OPENFAAS_FUNCTION_FILTER) if openfaas else (FUNCTION_FILTER,)

# -- the defaults ----------------------------------------------------------------
DEFAULT_PORT = 8080
DEFAULT_TIMEOUT = 60.0  # seconds
DEFAULT_PIDS_LIMIT = 512  # processes and threads of one task (docs/watchdog.md: why)
MAX_PIDS_LIMIT = 4_194_304  # the kernel's pid_max ceiling
MAX_TIMEOUT = 24 * 3600.0
ALEXA_MAX_TIMEOUT = 3600.0
DEFAULT_SCALE_MIN = 1
DEFAULT_SCALE_MAX = 20
DEFAULT_SCALE_ZERO_DURATION = 300.0  # seconds
DEFAULT_QUEUE_LENGTH = 100  # calls, per sidecar process
DEFAULT_QUEUE_WAIT = 10.0  # seconds
DEFAULT_ASYNC_ATTEMPTS = 5
DEFAULT_ASYNC_CONCURRENCY = 8

# -- function names --------------------------------------------------------------
# [a-z0-9-], 1-63 characters, a letter or digit at both ends: a DNS label, so
# a function name is also a valid part of a Swarm service name.
NAME_MAX = 63
NAME_RE = re.compile(rf"^[a-z0-9]([a-z0-9-]{{0,{NAME_MAX - 2}}}[a-z0-9])?$")
# The fast path's pre-check of a request line (fastpath._REQUEST_LINE): the
# alphabet and the length only, which every valid name passes (a cheap regex
# on the hot path). A name that passes it but not NAME_RE ("-x") finds no
# function in the table, which holds only valid names, so the call goes on to
# Proxy.call, whose routing.check_name answers the same 400 as the Sanic path.
NAME_PRECHECK = rf"[a-z0-9-]{{1,{NAME_MAX}}}"


def is_valid_name(name: str) -> bool:
    return bool(NAME_RE.fullmatch(name))


def is_decimal(text: str) -> bool:
    """Only ASCII digits: what int() takes. str.isdigit() alone also accepts
    characters such as "²" that int() refuses with a ValueError."""
    return text.isascii() and text.isdigit()


class LabelError(ValueError):
    """A label has a bad value; the message names the label. The parsers of
    the labels each part owns raise it (``alexa.labels``, ``webhooks.labels``,
    ``ratelimit``); ``spec.parse_service`` makes it the function's
    ``InvalidFunction``."""


# -- the documented set ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Label:
    """One row of docs/labels.md: a key and, when the doc states one, its default
    as the label's text."""

    key: str
    default: str | None = None


DOCUMENTED: tuple[Label, ...] = (
    Label(FUNCTION),
    Label(NAME),
    Label(PORT, str(DEFAULT_PORT)),
    Label(TIMEOUT, f"{DEFAULT_TIMEOUT:g}"),
    Label(PIDS_LIMIT, str(DEFAULT_PIDS_LIMIT)),
    Label(ALEXA_INTENTS),
    Label(ALEXA_SKILL_IDS),
    Label(ALEXA_DEFAULT, "false"),
    Label(ALEXA_VERIFY, "true"),
    Label(ALEXA_TIMEOUT),
    Label(SCALE_MIN, str(DEFAULT_SCALE_MIN)),
    Label(SCALE_MAX, str(DEFAULT_SCALE_MAX)),
    Label(SCALE_TYPE, "inflight"),  # scaler.labels.ScaleType.INFLIGHT
    Label(SCALE_TARGET),  # by type: scaler.labels.DEFAULT_TARGET
    Label(SCALE_ZERO, "false"),
    Label(SCALE_ZERO_DURATION, f"{DEFAULT_SCALE_ZERO_DURATION:g}"),
    Label(QUEUE_LENGTH, str(DEFAULT_QUEUE_LENGTH)),
    Label(QUEUE_WAIT, f"{DEFAULT_QUEUE_WAIT:g}"),
    Label(RATELIMIT_RPS),
    Label(RATELIMIT_BURST),  # by rps: ratelimit.parse_rate_limit
    Label(WEBHOOK_SCHEME),
    Label(WEBHOOK_SECRETS),
    Label(WEBHOOK_TOLERANCE, "300"),
    Label(WEBHOOK_HEADER),
    Label(WEBHOOK_DIGEST, "sha256"),
    Label(WEBHOOK_ENCODING, "hex"),
    Label(WEBHOOK_PREFIX_TEXT),
    Label(WEBHOOK_ID_HEADER),
    Label(ASYNC, "false"),
    Label(ASYNC_ATTEMPTS, str(DEFAULT_ASYNC_ATTEMPTS)),
    Label(ASYNC_CONCURRENCY, str(DEFAULT_ASYNC_CONCURRENCY)),
    Label(SCHEDULE),
    Label(SCHEDULE_CATCH_UP, "60"),  # schedule.DEFAULT_CATCH_UP
    Label(ANNOTATION_PREFIX + "<key>"),
    Label(OPENFAAS_ANNOTATION_PREFIX + "<key>"),
    Label(SECRET),
    Label(STACK_NAMESPACE),
    Label(OPENFAAS_FUNCTION),
)
