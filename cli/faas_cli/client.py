"""The system API and function calls over httpx: the CLI's only network adapter.

Every failure leaves here as a CliError (errors.py decides message and exit code).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from . import payload
from .config import Gateway
from .errors import CliError, Exit, error_for_status, unreachable


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Client:
    def __init__(self, gw: Gateway, timeout: float = 30.0) -> None:
        self.gw = gw
        verify: Any = gw.verify
        if gw.verify and gw.ca:
            verify = _ssl_context(gw.ca)
        auth = (gw.user, gw.password) if gw.has_credentials else None
        self._http = httpx.Client(base_url=gw.url, auth=auth, verify=verify, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------------
    def request(self, method: str, path: str, **kw: Any) -> Answer:
        try:
            r = self._http.request(method, path, **kw)
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise CliError(f"the certificate of {self.gw.url} is not trusted", Exit.UNREACHABLE,
                               "pass --tls-ca .state/<stack>/certs/ca.pem (or SWARMFAAS_CA), "
                               "or log in with it: `faas login --tls-ca ...`") from None
            raise unreachable(self.gw.url, _short(exc)) from None
        except httpx.TimeoutException:
            raise unreachable(self.gw.url, "timed out") from None
        except httpx.TransportError as exc:
            raise unreachable(self.gw.url, _short(exc)) from None
        return Answer(r.status_code, r.headers, r.content)

    def _ok(self, method: str, path: str, what: str, feature: str = "", **kw: Any) -> Answer:
        a = self.request(method, path, **kw)
        if a.status >= 400:
            raise error_for_status(a.status, a.body, what=what, feature=feature)
        return a

    def _json(self, method: str, path: str, what: str, feature: str = "", **kw: Any) -> Any:
        a = self._ok(method, path, what, feature, **kw)
        try:
            return json.loads(a.body) if a.body else None
        except ValueError:
            raise CliError(f"{what}: the gateway did not answer JSON", Exit.FAILED,
                           "is --gateway pointing at a swarmfaas or OpenFaaS gateway?") from None

    # --- system API ------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return self._json("GET", "/system/info", "gateway info")

    def list(self) -> list[dict[str, Any]]:
        return self._json("GET", "/system/functions", "list functions") or []

    def describe(self, name: str) -> dict[str, Any]:
        return self._json("GET", f"/system/function/{_seg(name)}", f"describe {name}")

    def deploy(self, body: dict[str, Any]) -> str:
        """Create the function, or update it when it exists. 'created' or 'updated'."""
        name = body["service"]
        a = self.request("POST", "/system/functions", json=body)
        if a.status < 400:
            return "created"
        code = json.loads(a.body).get("error") if a.body.startswith(b"{") else ""
        if a.status == 409 and code == "function_exists":
            self._ok("PUT", "/system/functions", f"update {name}", json=body)
            return "updated"
        raise error_for_status(a.status, a.body, what=f"deploy {name}")

    def remove(self, name: str) -> None:
        self._ok("DELETE", "/system/functions", f"remove {name}", json=payload.delete_request(name))

    def scale(self, name: str, replicas: int) -> None:
        self._ok("POST", f"/system/scale-function/{_seg(name)}", f"scale {name}",
                 json=payload.scale_request(name, replicas))

    def logs(self, name: str, *, since: str, tail: int | None, follow: bool) -> Iterator[bytes]:
        params: dict[str, Any] = {"name": name, "follow": "true" if follow else "false"}
        if since:
            params["since"] = since
        if tail is not None:
            params["tail"] = tail
        what = f"logs of {name}"
        try:
            with self._http.stream("GET", "/system/logs", params=params,
                                   timeout=None if follow else 30.0) as r:
                if r.status_code >= 400:
                    raise error_for_status(r.status_code, r.read(), what=what, feature="logs")
                yield from r.iter_lines()
        except httpx.TransportError as exc:
            raise unreachable(self.gw.url, _short(exc)) from None

    def secrets(self) -> list[dict[str, Any]]:
        return self._json("GET", "/system/secrets", "list secrets", "secrets") or []

    def secret_create(self, name: str, value: bytes) -> None:
        # The value goes in the body only: never in a URL, a log or an error message.
        self._ok("POST", "/system/secrets", f"create secret {name}", "secrets",
                 json=payload.secret(name, value))

    def secret_update(self, name: str, value: bytes) -> None:
        self._ok("PUT", "/system/secrets", f"update secret {name}", "secrets",
                 json=payload.secret(name, value))

    def secret_remove(self, name: str) -> None:
        self._ok("DELETE", "/system/secrets", f"remove secret {name}", "secrets",
                 json={"name": name})

    # --- calling a function ----------------------------------------------------
    def invoke(self, name: str, *, data: bytes, method: str, headers: Mapping[str, str],
               query: list[tuple[str, str]], is_async: bool, timeout: float) -> Answer:
        path = f"/async-function/{_seg(name)}" if is_async else f"/function/{_seg(name)}"
        return self.request(method, path, content=data, headers=dict(headers),
                            params=query, timeout=timeout)


def _seg(name: str) -> str:
    return quote(name, safe="")


def _ssl_context(ca: str) -> Any:
    import ssl

    try:
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"cannot use the CA file {ca} ({exc})", Exit.USAGE,
                       "check --tls-ca / SWARMFAAS_CA (e.g. .state/faas/certs/ca.pem)") from None


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
