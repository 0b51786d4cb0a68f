"""The whole HTTPS path against nginx serving the same function's container directly.

Subject: wrk (HTTPS, keep-alive, on 127.0.0.1) -> the platform's nginx -> the
sidecar -> the function's watchdog -> the function, as `make up` deploys it.
Baseline: wrk -> nginx of the same image, settings and certificate, whose
upstream is the function's tasks (the watchdog's port) instead of the sidecar
-> the same watchdog -> the same function. The only difference is the sidecar.

stack.yml is deployed as a stack of its own (``--stack``, default ``bench-hp``,
through scripts/deploy.sh, as `make up` does) with bench/https_path.stack.yml
on top: the baseline nginx for each function, a warm function ``hop`` (the
watchdog in http mode in front of a tiny upstream, tests/sidecar/images/hopfn)
next to the fork-mode ``echo``, and the scaler at 0 replicas, so each function
keeps one replica on both sides. Rounds alternate between the two sides, the
order rotating, per function; each side's figure is wrk's for ``--duration``
seconds at ``--connections`` connections. The stack is removed at the end
unless ``--keep``.

    .venv/bin/python bench/https_path.py [--rounds 5] [--duration 5] [--connections 64]
        [--functions echo,hop] [--stack bench-hp] [--port 19843] [--keep] [--no-deploy]
        [--lock FILE]

``--lock FILE`` runs the build, deploy and removal under ``flock FILE``, for an
engine shared with others who serialize their Docker changes that way.
"""

from __future__ import annotations

import argparse
import os
import shlex
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from report import write_result
from watchdog_common import wrk

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = Path(__file__).with_name("https_path.stack.yml")
HOPFN = ROOT / "tests" / "sidecar" / "images" / "hopfn"
# What each function is sent: echo gets a body to `cat`; hop's upstream reads
# request heads only (GET).
REQUESTS = {"echo": ("POST", "hello, swarmfaas\n"), "hop": ("GET", "")}
SIDES = ("platform", "direct")


def sh(*cmds: list[str], lock: str, env: dict[str, str] | None = None) -> None:
    """Run commands that change the engine's state one after another, all under
    one ``flock lock`` when given (one wait for the lock, not one per command)."""
    script = " && ".join(shlex.join(c) for c in cmds)
    full = ["flock", lock, "bash", "-c", script] if lock else ["bash", "-c", script]
    # No timeout: the wait for a shared lock has no bound; deploy.sh has its own.
    subprocess.run(full, cwd=ROOT, env={**os.environ, **(env or {})}, check=True)


def lua(method: str, body: str) -> str:
    """A wrk script sending ``method`` with ``body``."""
    text = f'wrk.method = "{method}"\n'
    if body:
        text += f'wrk.body = "{body.encode("unicode_escape").decode()}"\n'
        text += 'wrk.headers["Content-Type"] = "text/plain"\n'
    return text


def answers(url: str, method: str, body: str) -> tuple[int, bytes]:
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE  # the development certificate; wrk does not verify either
    request = urllib.request.Request(url, data=body.encode() or None, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10, context=tls) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError as err:
        return 0, str(err).encode()


def wait_answering(url: str, method: str, body: str, timeout: float = 120) -> bytes:
    deadline = time.monotonic() + timeout
    status, got = 0, b""
    while time.monotonic() < deadline:
        status, got = answers(url, method, body)
        if status == 200:
            return got
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:g} s"
                       f" (last: {status} {got[:200]!r})")


