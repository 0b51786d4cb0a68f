"""From deploy to the first successful call: the image's health-check interval
against the interval the system API sets (SYSTEM_HEALTH_INTERVAL, 2 s).

Needs the stack from ``make up`` (HTTPS on 127.0.0.1, the functions network).
Each round creates one function service of the stack's echo image the way the
system API does (dnsrr, on the functions network), once with the image's own
interval and once with the interval override, in alternating order, and polls
``/function/<name>`` through nginx every 50 ms until it answers.

    .venv/bin/python bench/health_interval.py [--rounds 5] [--stack faas] [--port 8443]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import docker
import httpx
from docker.types import EndpointSpec, Healthcheck
from report import write_result

ROOT = Path(__file__).resolve().parents[1]


def deploy_to_call(api: docker.DockerClient, http: httpx.Client, image: str, network: str,
                   interval_s: float | None) -> float:
    name = f"hi-{uuid.uuid4().hex[:8]}"
    extra = {} if interval_s is None else {
        "healthcheck": Healthcheck(interval=round(interval_s * 1e9))}
    started = time.monotonic()
    service = api.services.create(image, name=name, networks=[network], env=["fprocess=cat"],
                                  labels={"swarmfaas.function": "true"},
                                  endpoint_spec=EndpointSpec(mode="dnsrr"), **extra)
    try:
        deadline = started + 60
        while http.post(f"/function/{name}", content=b"ok").content != b"ok":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} never answered")
            time.sleep(0.05)
        return time.monotonic() - started
    finally:
        service.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stack", default="faas")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    tag_file = ROOT / ".build" / "tag"
    if not tag_file.exists():
        print("cannot run: no .build/tag; run `make up` first", file=sys.stderr)
        return 2
    image = f"swarmfaas/fn-echo:{tag_file.read_text().strip()}"
    api = docker.from_env()
    http = httpx.Client(base_url=f"https://127.0.0.1:{args.port}", verify=False, timeout=10)
    try:
        http.get("/healthz")
    except httpx.HTTPError as exc:
        print(f"cannot run: the stack does not answer on {args.port} ({exc}); run `make up`",
              file=sys.stderr)
        return 2
    sides = {"image interval": None, f"{args.interval:g} s": args.interval}
    results: dict[str, list[float]] = {side: [] for side in sides}
    for index in range(args.rounds):
        order = list(sides.items())
        if index % 2:
            order.reverse()
        for side, interval in order:
            seconds = deploy_to_call(api, http, image, f"{args.stack}_functions", interval)
            results[side].append(seconds)
            print(f"round {index + 1} {side:15s} {seconds:.2f} s", flush=True)
            time.sleep(1)
    summary = {side: statistics.median(values) for side, values in results.items()}
    base, ours = summary["image interval"], summary[f"{args.interval:g} s"]
    print(f"\ndeploy -> first successful call, medians of {args.rounds}: image's interval "
          f"{base:.2f} s, {args.interval:g} s interval {ours:.2f} s ({ours / base:.2f}x)")
    write_result(
        "health_interval",
        subject="deploy -> first successful call through the stack's HTTPS, with the"
                f" {args.interval:g} s health interval the system API sets",
        baseline="the same with the image's own interval, alternating",
        metric="seconds, medians, subject/baseline (lower is better)",
        ratio=ours / base,
        round_ratios=[a / b for a, b in zip(results[f"{args.interval:g} s"],
                                            results["image interval"], strict=True)],
        summary=f"{ours:.2f} s vs {base:.2f} s, medians of {args.rounds}",
        figures={"image": image, "rounds": results, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
