"""Which function a request is for: pure decisions over path and headers.

``/function/<name>`` and ``/function/<name>/<rest>`` name the function in the
path (the rest and the query reach the function); elsewhere the
``X-Function: <name>`` header names it and the path is passed unchanged.
Either may be OpenFaaS's ``<name>.<namespace>``: the platform's one namespace
(or its alias ``openfaas-fn``) is dropped, any other is a 404. Paths
the platform owns (``/system/*``, ``/healthz``, ``/metrics``, ...) are routed
by Sanic before this is asked, so a header can never take them over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import (
    bad_request,
    function_not_found,
    invalid_function_name,
    namespace_not_found,
    not_found,
)
from .labels import is_valid_name

FUNCTION_PREFIX = "/function/"
ASYNC_PREFIX = "/async-function/"  # store the call, answer 202 (docs/webhooks.md)
FUNCTION_HEADER = "x-function"

# OpenFaaS addresses a function as <name>.<namespace>. This platform has one
# namespace; OpenFaaS's default one is accepted as another name for it, so
# clients and stack files written for OpenFaaS work unchanged. Anything else is
# a 404 (errors.namespace_not_found).
NAMESPACE = "swarmfaas-fn"
NAMESPACE_ALIASES = ("openfaas-fn",)
NAMESPACES = frozenset({NAMESPACE, *NAMESPACE_ALIASES})


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    path: str  # the path to send upstream, without the query


def split_function_path(path: str, prefix: str = FUNCTION_PREFIX) -> Route | None:
    """``/function/<name>[/<rest>]`` -> Route(name, '/<rest>'); None otherwise
    (``prefix`` may be ASYNC_PREFIX instead)."""
    if not path.startswith(prefix):
        return None
    name, _sep, rest = path[len(prefix):].partition("/")
    return Route(name=without_namespace(name), path="/" + rest)


def without_namespace(name: str) -> str:
    """``<name>.<namespace>`` -> ``<name>`` when the namespace is the platform's
    (or its alias); PlatformError 404 for any other. A name without a dot is
    returned as it is (a function name never has one)."""
    function, dot, namespace = name.partition(".")
    if not dot or not is_valid_name(function):
        return name  # not a name at all: check_name words the 400
    check_namespace(namespace)
    return function


def check_namespace(namespace: str) -> None:
    """PlatformError 404 unless ``namespace`` is the platform's one or its alias."""
    if namespace not in NAMESPACES:
        known = f"{NAMESPACE!r} (alias {', '.join(map(repr, NAMESPACE_ALIASES))})"
        raise namespace_not_found(namespace, known)


def resolve(path: str, header_value: str | None, prefix: str = FUNCTION_PREFIX) -> Route:
    """The route of a request, or PlatformError 400/404."""
    route = split_function_path(path, prefix)
    if route is None:
        if header_value is None:
            raise not_found(path)
        route = Route(name=without_namespace(header_value.strip()), path=path)
    check_name(route.name)
    return route


def header_name(values: Sequence[str]) -> str | None:
    """The function ``X-Function`` names, from all of the header's values: None
    without one; PlatformError 400 when they name different functions (no
    "first one wins": a client or a proxy in front could mean the other)."""
    if not values:
        return None
    name = values[0].strip()
    for value in values[1:]:
        other = value.strip()
        if other != name:
            raise bad_request(f"the X-Function headers name different functions: "
                              f"{_shown(name)!r} and {_shown(other)!r}")
    return without_namespace(name)


def _shown(name: str) -> str:
    return name if len(name) <= 80 else name[:80] + "..."


def check_name(name: str) -> None:
    if not name:
        raise function_not_found()
    if not is_valid_name(name):
        raise invalid_function_name(
            f"{_shown(name)!r} is not a function name ([a-z0-9-], 1-63 characters)"
        )
