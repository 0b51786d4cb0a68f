#!/usr/bin/env python3
"""asyncprobe: records every call it gets, so a test can see what the queue
worker delivered (docs/webhooks.md).

- ``GET /report``: every record so far, one JSON object a line: call id,
  attempt (X-Delivery-Attempt), method, path, query, the body's sha256, the
  schedule tick (X-Schedule-Tick) if any, and the time it was received
  (``received``, Unix seconds; bench/async_delivery.py reads it, on the same
  machine's clock as the caller's).
- ``/fail/<key>``: recorded, then exits 1 (the watchdog's 500), until
  ``GET /fix/<key>``; each test uses a key of its own.
- anything else: recorded, answered with the record.

Records live in $PROBE_DIR (the container's /tmp tmpfs) of one task, kept
until it is replaced: stack.yml keeps the function at one replica
(swarmfaas.scale.max), enough for the end-to-end tests.
"""

import hashlib
import json
import os
import sys
import time

PROBE_DIR = os.environ.get("PROBE_DIR", "/tmp")
LOG = os.path.join(PROBE_DIR, "probe.log")


def fixed(key: str) -> str:
    return os.path.join(PROBE_DIR, "fixed-" + "".join(c for c in key if c.isalnum()))


def main() -> int:
    # Http_<Header> is the watchdog's CGI convention (OpenFaaS's).
    received = time.time()  # first: the delivery latency ends here
    env = os.environ
    path = env.get("Http_Path", "/")
    if env.get("Http_Method") == "GET" and path == "/report":
        if os.path.exists(LOG):
            with open(LOG, "rb") as f:
                sys.stdout.buffer.write(f.read())
        return 0
    if env.get("Http_Method") == "GET" and path.startswith("/fix/"):
        open(fixed(path[len("/fix/"):]), "w").close()
        sys.stdout.write("fixed\n")
        return 0
    body = sys.stdin.buffer.read()
    record = {
        "call_id": env.get("Http_X_Call_Id", ""),
        "attempt": env.get("Http_X_Delivery_Attempt", ""),
        "method": env.get("Http_Method", ""), "path": path,
        "query": env.get("Http_Query", ""),
        "sha256": hashlib.sha256(body).hexdigest(), "size": len(body),
        "tick": env.get("Http_X_Schedule_Tick", ""), "received": received,
    }
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)  # one write with O_APPEND: concurrent calls never interleave
    finally:
        os.close(fd)
    if path.startswith("/fail/") and not os.path.exists(fixed(path[len("/fail/"):])):
        sys.stderr.write("failing on purpose\n")
        return 1
    sys.stdout.buffer.write(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
