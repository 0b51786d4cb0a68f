"""The proposed stack.yml definitions of nginx and certbot, deployed for real
with `docker stack deploy` (a stand-in sidecar; host-mode ports in our range)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from ng_harness import REPO, tls_context, world_readable_dir
from test_image import TAG, build, docker
from test_swarm import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HTTPS, HTTP = 18585, 18586


def test_stack_definitions_deploy_and_serve(have_docker):
    if docker("info", "-f", "{{.Swarm.ControlAvailable}}").stdout.strip() != "true":
        pytest.skip("this Docker Engine is not a swarm manager (scripts/engine.sh makes it one)")
    build("nginx/Dockerfile", f"swarmfaas/nginx:{TAG}")
    build("certs/certbot/Dockerfile", f"swarmfaas/certbot:{TAG}")
    stack = f"ng-stk-{uuid.uuid4().hex[:6]}"
    state = world_readable_dir("ng-stack-state-")
    # What `make up` does: the development certificate and its content hash.
    make_cert = [sys.executable, str(REPO / "certs" / "dev_cert.py"), str(state / "tls")]
    subprocess.run(make_cert, check=True, capture_output=True)
    suffix = subprocess.run(
        [*make_cert, "--secret-suffix"], check=True, capture_output=True, text=True
    ).stdout.strip()
    env = {
        **os.environ,
        "TAG": TAG,
        "STACK": stack,
        "STATE_DIR": str(state),
        "TLS_HASH": suffix,
        "HTTPS_PORT": str(HTTPS),
        "HTTP_PORT": str(HTTP),
    }
    deploy = subprocess.run(
        ["docker", "stack", "deploy", "-c", str(Path(__file__).parent / "ng-stack.yml"), stack],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        assert deploy.returncode == 0, deploy.stderr
        client = httpx.Client(verify=tls_context(state / "tls" / "ca.pem"), timeout=5)

        def served():
            resp = client.get(f"https://localhost:{HTTPS}/function/echo")
            return resp.text.strip() if resp.status_code == 200 else None

        assert wait_for(served, 90, "the stand-in sidecar through the stack's nginx") == "stand-in"
        redirect = httpx.get(f"http://localhost:{HTTP}/function/echo")
        assert redirect.headers["location"] == f"https://localhost:{HTTPS}/function/echo"
        logs = lambda: docker("service", "logs", "--raw", f"{stack}_certbot").stdout  # noqa: E731
        assert wait_for(lambda: "DOMAIN is not set" in logs(), 30, "certbot idling")
        # Re-deploying with the same certificate is a no-op for the secrets.
        again = subprocess.run(
            ["docker", "stack", "deploy", "-c", str(Path(__file__).parent / "ng-stack.yml"), stack],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert again.returncode == 0, again.stderr
        client.close()
    finally:
        docker("stack", "rm", stack)
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and docker(
                "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={stack}"
            ).stdout.strip()
        ):
            time.sleep(0.5)
        for volume in ("acme-webroot", "letsencrypt"):
            docker("volume", "rm", f"{stack}_{volume}")
        for _ in range(20):  # the network goes a moment after the last task
            if not docker("network", "ls", "-q", "--filter", f"name={stack}_").stdout.strip():
                break
            time.sleep(0.5)
        shutil.rmtree(state, ignore_errors=True)
