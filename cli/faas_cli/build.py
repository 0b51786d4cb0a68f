"""Building a function's image: the build context, its dependencies, `docker build`.

The context for a template is build/<fn>/ = the template's files + the handler
as function/ (+ wheels/ for Python), as faas-cli lays it out; for the
dockerfile template it is the handler folder itself. Dependencies are fetched
on the host, so `docker build` needs no package registry (pip cannot reach
PyPI from inside a build here, and offline builds are a feature).
Pure parts: `pinned`, `docker_build_args`, `has_requirements`, and for the
push: `registry_of`, `in_registry`, `repo_digest`, `push_plan`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import CliError, Exit
from .stack import Function
from .templates import Template

BUILD_DIR = "build"


@dataclass(frozen=True)
class Built:
    image: str  # as in the stack file
    pinned: str  # the same image under a tag naming its content, what deploy sends
    # After `faas push`: registry/repository@sha256:..., what every node can
    # pull; deploy sends it instead of ``pinned`` (docs/multi-node.md).
    pushed: str | None = None


def pinned(image: str, image_id: str) -> str:
    """`repo:tag` -> `repo:tag-<12 hex of the image id>`: a new build, a new reference.

    Swarm rolls a service only when its spec changes; the same `:latest` twice
    would leave the old code running.
    """
    digest = image_id.split(":")[-1][:12]
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:  # no tag (a ':' may belong to a registry port)
        name, tag = image, "latest"
    return f"{name}:{tag}-{digest}"


def has_requirements(text: str) -> bool:
    return any(line.split("#", 1)[0].strip() for line in text.splitlines())


def docker_build_args(
    *, context: Path, image: str, watchdog_tag: str, build_args: Mapping[str, str],
    iidfile: Path, no_cache: bool = False,
) -> list[str]:
    # --force-rm: a failed step leaves no stopped container behind (the legacy builder would).
    cmd = ["docker", "build", "--force-rm", "--iidfile", str(iidfile), "-t", image,
           "--build-arg", f"TAG={watchdog_tag}"]
    for k, v in build_args.items():
        cmd += ["--build-arg", f"{k}={v}"]
    if no_cache:
        cmd.append("--no-cache")
    return [*cmd, str(context)]


def build_record_path(project: Path, name: str) -> Path:
    return project / BUILD_DIR / f"{name}.image.json"


def last_build(project: Path, fn: Function) -> Built | None:
    """The pinned image of the last `faas build` of fn, if it built fn's current image."""
    try:
        doc = json.loads(build_record_path(project, fn.name).read_text())
    except (OSError, ValueError):
        return None
    if doc.get("image") != fn.image:
        return None
    return Built(doc["image"], doc["pinned"], doc.get("pushed"))


def record_build(project: Path, name: str, built: Built) -> None:
    """Keep what `faas build` (and `faas push`) made of function ``name``."""
    doc = {"image": built.image, "pinned": built.pinned}
    if built.pushed:
        doc["pushed"] = built.pushed
    build_record_path(project, name).write_text(json.dumps(doc) + "\n")


def pushed_digest(image: str, log: Path) -> str | None:
    """After `docker push image`: its registry/repository@sha256:... """
    out = subprocess.run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}",
                          image], capture_output=True, text=True)
    with log.open("a") as f:
        f.write(f"$ docker image inspect {image}: {out.stdout.strip()}{out.stderr.strip()}\n")
    if out.returncode != 0:
        return None
    return repo_digest(json.loads(out.stdout or "[]") or [], image)


