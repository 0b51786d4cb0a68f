"""Which function a request is for: pure decisions over path and headers.

``/function/<name>`` and ``/function/<name>/<rest>`` name the function in the
path (the rest and the query reach the function); elsewhere the
``X-Function: <name>`` header names it and the path is passed unchanged. Paths
the platform owns (``/system/*``, ``/healthz``, ``/metrics``, ...) are routed
by Sanic before this is asked, so a header can never take them over.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import function_not_found, invalid_function_name, not_found
from .labels import is_valid_name

FUNCTION_PREFIX = "/function/"
FUNCTION_HEADER = "x-function"


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    path: str  # the path to send upstream, without the query


def split_function_path(path: str) -> Route | None:
    """``/function/<name>[/<rest>]`` -> Route(name, '/<rest>'); None otherwise."""
    if not path.startswith(FUNCTION_PREFIX):
        return None
    name, _sep, rest = path[len(FUNCTION_PREFIX):].partition("/")
    return Route(name=name, path="/" + rest)


def resolve(path: str, header_value: str | None) -> Route:
    """The route of a request, or PlatformError 400/404."""
    route = split_function_path(path)
    if route is None:
        if header_value is None:
            raise not_found(path)
        route = Route(name=header_value.strip(), path=path)
    check_name(route.name)
    return route


def check_name(name: str) -> None:
    if not name:
        raise function_not_found()
    if not is_valid_name(name):
        shown = name if len(name) <= 80 else name[:80] + "..."
        raise invalid_function_name(
            f"{shown!r} is not a function name ([a-z0-9-], 1-63 characters)"
        )
