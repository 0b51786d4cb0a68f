"""Sanic hello-world upstream (one process), the reference the Go of-watchdog was measured with.

    .venv/bin/python bench/watchdog_upstream_sanic.py PORT
"""

from __future__ import annotations

import sys

from sanic import Sanic
from sanic.response import text

app = Sanic("wd_bench_hello")


@app.route("/", methods=["GET", "POST"])
async def hello(request):
    return text("hello, world\n")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False,
            debug=False, motd=False)
