"""The deployed stack, for end-to-end tests over HTTPS through nginx.

One session fixture builds the images (a no-op when they are current), deploys
a stack of its own (`faastest`, ports 18443/18080 by default, so a stack left
by `make up` is not disturbed) and removes it at the end (KEEP_STACK=1 keeps it).
With E2E_DEPLOYED=1 (`make reliability`) it uses the stack E2E_STACK that is
already deployed, as it is, and leaves it.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Platform:
    stack: str
    https_port: int
    http_port: int
    tag: str
    ca_file: str | None  # the development CA's PEM (made by make up / deploy)

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """Trust exactly the stack's development CA."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else False

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def functions_network(self) -> str:
        return f"{self.stack}_functions"

    def client(self, **kwargs: object) -> httpx.Client:
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.base_url, verify=self.verify, **kwargs)  # type: ignore[arg-type]


def _run(*args: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("Docker is not reachable: run `make engine` (make test does it).")
    stack = os.environ.get("E2E_STACK", "faastest")
    https_port = int(os.environ.get("E2E_HTTPS_PORT", "18443"))
    http_port = int(os.environ.get("E2E_HTTP_PORT", "18080"))
    env = {
        **os.environ,
        "STACK": stack,
        "HTTPS_PORT": str(https_port),
        "HTTP_PORT": str(http_port),
        "ALEXA_TEST": "1",  # trust a local CA in place of Amazon's (stack.alexa-test.yml)
    }
    ca = ROOT / ".state" / stack / "certs" / "ca.pem"
    if os.environ.get("E2E_DEPLOYED") == "1":
        # make reliability: the stack `make up` deployed, used as it is, never removed.
        _require_deployed(stack, https_port)
        tag = _deployed_tag(stack)
        yield Platform(stack, https_port, http_port, tag, str(ca) if ca.exists() else None)
        return
    _run("bash", "scripts/build.sh", env=env)
    _run("bash", "scripts/deploy.sh", env=env)
    tag = (ROOT / ".build" / "tag").read_text().strip()
    yield Platform(stack, https_port, http_port, tag, str(ca) if ca.exists() else None)
    if os.environ.get("KEEP_STACK") != "1":
        _run("bash", "scripts/down.sh", env=env)


def _require_deployed(stack: str, https_port: int) -> None:
    """Fail with what to do when the stack to test is not there."""
    names = subprocess.run(["docker", "stack", "ls", "--format", "{{.Name}}"],
                           capture_output=True, text=True).stdout.split()
    if stack not in names:
        pytest.fail(f"no stack named {stack!r} is deployed: run `make up` first "
                    f"(or set STACK to the stack to test).")
    try:
        socket.create_connection(("127.0.0.1", https_port), timeout=5).close()
    except OSError as exc:
        pytest.fail(f"the stack {stack!r} is deployed but nothing answers on "
                    f"https://127.0.0.1:{https_port} ({exc}): is HTTPS_PORT right?")


def _deployed_tag(stack: str) -> str:
    image = subprocess.run(
        ["docker", "service", "inspect", f"{stack}_nginx", "--format",
         "{{.Spec.TaskTemplate.ContainerSpec.Image}}"], capture_output=True, text=True,
    ).stdout.strip()
    return image.split("@", 1)[0].rpartition(":")[2] or "latest"


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll predicate until it returns a truthy value; return it, or fail."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s (last value: {last!r})")
