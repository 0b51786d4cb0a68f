"""Amazon's rules for the SignatureCertChainUrl header (pure).

After removing dot segments from the path: scheme ``https`` and host
``s3.amazonaws.com`` (both case-insensitive), path starting with
``/echo.api/`` (case-sensitive), port 443 if one is given. We are stricter in
what the rest may contain (no userinfo, query, fragment, percent-escapes or
backslashes): Amazon's real URLs never have them, and each is a way to make
one URL mean two things.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from . import rejection

CANONICAL_PREFIX = "https://s3.amazonaws.com/echo.api/"
_HOST = "s3.amazonaws.com"
_PATH_PREFIX = "/echo.api/"
_PATH_CHARS = re.compile(r"^[A-Za-z0-9._~/-]*$")


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on an absolute path."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif segment == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def normalise_cert_url(url: str | None) -> str:
    """The canonical URL to fetch, or Rejected naming the broken rule."""
    if not url:
        raise rejection.signature_missing("the SignatureCertChainUrl header is missing")
    if len(url) > 1024 or any(c.isspace() or ord(c) < 0x20 for c in url):
        raise rejection.cert_url_invalid(
            "SignatureCertChainUrl is too long or has control characters"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise rejection.cert_url_invalid(f"SignatureCertChainUrl does not parse: {exc}") from None
    if parts.scheme.lower() != "https":
        raise rejection.cert_url_invalid(
            f"SignatureCertChainUrl scheme is {parts.scheme!r}, not https"
        )
    if (parts.hostname or "").lower() != _HOST:
        raise rejection.cert_url_invalid(
            f"SignatureCertChainUrl host is {parts.hostname!r}, not {_HOST}"
        )
    if port is not None and port != 443:
        raise rejection.cert_url_invalid(f"SignatureCertChainUrl port is {port}, not 443")
    if parts.username is not None or parts.password is not None:
        raise rejection.cert_url_invalid("SignatureCertChainUrl has user information")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise rejection.cert_url_invalid("SignatureCertChainUrl has a query or a fragment")
    if not _PATH_CHARS.fullmatch(parts.path):
        raise rejection.cert_url_invalid(
            "SignatureCertChainUrl path has characters Amazon never uses"
        )
    path = remove_dot_segments(parts.path)
    if not path.startswith(_PATH_PREFIX) or path == _PATH_PREFIX:
        raise rejection.cert_url_invalid(
            f"SignatureCertChainUrl path {path!r} is not under {_PATH_PREFIX}"
        )
    return CANONICAL_PREFIX + path[len(_PATH_PREFIX) :]
