"""Container health check: nginx answers its loopback-only health path."""

from __future__ import annotations

import os
import sys
import urllib.request

from .render import HEALTH_PATH


def main() -> int:
    port = os.environ.get("LISTEN_HTTP_PORT", "80") or "80"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=3) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"nginx is not healthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
