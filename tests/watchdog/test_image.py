"""The swarmfaas/watchdog image builds, answers, is healthy, and stops cleanly as PID 1."""

from __future__ import annotations

import subprocess
import time
import urllib.request

import pytest
from wdkit import ROOT, wait_for

IMAGE = "swarmfaas/watchdog:wd-test"
NAME = "wd-test-image"
PORT = 18190

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=300)


@pytest.fixture
def image():
    docker("build", "-q", "-f", "watchdog/Dockerfile", "-t", IMAGE, str(ROOT))
    yield IMAGE
    docker("rm", "-f", NAME, check=False)
    docker("rmi", IMAGE, check=False)


def test_image_builds_and_answers(image):
    docker("rm", "-f", NAME, check=False)
    docker("run", "-d", "--name", NAME, "-p", f"127.0.0.1:{PORT}:8080",
           "-e", "fprocess=sh -c 'cat; echo; echo $Http_Method'", image)

    def post() -> bytes | None:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{PORT}/", data=b"ping", method="PUT")
            with urllib.request.urlopen(req, timeout=2) as resp:
                return resp.read()
        except OSError:
            return None

    assert wait_for(lambda: post() is not None, 20)
    assert post() == b"ping\nPUT\n"
    assert wait_for(lambda: docker("inspect", "-f", "{{.State.Health.Status}}", NAME)
                    .stdout.strip() == "healthy", 30)
    started = time.monotonic()
    docker("stop", "-t", "10", NAME)
    assert time.monotonic() - started < 8  # PID 1 handled SIGTERM itself
    assert docker("inspect", "-f", "{{.State.ExitCode}}", NAME).stdout.strip() == "0"


def test_exit_status_reaches_docker(image):
    """The zipapp's exit status is the watchdog's: the health check fails while
    there is no lock file, and a configuration error stops the container with 2."""
    check = docker("run", "--rm", "--entrypoint", "fwatchdog", image, "--healthcheck",
                   check=False)
    assert check.returncode == 1
    bad = docker("run", "--rm", "-e", "port=not-a-port", image, check=False)
    assert bad.returncode == 2 and "configuration error" in bad.stderr


def test_zipapp_copies_into_another_python_image(image, tmp_path):
    tag = "swarmfaas/wd-copy-test:dev"
    (tmp_path / "Dockerfile").write_text(
        f"FROM debian:bookworm-slim\nCOPY --from={image} /usr/local/bin/fwatchdog "
        "/usr/local/bin/fwatchdog\nENV fprocess=cat\nENTRYPOINT [\"fwatchdog\"]\n")
    docker("build", "-q", "-t", tag, str(tmp_path))
    try:
        out = docker("run", "--rm", "--entrypoint", "fwatchdog", tag, "--version").stdout
        assert out.startswith("fwatchdog ")
    finally:
        docker("rmi", tag, check=False)
