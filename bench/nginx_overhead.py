"""What the front door costs: wrk straight at an upstream vs through swarmfaas's
nginx (HTTPS, HTTP/1.1 keep-alive, rendered config with JSON access log and
rate limiting off), interleaved rounds in one run.

The upstream is a bare nginx answering `return 200` so that the figure is the
front door's own cost (TLS + proxying + logging), not the upstream's.

    .venv/bin/python bench/nginx_overhead.py [--rounds 3] [--seconds 5] [--connections 32]
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

from report import write_result  # noqa: E402

UPSTREAM_PORT, HTTPS_PORT, HTTP_PORT = 18590, 18591, 18592

UPSTREAM_CONF = """daemon off; worker_processes 1; pid {base}/up.pid; error_log stderr error;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {base}/tmp;
  server {{ listen 127.0.0.1:{port}; keepalive_requests 100000;
    location / {{ default_type application/json; return 200 '{{"ok": true}}\\n'; }} }} }}
"""


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": rps,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for binary in ("wrk", "nginx"):
        if not shutil.which(binary):
            sys.exit(f"{binary} is not installed")
    import dev_cert
    from ng_harness import Front, wait_port, world_readable_dir

    base = world_readable_dir("ng-bench-")
    dev_cert.ensure(str(base / "dev"))
    (base / "tmp").mkdir()
    conf = base / "upstream.conf"
    conf.write_text(UPSTREAM_CONF.format(base=base, port=UPSTREAM_PORT))
    upstream = subprocess.Popen(["nginx", "-p", str(base), "-c", str(conf)])
    front = Front(
        HTTPS_PORT,
        HTTP_PORT,
        base / "front",
        {
            "DOMAIN": "localhost",
            "NGINX_RATE_LIMIT": "0",
            "NGINX_WORKER_PROCESSES": "1",
            "TLS_CERT_FILE": str(base / "dev" / "cert.pem"),
            "TLS_KEY_FILE": str(base / "dev" / "key.pem"),
            "SIDECAR_UPSTREAM": f"127.0.0.1:{UPSTREAM_PORT}",
        },
    )
    (base / "front").mkdir()
    (base / "front").chmod(0o755)
    results: dict[str, list[dict[str, float]]] = {"direct_http": [], "front_https": []}
    try:
        wait_port(UPSTREAM_PORT)
        front.start()
        urls = {
            "direct_http": f"http://127.0.0.1:{UPSTREAM_PORT}/function/echo",
            "front_https": f"https://localhost:{HTTPS_PORT}/function/echo",
        }
        for url in urls.values():  # warm-up
            wrk(url, 1, args.connections)
        for _ in range(args.rounds):
            for name, url in urls.items():
                results[name].append(wrk(url, args.seconds, args.connections))
                time.sleep(0.5)
    finally:
        front.stop()
        upstream.terminate()
        upstream.wait(10)
    summary = {
        name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for name, runs in results.items()
    }
    ratio = summary["front_https"]["rps"] / summary["direct_http"]["rps"]
    for name, s in summary.items():
        print(
            f"{name:12} median {s['rps']:9.0f} req/s  p50 {s['p50_ms']:.2f} ms"
            f"  p99 {s['p99_ms']:.2f} ms  non-2xx {s['non_2xx']:.0f}"
        )
    print(f"ratio front/direct throughput: {ratio:.2f}")
    front, direct = summary["front_https"], summary["direct_http"]
    write_result(
        "nginx_overhead",
        subject=f"swarmfaas's nginx (HTTPS, keep-alive, rendered config) in front of a bare"
                f" nginx `return 200`, {args.connections} connections",
        baseline="the same upstream hit directly over plain HTTP",
        metric=f"req/s at {args.connections} connections, ratio of medians",
        ratio=ratio,
        round_ratios=[f["rps"] / d["rps"] for f, d in zip(results["front_https"],
                                                          results["direct_http"], strict=True)],
        summary=f"{front['rps']:,.0f} vs {direct['rps']:,.0f} req/s; p50 {front['p50_ms']:.2f}"
                f" vs {direct['p50_ms']:.2f} ms",
        figures={"connections": args.connections, "seconds": args.seconds,
                 "rounds": results, "median": summary,
                 "throughput_ratio_front_vs_direct": ratio})
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
