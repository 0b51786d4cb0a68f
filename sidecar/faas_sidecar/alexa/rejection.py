"""Why a request was turned away: raised by the pure checks, rendered by the handler.

One factory per code (``cert_invalid(reason)`` and so on), registered with the
sidecar's other codes in ``errors.CODES`` (docs/errors.md).
"""

from __future__ import annotations

from functools import partial

from ..errors import Reason, defines, worded


class Rejected(Exception):
    """A request the function must never see. ``code`` is a stable snake_case id."""

    def __init__(self, code: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.status = status


def _rejected(status: int, code: str, reason: str, _headers: dict[str, str]) -> Rejected:
    return Rejected(code, reason, status)


_defines = partial(defines, make=_rejected)
_worded = partial(worded, make=_rejected)

# Codes whose reason the check words: ``cert_invalid("the chain is empty")``.
body_too_large = _worded("alexa_body_too_large", 413,
                         "an Alexa request body is over ALEXA_MAX_BODY")


invalid_envelope = _worded("invalid_alexa_envelope", 400,
                           "the body is not a valid Alexa request envelope")


signature_missing = _worded("alexa_signature_missing", 400, "a signature header is missing")
signature_invalid = _worded("alexa_signature_invalid", 400,
                            "Signature-256 is not base64 or does not verify")


cert_url_invalid = _worded("alexa_cert_url_invalid", 400, "SignatureCertChainUrl is not Amazon's")
cert_unavailable = _worded("alexa_cert_unavailable", 400,
                           "the certificate chain could not be fetched")


cert_invalid = _worded("alexa_cert_invalid", 400,
                       "the certificate chain does not parse, or its key is not RSA")


cert_not_yet_valid = _worded("alexa_cert_not_yet_valid", 400,
                             "the signing certificate is not valid yet")


cert_expired = _worded("alexa_cert_expired", 400, "the signing certificate has expired")
cert_wrong_san = _worded("alexa_cert_wrong_san", 400,
                         "the signing certificate is not echo-api.amazon.com's")


cert_untrusted = _worded("alexa_cert_untrusted", 400, "the chain does not verify to a trusted root")
timestamp_invalid = _worded("alexa_timestamp_invalid", 400, "request.timestamp is not ISO 8601")
timestamp_out_of_range = _worded("alexa_timestamp_out_of_range", 400,
                                 "request.timestamp is too far from now")


@_defines("unknown_application_id", 400, "no function declares the request's Alexa skill")
def unknown_application_id(application_id: str) -> Reason:
    return (f"no function declares the Alexa skill {application_id!r} "
            "(swarmfaas.alexa.skill_ids)")


@_defines("alexa_no_function", 404, "no function of the skill answers, and it has no default")
def no_function(application_id: str, what: str) -> Reason:
    return f"no function of skill {application_id} answers {what}, and it has no default"
