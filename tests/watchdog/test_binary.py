"""The self-contained watchdog binary (/fwatchdog) in images that have no Python.

Each image is built once per content (a tag from the hash of its inputs, as
scripts/build.sh tags images) and kept, so a second run builds nothing. The
containers run as functions do (stack.yml): user 10001, a read-only root, a
tmpfs /tmp (which Docker mounts noexec), no capabilities.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from wdkit import ROOT, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]

IMAGES = Path(__file__).resolve().parent / "images"
PREFIX = "wdbin-test"  # containers of this module
# As stack.yml's x-function: the mount API's tmpfs, which Docker mounts noexec.
FUNCTION_DEFAULTS = ["--read-only", "--mount", "type=tmpfs,destination=/tmp,tmpfs-size=67108864",
                     "--cap-drop", "ALL"]


def docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout)


def content_tag(*paths: Path) -> str:
    """A hash of every file under paths (names and bytes), like scripts/build.sh's tag."""
    digest = hashlib.sha256()
    for root in paths:
        for file in sorted(p for p in root.rglob("*") if p.is_file()
                           and "__pycache__" not in p.parts):
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:12]


def build(name: str, dockerfile: Path, context: Path, tag: str, **build_args: str) -> str:
    image = f"{name}:{tag}"
    if docker("image", "inspect", image, check=False).returncode != 0:
        args = [arg for k, v in build_args.items() for arg in ("--build-arg", f"{k}={v}")]
        result = docker("build", "-q", "-f", str(dockerfile), *args, "-t", image, str(context),
                        check=False)
        assert result.returncode == 0, result.stderr[-3000:]
    return image


@pytest.fixture(scope="module")
def watchdog_image() -> str:
    tag = content_tag(ROOT / "watchdog")
    return build("swarmfaas/watchdog", ROOT / "watchdog" / "Dockerfile", ROOT, tag)


def function_image(watchdog_image: str, variant: str) -> str:
    folder = IMAGES / variant
    tag = content_tag(ROOT / "watchdog", folder)
    return build(f"swarmfaas/wd-{variant}", folder / "Dockerfile", folder, tag,
                 WATCHDOG=watchdog_image)


@pytest.fixture(scope="module")
def nopython_image(watchdog_image) -> str:
    return function_image(watchdog_image, "nopython")


@pytest.fixture(scope="module")
def busybox_image(watchdog_image) -> str:
    return function_image(watchdog_image, "busybox")


@pytest.fixture(scope="module")
def godemo_image(watchdog_image) -> str:
    return function_image(watchdog_image, "godemo")


class Container:
    def __init__(self, image: str, name: str, *run_args: str, env: dict[str, str]) -> None:
        self.name = f"{PREFIX}-{name}"
        docker("rm", "-f", self.name, check=False)
        env_args = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        docker("run", "-d", "--name", self.name, "-p", "127.0.0.1::8080", *run_args,
               *env_args, image)
        port = docker("port", self.name, "8080/tcp").stdout.split()[0].rsplit(":", 1)[1]
        self.url = f"http://127.0.0.1:{port}"

    def post(self, body: bytes, path: str = "/") -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()

    def get(self, path: str) -> tuple[int, bytes]:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return resp.status, resp.read()

    def answers(self) -> bool:
        try:
            return self.get("/_/health")[0] == 200
        except OSError:
            return False

    def health(self) -> str:
        state = json.loads(docker("inspect", "-f", "{{json .State}}", self.name).stdout)
        return (state.get("Health") or {}).get("Status", "")

    def logs(self) -> str:
        out = docker("logs", self.name, check=False)
        return out.stdout + out.stderr

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)


@pytest.fixture
def containers():
    started: list[Container] = []

    def start(image: str, name: str, *run_args: str, **env: str) -> Container:
        box = Container(image, name, *run_args, env=env)
        started.append(box)
        assert wait_for(box.answers, 20), box.logs()
        return box

    yield start
    for box in started:
        box.remove()


def shell(image: str, script: str) -> subprocess.CompletedProcess:
    return docker("run", "--rm", "--entrypoint", "/bin/sh", image, "-c", script, check=False)


def test_the_debian_image_has_no_python(nopython_image):
    assert shell(nopython_image, "command -v python3").returncode != 0
    assert shell(nopython_image, "ls -d /usr/lib/python3*").returncode != 0


def test_the_busybox_image_has_no_libc_and_no_python(busybox_image):
    probe = shell(busybox_image, "for d in /lib /lib64 /usr/lib /usr/local; do "
                                 "[ -e $d ] && echo $d; done; command -v python3; true")
    assert probe.returncode == 0 and probe.stdout == "", probe.stdout
    assert shell(busybox_image, "readlink /bin/cat").stdout.strip() == "busybox"


