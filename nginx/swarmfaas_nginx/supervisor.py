"""Run nginx in the foreground and keep what it serves current, with no reload.

The supervisor is the container's main process. It renders the configuration,
checks it with `nginx -t`, starts nginx, then every NGINX_WATCH_INTERVAL
seconds looks at two things:
- the certificate: the ACME one appears or is renewed (certbot's volume). It is
  checked and installed with one rename; nginx is NOT reloaded: its workers
  load the certificate at every handshake (render.py names it by a variable).
  A reload would close busy HTTP/1.1 keep-alive connections, and a request
  sent on one at that instant is lost.
- the sidecar's addresses (Docker's DNS): the sidecar started, moved or
  scaled. They are written to one file (one rename); nginx is NOT reloaded
  either: its workers read the file again within SIDECARS_READ_EVERY and
  balance over the new list (render.py, sidecars.lua).
SIGTERM/SIGINT stop nginx gracefully (SIGQUIT); nginx's exit ends the process.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import signal
import socket
import subprocess
import threading

from . import tls, upstream
from .render import render_config, sidecars_file
from .settings import Settings

log = logging.getLogger("swarmfaas.nginx")


def probe_ipv6() -> bool:
    """True when this kernel/container can listen on IPv6."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


class Supervisor:
    def __init__(self, settings: Settings, nginx: str = "nginx"):
        self.s = settings
        self.nginx = nginx
        self.ipv6 = settings.ipv6 if settings.ipv6 is not None else probe_ipv6()
        self.pair: tls.CertPair | None = None
        self.addresses: tuple[str, ...] = ()
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.sidecar_changes = 0
        self.renewals = 0

    # -- one step each -------------------------------------------------------
    def prepare_dirs(self) -> None:
        os.makedirs(self.s.state_dir, mode=0o755, exist_ok=True)
        os.makedirs(f"{self.s.state_dir}/tmp", mode=0o755, exist_ok=True)
        os.makedirs(self.s.tls_dir, mode=0o700, exist_ok=True)
        gid = self.worker_gid()
        if gid is not None:  # the workers reach served.pem, and list nothing
            os.chown(self.s.tls_dir, -1, gid)
            os.chmod(self.s.tls_dir, 0o710)
        # A read-only webroot volume is fine: certbot makes the directory.
        with contextlib.suppress(OSError):
            challenge = f"{self.s.acme_webroot}/.well-known/acme-challenge"
            os.makedirs(challenge, mode=0o755, exist_ok=True)

    def worker_gid(self) -> int | None:
        """The group nginx's workers run as, when it differs from ours.

        nginx's `user NAME;` without a group uses the group named NAME, and it
        only switches user when the master runs as root."""
        if not self.s.worker_user or os.geteuid() != 0:
            return None
        try:
            return grp.getgrnam(self.s.worker_user).gr_gid
        except KeyError:  # nginx would refuse to start too, less clearly
            raise RuntimeError(
                f"NGINX_USER: no group named {self.s.worker_user!r} here (nginx runs its"
                " workers as that user and the group of the same name)"
            ) from None

    def install_cert(self, pair: tls.CertPair) -> None:
        tls.install(pair, self.s.served_pair_path, self.worker_gid())
        self.pair = pair

    def look_for_cert(self) -> tls.CertPair | None:
        """The pair to serve now when it differs from the served one, else None."""
        sources = tls.cert_sources(self.s)
        pair = tls.read_best(sources)
        if pair is None:
            fallback = sources[-1]
            log.warning("no certificate yet: making a self-signed one until one is provided")
            tls.make_self_signed(fallback, list(self.s.domains) or ["localhost"])
            pair = tls.read_best([fallback])
        if pair is None or (self.pair and pair.fingerprint == self.pair.fingerprint):
            return None
        if not tls.is_valid_pair(pair, self.s.tls_dir):
            return None
        return pair

    def look_for_addresses(self) -> tuple[str, ...] | None:
        """The sidecar's addresses when they changed, else None.

        A name that stops resolving keeps the last addresses: a sidecar between
        two tasks is better retried than forgotten."""
        found = upstream.resolve(self.s.sidecar_host, self.s.sidecar_port)
        if not found or found == self.addresses:
            return None
        return found

    def write_config(self) -> None:
        _write(self.s.conf_path, render_config(self.s, self.ipv6))

    def write_sidecars(self, addresses: tuple[str, ...]) -> None:
        """The list nginx's workers balance over, in one rename: a worker
        reads the old file or the new one, never half of one. Kept as the
        addresses served only once written: a failed write is tried again."""
        _write(self.s.sidecars_path, sidecars_file(addresses))
        self.addresses = addresses

    def test_config(self) -> tuple[bool, str]:
        done = subprocess.run(
            [self.nginx, "-t", "-q", "-p", self.s.state_dir, "-c", self.s.conf_path],
            capture_output=True,
            text=True,
        )
        return done.returncode == 0, (done.stdout + done.stderr).strip()

    # -- life cycle ----------------------------------------------------------
    def start(self) -> None:
        self.prepare_dirs()
        pair = self.look_for_cert()
        if pair is None:  # the best source is broken: start on any that works
            for source in tls.cert_sources(self.s)[1:]:
                candidate = tls.read_best([source])
                if candidate and tls.is_valid_pair(candidate, self.s.tls_dir):
                    pair = candidate
                    break
        if pair is None:
            raise RuntimeError("no usable certificate (see the warnings above)")
        self.install_cert(pair)
        self.write_sidecars(self.look_for_addresses() or ())
        if not self.addresses:
            log.warning("%s does not resolve yet: answering 502 until it does", self.s.sidecar_host)
        self.write_config()
        ok, output = self.test_config()
        if not ok:
            raise RuntimeError(f"nginx -t rejected the rendered configuration: {output}")
        log.info(
            "serving the %s certificate; sidecar at %s", pair.source.name, self.addresses or "-"
        )
        self.process = subprocess.Popen(
            [self.nginx, "-p", self.s.state_dir, "-c", self.s.conf_path]
        )

    def check_once(self) -> bool:
        """Install a renewed certificate and apply a changed sidecar address
        set, neither with a reload; True if the sidecars changed."""
        pair = self.look_for_cert()
        if pair is not None:
            # Checked by look_for_cert: a pair that does not load is never installed.
            self.install_cert(pair)
            self.renewals += 1
            log.info("now serving the %s certificate (installed, no reload)", pair.source.name)
        addresses = self.look_for_addresses()
        if addresses is None:
            return False
        self.write_sidecars(addresses)
        self.sidecar_changes += 1
        log.info("sidecar at %s (no reload)", ", ".join(addresses))
        return True

    def stop(self, *_: object) -> None:
        self.stopping.set()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)

    def run(self) -> int:
        # Handlers first: a stop asked for while nginx starts must reach it
        # too, not end this process and leave nginx running without a parent.
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.start()
        assert self.process is not None
        if self.stopping.is_set():
            self.stop()
        while self.process.poll() is None:
            if self.stopping.wait(self.s.watch_interval):
                break
            try:
                self.check_once()
            except Exception:  # a bad tick must not take the front door down
                log.exception("watching for changes failed; trying again")
        return self.process.wait()


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # the workers (NGINX_USER) read it
    os.replace(tmp, path)
