"""What the Lua balancer costs (nginx learns the sidecars' addresses with no
reload, docs/https.md): swarmfaas's rendered nginx.conf, whose upstream block
is a Lua balancer over the sidecars file, against the same configuration with
the addresses written in the upstream block (the way before, which needed a
reload for every change), side by side, rounds alternating.

wrk over HTTPS keep-alive through each to bare nginx upstreams answering
`return 200` (bench/nginx_overhead.py's), two of them, as two sidecars; both
fronts run the host's nginx (Debian bookworm's 1.22.1 and its Lua module, the
packages the image installs) with one worker.

    .venv/bin/python bench/nginx_balancer.py [--rounds 5] [--seconds 4] [--connections 32]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "nginx"), str(REPO / "nginx"), str(REPO / "certs")]

from cert_per_handshake import start_rendered  # noqa: E402
from nginx_overhead import UPSTREAM_CONF, wrk  # noqa: E402
from report import fmt_ratios, write_result  # noqa: E402

UPSTREAM_PORTS = (18580, 18581)
PORTS = {"static": (18582, 18583), "lua": (18584, 18585)}
ADDRESSES = tuple(f"127.0.0.1:{port}" for port in UPSTREAM_PORTS)


def static_upstream(conf: str, _settings: object = None) -> str:
    """The same configuration with the addresses in the upstream block."""
    block = re.search(r"upstream swarmfaas_sidecar \{\n(.*?)\n    \}\n", conf, re.S)
    assert block, "the rendered config has no upstream block"
    servers = "".join(f"        server {a} max_fails=0;\n" for a in ADDRESSES)
    kept = [line for line in block.group(1).splitlines()
            if line.strip().startswith(("keepalive", "#"))]
    return conf.replace(block.group(0), "upstream swarmfaas_sidecar {\n" + servers
                        + "\n".join(kept) + "\n    }\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for binary in ("wrk", "nginx"):
        if not shutil.which(binary):
            sys.exit(f"{binary} is not installed")
    import dev_cert
    from ng_harness import wait_port, wait_tls, world_readable_dir

    base = world_readable_dir("ng-balancer-")
    dev_cert.ensure(str(base / "dev"))
    (base / "tmp").mkdir()
    processes = []
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in PORTS}
    try:
        for port in UPSTREAM_PORTS:
            conf = base / f"upstream-{port}.conf"
            conf.write_text(UPSTREAM_CONF.format(base=base, port=port).replace(
                f"pid {base}/up.pid", f"pid {base}/up-{port}.pid"))
            processes.append(subprocess.Popen(["nginx", "-p", str(base), "-c", str(conf)]))
            wait_port(port)
        for name in PORTS:
            edit = static_upstream if name == "static" else None
            processes.append(start_rendered(base, name, PORTS[name], base / "dev", ADDRESSES,
                                            edit)[0])
            wait_tls(PORTS[name][0])
        urls = {name: f"https://127.0.0.1:{PORTS[name][0]}/function/echo" for name in PORTS}
        for url in urls.values():  # warm-up
            wrk(url, 1, args.connections)
        for n in range(args.rounds):
            for name in (list(PORTS) if n % 2 == 0 else list(reversed(PORTS))):
                runs[name].append(wrk(urls[name], args.seconds, args.connections))
                time.sleep(0.3)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(10)
        shutil.rmtree(base, ignore_errors=True)
    median = {name: {k: statistics.median(r[k] for r in v) for k in v[0]}
              for name, v in runs.items()}
    rounds = [lua["rps"] / static["rps"] for lua, static in zip(runs["lua"], runs["static"],
                                                                 strict=True)]
    ratio = median["lua"]["rps"] / median["static"]["rps"]
    for name, m in median.items():
        print(f"{name:7} median {m['rps']:9.0f} req/s  p50 {m['p50_ms']:.2f} ms  "
              f"p99 {m['p99_ms']:.2f} ms  non-2xx {m['non_2xx']:.0f}")
    print(f"ratio lua/static throughput: {ratio:.3f} (rounds {fmt_ratios(rounds)})")
    lua, static = median["lua"], median["static"]
    write_result(
        "nginx_balancer",
        subject="swarmfaas's nginx with the Lua balancer over the sidecars file (no reload"
                f" for a new address), HTTPS keep-alive, {args.connections} connections, two"
                " upstreams",
        baseline="the same config and nginx with the two addresses in the upstream block",
        metric=f"req/s at {args.connections} connections, ratio of medians",
        ratio=ratio,
        round_ratios=rounds,
        summary=f"{lua['rps']:,.0f} vs {static['rps']:,.0f} req/s; p50 {lua['p50_ms']:.2f} vs"
                f" {static['p50_ms']:.2f} ms; p99 {lua['p99_ms']:.2f} vs"
                f" {static['p99_ms']:.2f} ms",
        figures={"rounds": runs, "median": median, "connections": args.connections,
                 "seconds": args.seconds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
