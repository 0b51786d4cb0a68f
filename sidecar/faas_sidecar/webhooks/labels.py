"""The ``swarmfaas.webhook.*`` service labels, parsed (pure). See docs/labels.md."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..labels import (
    WEBHOOK_DIGEST,
    WEBHOOK_ENCODING,
    WEBHOOK_HEADER,
    WEBHOOK_ID_HEADER,
    WEBHOOK_PREFIX,
    WEBHOOK_PREFIX_TEXT,
    WEBHOOK_SCHEME,
    WEBHOOK_SECRETS,
    WEBHOOK_TOLERANCE,
    LabelError,
)
from .signatures import DEFAULT_TOLERANCE, DIGESTS, ENCODINGS, SCHEMES, Scheme

# A Docker secret's name, and never a path: the sidecar joins it to its
# secrets folder.
_SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEADER = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$")
MAX_TOLERANCE = 86400.0
_HMAC_ONLY = (WEBHOOK_HEADER, WEBHOOK_DIGEST, WEBHOOK_ENCODING, WEBHOOK_PREFIX_TEXT,
              WEBHOOK_ID_HEADER)


@dataclass(frozen=True, slots=True)
class WebhookCheck:
    """What the sidecar checks on every request to one function."""

    scheme: Scheme
    secrets: tuple[str, ...]  # Docker secret names


def parse_webhook_labels(labels: Mapping[str, str]) -> WebhookCheck | None:
    """None when the function checks no signature; LabelError when a value is bad."""
    if not any(key.startswith(WEBHOOK_PREFIX) for key in labels):
        return None
    kind = labels.get(WEBHOOK_SCHEME, "").strip().lower()
    if kind not in SCHEMES:
        raise LabelError(f"{WEBHOOK_SCHEME}={labels.get(WEBHOOK_SCHEME, '')!r}: "
                         f"expected one of {', '.join(SCHEMES)}")
    secrets = tuple(s.strip() for s in labels.get(WEBHOOK_SECRETS, "").split(",") if s.strip())
    if not secrets:
        raise LabelError(f"{WEBHOOK_SECRETS} is required with {WEBHOOK_SCHEME}: "
                         "the names of Docker secrets granted to the sidecar")
    bad = [s for s in secrets if not _SECRET_NAME.fullmatch(s)]
    if bad:
        raise LabelError(f"{WEBHOOK_SECRETS}: {bad[0]!r} is not a Docker secret name")
    tolerance = _tolerance(labels.get(WEBHOOK_TOLERANCE, "").strip())
    if kind != "hmac":
        extra = [key for key in _HMAC_ONLY if key in labels]
        if extra:
            raise LabelError(f"{extra[0]} applies to {WEBHOOK_SCHEME}=hmac only")
        return WebhookCheck(Scheme(kind, tolerance), secrets)
    return WebhookCheck(_hmac_scheme(labels, tolerance), secrets)


def _hmac_scheme(labels: Mapping[str, str], tolerance: float) -> Scheme:
    header = labels.get(WEBHOOK_HEADER, "").strip()
    if not _HEADER.fullmatch(header):
        raise LabelError(f"{WEBHOOK_HEADER}={header!r}: the header carrying the signature "
                         f"is required with {WEBHOOK_SCHEME}=hmac")
    id_header = labels.get(WEBHOOK_ID_HEADER, "").strip()
    if id_header and not _HEADER.fullmatch(id_header):
        raise LabelError(f"{WEBHOOK_ID_HEADER}={id_header!r} is not a header name")
    digest = labels.get(WEBHOOK_DIGEST, "sha256").strip().lower()
    if digest not in DIGESTS:
        raise LabelError(f"{WEBHOOK_DIGEST}={digest!r}: expected one of {', '.join(DIGESTS)}")
    encoding = labels.get(WEBHOOK_ENCODING, "hex").strip().lower()
    if encoding not in ENCODINGS:
        raise LabelError(
            f"{WEBHOOK_ENCODING}={encoding!r}: expected one of {', '.join(ENCODINGS)}")
    return Scheme("hmac", tolerance, header=header.lower(), digest=digest, encoding=encoding,
                  prefix=labels.get(WEBHOOK_PREFIX_TEXT, "").strip(),
                  id_header=id_header.lower())


def _tolerance(raw: str) -> float:
    if not raw:
        return DEFAULT_TOLERANCE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 1 <= value <= MAX_TOLERANCE:
        raise LabelError(f"{WEBHOOK_TOLERANCE}={raw!r}: expected seconds in [1, 86400]")
    return value
