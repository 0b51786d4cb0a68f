"""What loading the certificate at every TLS handshake costs (the renewal needs
no nginx reload, docs/https.md): swarmfaas's rendered nginx.conf, which names
the certificate by a variable, against the same configuration with the literal
path (loaded once, when nginx starts), side by side, rounds alternating.

- New TLS connections per second: `openssl s_time -new` (a full handshake and
  one HTTP/1.0 request per connection, no session resumption), `--clients` at
  once; this is where the per-handshake load costs.
- Keep-alive throughput: wrk, HTTP/1.1 keep-alive: must not change.
- Handshakes that fail while the served file is swapped (`--swaps` times, a
  few ms apart, under back-to-back handshakes): with a new key (a worker may
  read the old certificate, then the new key), and with the same key (a
  renewal with certbot's --reuse-key), which must be 0.

Both nginx instances run the host's nginx (Debian bookworm's 1.22.1, the
package the image installs) with one worker, in front of a bare nginx
answering `return 200` (bench/nginx_overhead.py's upstream).

    .venv/bin/python bench/cert_per_handshake.py [--rounds 5] [--seconds 4] [--clients 2]
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "nginx"), str(REPO / "nginx"), str(REPO / "certs")]

from nginx_overhead import UPSTREAM_CONF, wrk  # noqa: E402
from report import fmt_ratios, write_result  # noqa: E402

UPSTREAM_PORT = 18594
PORTS = {"static": (18595, 18596), "per_handshake": (18597, 18598)}
VARIABLE = "$swarmfaas_served_pair"


def static_config(conf: str, served: str) -> str:
    """The same configuration with the certificate's literal path (the old way)."""
    for directive in ("ssl_certificate", "ssl_certificate_key"):
        line = f"{directive} {VARIABLE};"
        assert line in conf, f"the rendered config has no `{line}`"
        conf = conf.replace(line, f"{directive} {served};")
    return conf


def new_connections(port: int, seconds: int, clients: int) -> float:
    """Full handshakes with one request each, per second, from `clients` s_time at once."""
    command = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new",
               "-www", "/function/echo", "-time", str(seconds)]

    def one(_: int) -> int:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        return int(re.search(r"(\d+) connections in [\d.]+s", out).group(1))

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(one, range(clients)))
    return total / (time.monotonic() - started)


def swap_failures(port: int, install, pairs: list, swaps: int) -> dict[str, int]:
    """Handshakes back to back from 2 threads while `install` swaps the served
    pair back and forth `swaps` times: how many succeeded and failed."""
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    stop, counts, lock = threading.Event(), {"ok": 0, "failed": 0}, threading.Lock()

    def handshakes() -> None:
        while not stop.is_set():
            try:
                with (socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
                      insecure.wrap_socket(sock, server_hostname="localhost")):
                    outcome = "ok"
            except OSError:  # ssl.SSLError: the TLS alert of a failed handshake
                outcome = "failed"
            with lock:
                counts[outcome] += 1

    threads = [threading.Thread(target=handshakes) for _ in range(2)]
    for thread in threads:
        thread.start()
    for n in range(swaps):
        install(pairs[n % 2])
        time.sleep(0.003)
    stop.set()
    for thread in threads:
        thread.join(10)
    return {**counts, "swaps": swaps}


