#!/usr/bin/env python3
"""webhookstash: store each request body byte for byte, answer with the file name.

The file is named by a nanosecond timestamp (the original demo's convention);
O_EXCL makes two requests in the same nanosecond take different names.
"""

import os
import sys
import time

STASH_DIR = os.environ.get("STASH_DIR", "/data")


def main() -> int:
    body = sys.stdin.buffer.read()
    while True:
        name = str(time.time_ns())
        try:
            fd = os.open(os.path.join(STASH_DIR, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        break
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    sys.stdout.write(name + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
