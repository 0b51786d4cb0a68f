"""The built images: swarmfaas/nginx starts with no sidecar in sight and serves
HTTPS with the development certificate; swarmfaas/certbot has certbot and idles
without DOMAIN."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import httpx
import pytest
from ng_harness import REPO, tls_context, world_readable_dir

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TAG = "ng-test"
HTTPS, HTTP = 18561, 18562


def docker(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def build(dockerfile: str, image: str) -> None:
    done = docker("build", "-q", "-f", dockerfile, "-t", image, str(REPO))
    assert done.returncode == 0, done.stderr


def test_nginx_image_starts_without_the_sidecar_and_serves_https(have_docker, dev_ca):
    image = f"swarmfaas/nginx:{TAG}"
    build("nginx/Dockerfile", image)
    name = f"ng-image-{uuid.uuid4().hex[:8]}"
    webroot = world_readable_dir("ng-image-www-")
    challenge = webroot / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True)
    for d in (webroot / ".well-known", challenge):
        d.chmod(0o755)
    (challenge / "tok").write_text("tok.thumb")
    (challenge / "tok").chmod(0o644)
    run = docker(
        "run",
        "-d",
        "--name",
        name,
        "-p",
        f"127.0.0.1:{HTTPS}:443",
        "-p",
        f"127.0.0.1:{HTTP}:80",
        "-v",
        f"{dev_ca / 'cert.pem'}:/run/secrets/tls_cert:ro",
        "-v",
        f"{dev_ca / 'key.pem'}:/run/secrets/tls_key:ro",
        "-v",  # read-only, as in the stack: certbot writes, nginx reads
        f"{webroot}:/var/www/acme:ro",
        "-e",
        "HTTPS_PORT=18561",
        "--health-interval",
        "1s",
        image,
    )
    assert run.returncode == 0, run.stderr
    try:
        deadline = time.monotonic() + 30
        while (
            status := docker("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()
        ) != "healthy":
            assert status in ("starting", ""), docker("logs", name).stderr
            assert time.monotonic() < deadline, docker("logs", name).stderr
            time.sleep(0.5)
        with httpx.Client(verify=tls_context(dev_ca / "ca.pem")) as c:
            # `sidecar` does not resolve outside a swarm: a JSON 502, not a dead nginx.
            resp = c.get(f"https://localhost:{HTTPS}/function/echo")
            assert resp.status_code == 502 and resp.headers["x-swarmfaas-internal"] == "nginx"
            assert resp.json()["error"] == "sidecar_unreachable"
            assert resp.http_version == "HTTP/1.1"
            assert c.get(f"https://localhost:{HTTPS}/metrics").status_code == 404
        token = httpx.get(f"http://localhost:{HTTP}/.well-known/acme-challenge/tok")
        assert token.status_code == 200 and token.text == "tok.thumb"  # read by www-data
        redirect = httpx.get(f"http://localhost:{HTTP}/x")
        assert redirect.status_code == 308
        assert redirect.headers["location"] == f"https://localhost:{HTTPS}/x"
        # The JSON access log goes to stdout; Docker's log copy may lag a little.
        deadline = time.monotonic() + 10
        while '"status":"502"' not in (logs := docker("logs", name)).stdout:
            assert time.monotonic() < deadline, f"no 502 access log line: {logs.stdout!r}"
            time.sleep(0.2)
        assert "serving the default certificate" in logs.stderr
        # docker stop: SIGTERM -> graceful nginx stop -> exit 0.
        assert docker("stop", "-t", "10", name).returncode == 0
        assert docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        docker("rm", "-f", name)
        shutil.rmtree(webroot, ignore_errors=True)


def test_certbot_image_has_certbot_and_idles_without_domain(have_docker):
    image = f"swarmfaas/certbot:{TAG}"
    build("certs/certbot/Dockerfile", image)
    version = docker("run", "--rm", "--entrypoint", "certbot", image, "--version")
    assert version.returncode == 0 and version.stdout.startswith("certbot ")
    once = docker("run", "--rm", image, "--once")
    assert once.returncode == 0 and "DOMAIN is not set" in once.stdout
    bad = docker("run", "--rm", "-e", "DOMAIN=api.example.com", image, "--once")
    assert bad.returncode == 2 and "EMAIL" in bad.stderr