@pytest.mark.parametrize("variant", ["nopython", "busybox"])
@pytest.mark.parametrize("mode", ["fork", "stream"])
def test_cat_answers_with_the_body(request, containers, variant, mode):
    image = request.getfixturevalue(f"{variant}_image")
    box = containers(image, f"{variant}-{mode}", *FUNCTION_DEFAULTS, mode=mode)
    mounts = docker("exec", box.name, "cat", "/proc/mounts").stdout
    assert any(line.split()[1] == "/tmp" and "noexec" in line.split()[3]
               for line in mounts.splitlines()), mounts
    body = bytes(range(256)) * 64  # binary and 16 KiB: every byte value, more than one read
    assert box.post(body) == (200, body)
    assert box.post(b"") == (200, b"")
    assert wait_for(lambda: box.health() == "healthy", 20), box.logs()
    assert "Traceback" not in box.logs()


def test_a_failing_process_gives_the_watchdog_error(busybox_image, containers):
    box = containers(busybox_image, "fails", *FUNCTION_DEFAULTS, fprocess="false")
    req = urllib.request.Request(box.url + "/", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 500
    assert json.loads(err.value.read())["error"] == "function_failed"


def test_http_mode_relays_to_a_warm_busybox_httpd(busybox_image, containers):
    """mode=http in front of busybox's own web server, started once and kept warm."""
    box = containers(
        busybox_image, "http", *FUNCTION_DEFAULTS, mode="http",
        fprocess="sh -c 'mkdir -p /tmp/www && echo warm > /tmp/www/index.html "
                 "&& exec httpd -f -p 127.0.0.1:8081 -h /tmp/www'",
        upstream_url="http://127.0.0.1:8081")
    assert box.get("/index.html") == (200, b"warm\n")
    assert box.get("/index.html") == (200, b"warm\n")  # the same process, kept warm


def test_the_go_demo_stashes_each_request(godemo_image, containers):
    box = containers(godemo_image, "godemo")
    status, out = box.post(b"stash me, please")
    assert status == 200
    name = out.decode().split()[-1]
    assert out.decode() == f"Stashed 16 bytes in {name}\n" and name.endswith(".txt")
    assert time.time_ns() - int(name.removesuffix(".txt")) < 60e9
    copy = subprocess.run(["docker", "cp", f"{box.name}:/stash/{name}", "-"],
                          capture_output=True, check=True)
    assert b"stash me, please" in copy.stdout  # a tar stream of the one file


def test_the_cli_go_template_builds_a_scratch_image_that_answers(watchdog_image, containers,
                                                                   tmp_path):
    """`faas new --lang go` then `faas build`: the template's own test runs in the
    build; the image is scratch (the static handler, /fwatchdog, /tmp) and
    answers with the body, running as a function does."""
    env = {**os.environ, "SWARMFAAS_CONFIG": str(tmp_path / "config.json"),
           "SWARMFAAS_WATCHDOG_TAG": watchdog_image.rsplit(":", 1)[1]}
    faas = [sys.executable, "-m", "faas_cli"]
    for args in (["new", "wdbin-go", "--lang", "go"], ["build", "wdbin-go"]):
        done = subprocess.run([*faas, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
    image = "swarmfaas/fn-wdbin-go:latest"
    inspected = json.loads(docker("image", "inspect", image).stdout)[0]
    assert inspected["Config"]["Entrypoint"] == ["/usr/bin/fwatchdog"]
    assert inspected["Size"] < 40 << 20, inspected["Size"]
    assert shell(image, "true").returncode != 0  # no shell: scratch
    box = containers(image, "gotemplate", *FUNCTION_DEFAULTS)
    body = bytes(range(256)) * 64
    assert box.post(body) == (200, body)
    assert wait_for(lambda: box.health() == "healthy", 30), box.logs()
    tags = docker("images", "--format", "{{.Repository}}:{{.Tag}}", "swarmfaas/fn-wdbin-go")
    docker("image", "rm", "-f", *tags.stdout.split(), check=False)  # :latest and its pin


def test_the_cpu_count_is_the_containers_own(busybox_image, containers):
    """X-Swarmfaas-Cpu in a container: its own cgroup's count (v2 cpu.stat or
    v1 cpuacct.usage, whichever the node has), between two reads of that file."""
    box = containers(busybox_image, "cpu", *FUNCTION_DEFAULTS)
    read = ("cat /sys/fs/cgroup/cpu.stat 2>/dev/null | sed -n 's/^usage_usec //p'; "
            "[ -e /sys/fs/cgroup/cpu.stat ] || "
            "expr $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage) / 1000")

    def usage() -> int:
        return int(docker("exec", box.name, "sh", "-c", read).stdout.split()[0])

    time.sleep(0.1)  # past the watchdog's read interval
    before = usage()
    with urllib.request.urlopen(urllib.request.Request(box.url + "/", data=b"x"),
                                timeout=10) as resp:
        reported = int(resp.headers["X-Swarmfaas-Cpu"].split()[0])
    after = usage()
    assert before <= reported <= after
