"""Fork-mode entry point: the request body on stdin, handle(req)'s result on stdout.

req is the body as str; bytes that are not UTF-8 survive as surrogate escapes,
so returning req (or any str built from it) gives back the exact bytes.
Returning bytes writes them as they are; a dict or list is written as JSON.
"""

import json
import sys

from function import handler


def main() -> None:
    req = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    res = handler.handle(req)
    if res is None:
        return
    if isinstance(res, bytes | bytearray):
        out = bytes(res)
    elif isinstance(res, str):
        out = res.encode("utf-8", "surrogateescape")
    else:
        out = json.dumps(res).encode()
    sys.stdout.buffer.write(out)


if __name__ == "__main__":
    main()
