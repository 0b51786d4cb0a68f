#!/usr/bin/env python3
"""relay: a function that calls another function through the sidecar.

Functions reach each other by the sidecar's service name on the functions
network: http://sidecar:8080/function/<name>. The target is the request's
`X-Target` header (Http_X_Target in the CGI environment), else $TARGET_FUNCTION.
Answers JSON saying what the target answered.
"""

import json
import os
import sys
import urllib.error
import urllib.request

SIDECAR_URL = os.environ.get("SIDECAR_URL", "http://sidecar:8080")


def main() -> int:
    body = sys.stdin.buffer.read()
    # Http_<Header> is the watchdog's CGI convention (OpenFaaS's), not ours to recase.
    target = os.environ.get("Http_X_Target") or os.environ.get("TARGET_FUNCTION", "echo")  # noqa: SIM112
    request = urllib.request.Request(f"{SIDECAR_URL}/function/{target}", data=body, method="POST")
    call_id = os.environ.get("Http_X_Call_Id")  # noqa: SIM112
    if call_id:  # one call id across the chain, for tracing
        request.add_header("X-Call-Id", call_id)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, answer = exc.code, exc.read()
    text = answer.decode("utf-8", "replace")
    json.dump({"via": "relay", "function": target, "status": status, "body": text}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