def start_rendered(base: Path, name: str, ports: tuple[int, int], dev: Path,
                   sidecars: tuple[str, ...], edit=None):
    """swarmfaas's config for one variant (``edit(text, settings)`` changes
    the rendered text), checked with `nginx -t` and started: (nginx, its
    supervisor)."""
    from swarmfaas_nginx.render import render_config
    from swarmfaas_nginx.settings import load_settings
    from swarmfaas_nginx.supervisor import Supervisor

    https, http = ports
    settings = load_settings({
        "NGINX_STATE_DIR": str(base / name), "ACME_WEBROOT": str(base / name / "www"),
        "LISTEN_HTTPS_PORT": str(https), "LISTEN_HTTP_PORT": str(http),
        "NGINX_BIND": "loopback", "NGINX_IPV6": "off", "NGINX_ACCESS_LOG": "off",
        "NGINX_WORKER_PROCESSES": "1", "NGINX_RATE_LIMIT": "0",
    })
    sup = Supervisor(settings)
    sup.prepare_dirs()  # the served file's owner and mode, as in the image
    sup.install_cert(dev_pair(dev))
    sup.write_sidecars(sidecars)
    conf = render_config(settings, ipv6=False)
    if edit is not None:
        conf = edit(conf, settings)
    Path(settings.conf_path).write_text(conf)
    check = subprocess.run(["nginx", "-t", "-q", "-p", settings.state_dir, "-c",
                            settings.conf_path], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    return subprocess.Popen(["nginx", "-p", settings.state_dir, "-c", settings.conf_path]), sup


def start_front(base: Path, name: str, dev: Path) -> subprocess.Popen[bytes]:
    """This benchmark's two variants: the certificate named by a variable
    (as rendered) or by its literal path."""
    edit = (lambda conf, s: static_config(conf, s.served_pair_path)) if name == "static" else None
    process, SUPERVISORS[name] = start_rendered(base, name, PORTS[name], dev,
                                                (f"127.0.0.1:{UPSTREAM_PORT}",), edit)
    return process


SUPERVISORS: dict = {}


def dev_pair(dev: Path, key: Path | None = None):
    from swarmfaas_nginx import tls

    source = tls.CertSource("default", str(dev / "cert.pem"), str(key or dev / "key.pem"))
    return tls.read_best([source])


def renewed_same_key(dev: Path, other: Path):
    """The development certificate renewed by another CA for the same key."""
    import dev_cert
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from swarmfaas_nginx import tls

    ca = x509.load_pem_x509_certificate((other / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((other / "ca-key.pem").read_bytes(), None)
    key = serialization.load_pem_private_key((dev / "key.pem").read_bytes(), None)
    cert, _ = dev_cert.make_leaf(("localhost",), ca, ca_key, key)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return tls.CertPair(tls.CertSource("renewed", "", ""), pem, (dev / "key.pem").read_bytes())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32, help="wrk's, keep-alive")
    parser.add_argument("--swaps", type=int, default=1000)
    args = parser.parse_args()
    for binary in ("wrk", "nginx", "openssl"):
        if not shutil.which(binary):
            sys.exit(f"{binary} is not installed")
    import dev_cert
    from ng_harness import wait_port, wait_tls, world_readable_dir

    base = world_readable_dir("ng-certbench-")
    dev_cert.ensure(str(base / "dev"))
    dev_cert.ensure(str(base / "other"))
    (base / "tmp").mkdir()
    conf = base / "upstream.conf"
    conf.write_text(UPSTREAM_CONF.format(base=base, port=UPSTREAM_PORT))
    processes = [subprocess.Popen(["nginx", "-p", str(base), "-c", str(conf)])]
    handshakes: dict[str, list[float]] = {name: [] for name in PORTS}
    keepalive: dict[str, list[dict[str, float]]] = {name: [] for name in PORTS}
    try:
        wait_port(UPSTREAM_PORT)
        for name in PORTS:
            processes.append(start_front(base, name, base / "dev"))
            wait_tls(PORTS[name][0])
        for name in PORTS:  # warm-up
            new_connections(PORTS[name][0], 1, args.clients)
            wrk(f"https://127.0.0.1:{PORTS[name][0]}/function/echo", 1, args.connections)
        for n in range(args.rounds):
            order = list(PORTS) if n % 2 == 0 else list(reversed(PORTS))
            for name in order:
                handshakes[name].append(new_connections(PORTS[name][0], args.seconds,
                                                        args.clients))
                time.sleep(0.3)
            for name in order:
                keepalive[name].append(wrk(f"https://127.0.0.1:{PORTS[name][0]}/function/echo",
                                           args.seconds, args.connections))
                time.sleep(0.3)
        sup, port = SUPERVISORS["per_handshake"], PORTS["per_handshake"][0]
        swaps = {
            "new_key": swap_failures(port, sup.install_cert,
                                     [dev_pair(base / "other"), dev_pair(base / "dev")],
                                     args.swaps),
            "same_key": swap_failures(port, sup.install_cert,
                                      [renewed_same_key(base / "dev", base / "other"),
                                       dev_pair(base / "dev")], args.swaps),
        }
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(10)
    hs = {name: statistics.median(v) for name, v in handshakes.items()}
    ka = {name: statistics.median(r["rps"] for r in v) for name, v in keepalive.items()}
    hs_rounds = [p / s for p, s in zip(handshakes["per_handshake"], handshakes["static"],
                                       strict=True)]
    ka_rounds = [p["rps"] / s["rps"] for p, s in zip(keepalive["per_handshake"],
                                                     keepalive["static"], strict=True)]
    hs_ratio, ka_ratio = hs["per_handshake"] / hs["static"], ka["per_handshake"] / ka["static"]
    non_2xx = sum(r["non_2xx"] for v in keepalive.values() for r in v)
    print(f"new TLS connections/s: static {hs['static']:.0f}, per-handshake "
          f"{hs['per_handshake']:.0f}: ratio {hs_ratio:.3f} (rounds {fmt_ratios(hs_rounds)})")
    print(f"keep-alive req/s ({args.connections} connections): static {ka['static']:.0f}, "
          f"per-handshake {ka['per_handshake']:.0f}: ratio {ka_ratio:.3f} "
          f"(rounds {fmt_ratios(ka_rounds)}); non-2xx {non_2xx}")
    for kind, c in swaps.items():
        print(f"{c['swaps']} swaps with the {kind.replace('_', ' ')}: {c['failed']} handshakes"
              f" failed, {c['ok']} succeeded")
    write_result(
        "cert_per_handshake",
        subject="nginx loading the certificate at every TLS handshake (ssl_certificate named"
                " by a variable, swarmfaas's config): new TLS connections per second, a full"
                f" handshake and one request each, {args.clients} openssl s_time clients",
        baseline="the same config and nginx with the certificate's literal path (loaded once)",
        metric="new connections/s, ratio of medians; keep-alive req/s ratio in the summary",
        ratio=hs_ratio,
        round_ratios=hs_rounds,
        summary=f"{hs['per_handshake']:,.0f} vs {hs['static']:,.0f} new connections/s;"
                f" keep-alive ({args.connections} connections) {ka['per_handshake']:,.0f} vs"
                f" {ka['static']:,.0f} req/s, ratio {ka_ratio:.2f}; handshakes failed in"
                f" {args.swaps} swaps: {swaps['new_key']['failed']} with a new key,"
                f" {swaps['same_key']['failed']} with the same key",
        figures={"rounds": args.rounds, "seconds": args.seconds, "clients": args.clients,
                 "connections": args.connections, "handshakes_per_s": handshakes,
                 "keepalive": keepalive, "median_handshakes_per_s": hs,
                 "median_keepalive_rps": ka, "keepalive_ratio": ka_ratio,
                 "keepalive_round_ratios": ka_rounds, "non_2xx": non_2xx, "swaps": swaps})
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
