"""The CGI-style environment a forked function sees, as OpenFaaS's watchdogs build it."""

from __future__ import annotations

from collections.abc import Mapping

from .httpwire import RequestHead


def canonical_env_name(header: str) -> str:
    """'x-call-id' -> 'Http_X_Call_Id' (Go's canonical header form, dashes to underscores)."""
    words = header.split("-")
    return "Http_" + "_".join(w[:1].upper() + w[1:].lower() for w in words)


def build_cgi_env(
    base: Mapping[str, str], head: RequestHead, body_length: int, cgi_headers: bool
) -> dict[str, str]:
    """The child's environment: `base` plus request variables when `cgi_headers` is on.

    Repeated request headers are joined with ', ' (their HTTP meaning). Request
    headers never override the Http_Method/Path/Query/Content_Length the
    watchdog computed itself.
    """
    env = dict(base)
    if not cgi_headers:
        return env
    extra: dict[str, str] = {}
    for name, value in head.headers:
        key = canonical_env_name(name)
        extra[key] = f"{extra[key]}, {value}" if key in extra else value
    env.update(extra)
    env["Http_Method"] = head.method
    env["Http_Path"] = head.path
    if head.query:
        env["Http_Query"] = head.query
    else:
        env.pop("Http_Query", None)
    env["Http_Content_Length"] = str(body_length)
    env["Http_ContentLength"] = str(body_length)  # older OpenFaaS spelling
    env["Http_Host"] = head.header("host")
    if head.chunked:
        env["Http_Transfer_Encoding"] = "chunked"
    return env