def deploy(args: argparse.Namespace, ports: dict[str, dict[str, int]]) -> str:
    """Build (unless --no-build), make the warm function's image, deploy; the tag."""
    steps = [] if args.no_build else [["bash", "scripts/build.sh"]]
    # The tag exists once build.sh ran, so the step after it reads it itself.
    steps.append(["bash", "-c", 'TAG=$(cat .build/tag) && export HOP_IMAGE="bench-hp/fn-hop:$TAG"'
                  ' && docker build -q --build-arg "WATCHDOG_IMAGE=swarmfaas/watchdog:$TAG"'
                  ' -t "$HOP_IMAGE" "$0" && bash scripts/deploy.sh', str(HOPFN)])
    sh(*steps, lock=args.lock, env={
        "STACK": args.stack, "HTTPS_PORT": str(args.port), "HTTP_PORT": str(args.http_port),
        "COMPOSE_EXTRA": str(OVERLAY.relative_to(ROOT)),
        "DIRECT_ECHO_PORT": str(ports["echo"]["direct"]),
        "DIRECT_HOP_PORT": str(ports["hop"]["direct"])})
    return (ROOT / ".build" / "tag").read_text().strip()


def teardown(args: argparse.Namespace) -> None:
    sh(["docker", "stack", "rm", args.stack], lock=args.lock)
    # The stack's volumes outlive it; they are removable once its containers are gone.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        volumes = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.stack.namespace="
             f"{args.stack}"], capture_output=True, text=True).stdout.split()
        if not volumes:
            return
        removed = subprocess.run(["docker", "volume", "rm", *volumes], capture_output=True)
        if removed.returncode == 0:
            return
        time.sleep(2)
    print(f"the volumes of {args.stack} are still in use; remove them later", file=sys.stderr)


def measure(args: argparse.Namespace, urls: dict[str, dict[str, str]]) -> dict:
    """Alternating rounds per function: {function: {side: [wrk figures per round]}}."""
    rows: dict[str, dict[str, list[dict]]] = {fn: {s: [] for s in SIDES} for fn in urls}
    with tempfile.TemporaryDirectory(prefix="https-path-") as tmp:
        scripts = {}
        for fn in urls:
            scripts[fn] = Path(tmp) / f"{fn}.lua"
            scripts[fn].write_text(lua(*REQUESTS[fn]))
        for fn, sides in urls.items():  # warm both paths (TLS sessions, pools, caches)
            for url in sides.values():
                wrk(url, args.connections, 2, threads=2, script=str(scripts[fn]))
        for index in range(args.rounds):
            for fn, sides in urls.items():
                order = list(sides.items())
                if index % 2:
                    order.reverse()
                for side, url in order:
                    # A task the shared machine's load made fail its health
                    # check is replaced: measure once it answers again.
                    wait_answering(url, *REQUESTS[fn])
                    try:
                        r = wrk(url, args.connections, args.duration, threads=2,
                                script=str(scripts[fn]))
                    except subprocess.CalledProcessError as err:
                        raise RuntimeError(f"wrk failed on {url}: {err.stderr or err.stdout}"
                                           ) from err
                    r["load"] = os.getloadavg()[0]
                    rows[fn][side].append(r)
                    bad = (f" non-2xx {r['non2xx']}" if r["non2xx"] else "") + (
                        f" socket errors {r['socket_errors']}" if r["socket_errors"] else "")
                    print(f"round {index + 1} {fn:5s} {side:8s} {r['rps']:8.0f} req/s"
                          f"  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
                          f"  load {r['load']:.1f}{bad}", flush=True)
    return rows