# --- the push: pure ------------------------------------------------------------------
def registry_of(image: str) -> str | None:
    """The registry an image name names (`host:port/...`, `host.name/...`,
    `localhost/...`), or None for a name Docker would look up on Docker Hub."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def in_registry(image: str, registry: str) -> str:
    """``image`` named in ``registry`` instead of the registry it names, if any."""
    own = registry_of(image)
    rest = image[len(own) + 1:] if own else image
    return f"{registry}/{rest}"


def push_plan(pinned: str, registry: str | None, via: str | None) -> tuple[str, str] | None:
    """Where `faas push` sends a build: (the reference to push, the registry
    the nodes pull it from), or None when the image names no registry and none
    is given. ``via`` is another address of the same registry (a relay such as
    127.0.0.1:PORT that this Engine may use over plain HTTP): the push goes
    there, but the deployed name keeps the registry's own address, since the
    nodes cannot pull from an address only this host has."""
    target = registry_of(pinned) or registry
    if target is None:
        return None
    return in_registry(pinned, via or target), target


def repository(image: str) -> str:
    """The name without its tag or digest (a ':' in the registry's host stays)."""
    name = image.split("@", 1)[0]
    head, sep, tail = name.rpartition(":")
    return head if sep and "/" not in tail else name


def repo_digest(repo_digests: list[str], image: str) -> str | None:
    """Of `docker image inspect`'s RepoDigests, the one in ``image``'s repository
    (`registry/repo@sha256:...`): the bytes the push stored there."""
    want = repository(image)
    return next((d for d in repo_digests if d.split("@", 1)[0] == want), None)


# --- adapters ----------------------------------------------------------------------
def prepare_context(project: Path, fn: Function, tpl: Template) -> Path:
    handler = (project / fn.handler).resolve()
    if not handler.is_dir():
        raise CliError(f"handler folder {fn.handler} of {fn.name} does not exist", Exit.USAGE,
                       f"create it with `faas new {fn.name} --lang {fn.lang or 'python'}`")
    if tpl.context == "handler":
        if not (handler / "Dockerfile").is_file():
            raise CliError(f"{fn.handler} has no Dockerfile (lang {fn.lang})", Exit.USAGE)
        return handler
    ctx = project / BUILD_DIR / fn.name
    shutil.rmtree(ctx, ignore_errors=True)
    shutil.copytree(tpl.path, ctx, ignore=shutil.ignore_patterns("function", "template.yml"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", BUILD_DIR)
    shutil.copytree(handler, ctx / "function", ignore=ignore)
    return ctx


def fetch_deps(ctx: Path, deps: str, log: Path) -> None:
    fn_dir = ctx / "function"
    if deps == "pip":
        wheels = ctx / "wheels"
        wheels.mkdir(exist_ok=True)
        req = fn_dir / "requirements.txt"
        if req.is_file() and has_requirements(req.read_text()):
            _run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheels), "-r", str(req)],
                 log, "pip wheel -r requirements.txt",
                 "check the package names and the access to PyPI")
    elif deps == "npm":
        pkg = fn_dir / "package.json"
        if pkg.is_file() and not (fn_dir / "node_modules").exists():
            doc = json.loads(pkg.read_text() or "{}")
            if doc.get("dependencies"):
                _need("npm", "install npm (apt-get install npm) or vendor node_modules/")
                _run(["npm", "install", "--omit=dev", "--no-audit", "--no-fund"], log,
                     "npm install", "check package.json and the access to the npm registry",
                     cwd=fn_dir)
    elif deps == "go":
        mod = fn_dir / "go.mod"
        if mod.is_file() and "require" in mod.read_text() and not (fn_dir / "vendor").is_dir():
            _need("go", "install Go on this host, or run `go mod vendor` in the handler folder")
            _run(["go", "mod", "vendor"], log, "go mod vendor", "check go.mod", cwd=fn_dir)


def docker_build(cmd: list[str], log: Path) -> str:
    """Run `docker build`, its output in `log`; the image id."""
    _need("docker", "install Docker (`make engine`), the CLI builds with the local engine")
    _run(cmd, log, "docker build", "fix the Dockerfile or the handler (the build runs its test)",
         unreachable_words=("Cannot connect to the Docker daemon", "docker daemon running"))
    iid = Path(cmd[cmd.index("--iidfile") + 1]).read_text().strip()
    return iid


def tag(image: str, target: str, log: Path) -> None:
    _run(["docker", "tag", image, target], log, "docker tag", "")


def _need(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        code = Exit.UNREACHABLE if tool == "docker" else Exit.FAILED
        raise CliError(f"`{tool}` is not installed", code, hint)


def _run(cmd: list[str], log: Path, what: str, hint: str, cwd: Path | None = None,
         unreachable_words: tuple[str, ...] = ()) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd).returncode
    if rc != 0:
        text = _ANSI_RE.sub("", log.read_text(errors="replace"))
        tail = "\n".join(text.splitlines()[-25:])
        code = Exit.FAILED
        if any(w in tail for w in unreachable_words):
            code, hint = Exit.UNREACHABLE, "start Docker (`make engine`)"
        raise CliError(f"{what} failed (exit {rc}); the end of {log}:\n{tail}\n", code, hint)


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$")


def check_image_name(image: str) -> None:
    if not _IMAGE_RE.fullmatch(image):
        raise CliError(f"image name {image!r} is not valid", Exit.USAGE,
                       "use lowercase, e.g. swarmfaas/fn-hello:latest")