def summarize(rows: dict[str, list[dict]]) -> dict:
    p, d = rows["platform"], rows["direct"]
    med = {side: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")}
           for side, runs in rows.items()}
    ratios = [a["rps"] / b["rps"] for a, b in zip(p, d, strict=True)]
    return {**med, "round_ratios": ratios, "ratio": statistics.median(ratios),
            "added_p50_ms": med["platform"]["p50_ms"] - med["direct"]["p50_ms"],
            "added_p99_ms": med["platform"]["p99_ms"] - med["direct"]["p99_ms"],
            "non2xx": {side: sum(r["non2xx"] for r in runs) for side, runs in rows.items()},
            "socket_errors": {side: [r["socket_errors"] for r in runs if r["socket_errors"]]
                              for side, runs in rows.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds per side and round")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--functions", default="echo,hop")
    parser.add_argument("--stack", default="bench-hp")
    parser.add_argument("--port", type=int, default=19843,
                        help="the platform's HTTPS port; the baselines take the next ones")
    parser.add_argument("--http-port", type=int, default=19880)
    parser.add_argument("--no-build", action="store_true", help="use .build/tag as it is")
    parser.add_argument("--keep", action="store_true", help="leave the stack deployed")
    parser.add_argument("--no-deploy", action="store_true",
                        help="measure the stack --keep left deployed as it is")
    parser.add_argument("--lock", default="", metavar="FILE",
                        help="run build, deploy and removal under `flock FILE`")
    args = parser.parse_args()
    functions = [f for f in args.functions.split(",") if f]
    unknown = set(functions) - set(REQUESTS)
    if unknown:
        parser.error(f"no such function here: {', '.join(sorted(unknown))}")
    ports = {"echo": {"platform": args.port, "direct": args.port + 1},
             "hop": {"platform": args.port, "direct": args.port + 2}}
    urls = {fn: {side: f"https://127.0.0.1:{ports[fn][side]}/function/{fn}" for side in SIDES}
            for fn in functions}
    tag = "?"
    try:
        if args.no_deploy:
            tag = (ROOT / ".build" / "tag").read_text().strip()
        else:
            tag = deploy(args, ports)
        for fn, sides in urls.items():
            got = {side: wait_answering(url, *REQUESTS[fn]) for side, url in sides.items()}
            if got["platform"] != got["direct"]:
                raise RuntimeError(f"{fn} answers differently on the two sides: {got}")
        rows = measure(args, urls)
    finally:
        if not args.keep:
            teardown(args)
    summary = {fn: summarize(r) for fn, r in rows.items()}
    print(f"\nmedians of {args.rounds} rounds, {args.duration} s each, {args.connections}"
          f" connections, wrk -t2 over HTTPS (keep-alive) on 127.0.0.1; load average now"
          f" {os.getloadavg()[0]:.1f}")
    for fn, s in summary.items():
        p, d = s["platform"], s["direct"]
        print(f"  {fn}: platform {p['rps']:.0f} req/s p50 {p['p50_ms']:.2f} p99"
              f" {p['p99_ms']:.2f} ms | direct {d['rps']:.0f} req/s p50 {d['p50_ms']:.2f}"
              f" p99 {d['p99_ms']:.2f} ms | platform/direct {s['ratio']:.2f}x (rounds"
              f" {', '.join(f'{x:.2f}' for x in s['round_ratios'])}); non-2xx {s['non2xx']}")
    head = functions[0]
    s = summary[head]

    def line(fn: str, t: dict) -> str:
        p, d = t["platform"], t["direct"]
        return (f"{fn}: {p['rps']:,.0f} vs {d['rps']:,.0f} req/s, p50 {p['p50_ms']:.1f} vs"
                f" {d['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} vs {d['p99_ms']:.1f} ms"
                + (f" ({t['ratio']:.2f}x)" if fn != head else ""))

    write_result(
        "https_path",
        subject=f"the whole HTTPS path: wrk -> the platform's nginx -> sidecar -> watchdog ->"
                f" function ({', '.join(functions)}; echo forks `cat`, hop is a warm"
                f" http-mode function), {args.connections} connections, stack.yml as"
                f" `make up` deploys it (services off the path at 0 replicas)",
        baseline="nginx of the same image, settings and certificate with the function's tasks"
                 " as its upstream (no sidecar) -> the same container, alternating rounds",
        metric=f"req/s of {head} at {args.connections} connections, median of per-round ratios",
        ratio=s["ratio"], round_ratios=s["round_ratios"],
        summary="; ".join(line(fn, t) for fn, t in summary.items())
                + f"; non-2xx {sum(sum(t['non2xx'].values()) for t in summary.values())}",
        figures={"connections": args.connections, "duration": args.duration,
                 "rounds": args.rounds, "tag": tag, "stack": args.stack, "urls": urls,
                 "wrk": "wrk -t2 --latency --timeout 10s, HTTPS keep-alive, on 127.0.0.1",
                 "per_round": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
