"""Check every service's settings before `docker stack deploy` (scripts/deploy.sh).

A bad setting must never take the platform down: Docker would stop the old
task (nginx updates stop-first) and start one that exits at start-up. So each
service's environment, as the stack would give it, goes through the loader the
component itself runs at start-up, and any problem stops the deploy with the
setting's name:

    python scripts/validate_stack.py -c stack.yml [-c more.yml ...]

The stack is rendered by `docker stack config` (the same merge and variable
interpolation `docker stack deploy` does, client-side only); the environment
of each container is its image's (`docker image inspect`, when the image is
there) with the service's on top. Files the container reads from its secrets
and configs are read from the files they are made of on this machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "nginx"), str(REPO / "certs" / "certbot")]

Env = dict[str, str]
Loader = Callable[[Mapping[str, str]], object]


# -- the loaders: exactly what each component runs at start-up ------------------
def _nginx(env: Mapping[str, str]) -> object:
    from swarmfaas_nginx.settings import load_settings

    return load_settings(env)


def _certbot(env: Mapping[str, str]) -> object:
    from swarmfaas_certbot import load_settings

    return load_settings(env)


def _sidecar(env: Mapping[str, str]) -> object:
    from faas_sidecar.__main__ import load_app_config  # sidecar, system API, Alexa

    return load_app_config(env)


def _gate(env: Mapping[str, str]) -> object:
    from faas_sidecar.gate.config import GateConfig

    return GateConfig.from_env(env)


def _queue_worker(env: Mapping[str, str]) -> object:
    from faas_sidecar.queue.config import WorkerConfig

    return WorkerConfig.from_env(env)


def _watchdog(env: Mapping[str, str]) -> object:
    from fwatchdog.config import Config

    return Config.from_env(env)


def image_name(image: str) -> str:
    """The last part of an image's repository: `nginx` of `swarmfaas/nginx:t`, and of
    `10.77.0.11:5000/swarmfaas/nginx@sha256:...` (a registry with a port, a digest)."""
    return image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]


def loader_for(service: Mapping[str, Any]) -> tuple[str, Loader] | None:
    """Which component a service runs, by its image (and command); None: not ours."""
    labels = (service.get("deploy") or {}).get("labels") or {}
    if str(labels.get("swarmfaas.function", "")).lower() == "true":
        return "watchdog", _watchdog
    repo = image_name(str(service.get("image", "")))
    command = " ".join(service.get("command") or [])
    if repo == "nginx":
        return "nginx", _nginx
    if repo == "certbot":
        return "certbot", _certbot
    if repo == "sidecar":
        if "faas-queue-worker" in command:
            return "queue worker", _queue_worker
        return ("engine gate", _gate) if "faas-engine-gate" in command else ("sidecar", _sidecar)
    return None


# -- the container's environment, as this machine can see it --------------------
def _service_env(service: Mapping[str, Any]) -> Env:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE items
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _mounted_files(service: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, str]:
    """Container path -> the file on this machine, for the service's secrets and configs."""
    files: dict[str, str] = {}
    for kind, default_dir in (("secrets", "/run/secrets/"), ("configs", "/")):
        top = config.get(kind) or {}
        for ref in service.get(kind) or []:
            ref = {"source": ref} if isinstance(ref, str) else ref
            source = ref.get("source", "")
            target = ref.get("target") or source
            path = target if target.startswith("/") else default_dir + target
            host_file = (top.get(source) or {}).get("file")
            if host_file:
                files[path] = host_file
    return files


def container_env(
    service: Mapping[str, Any], config: Mapping[str, Any], image_env: Env | None
) -> Env:
    env = {**(image_env or {}), **_service_env(service)}
    files = _mounted_files(service, config)
    return {k: files.get(v, v) for k, v in env.items()}


def inspect_image_env(image: str) -> Env | None:
    """The image's ENV, or None when Docker or the image is not there."""
    try:
        out = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .Config.Env}}", image],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    items = json.loads(out.stdout) or []
    return dict(item.split("=", 1) for item in items if "=" in item)


# -- the check -----------------------------------------------------------------
def problems(
    config: Mapping[str, Any], image_env: Callable[[str], Env | None] = inspect_image_env
) -> list[str]:
    """Every setting problem of every service, each naming the service and setting."""
    found = []
    for name, service in sorted((config.get("services") or {}).items()):
        picked = loader_for(service)
        if picked is None:
            continue
        component, load = picked
        base = image_env(str(service.get("image", "")))
        if base is None and component == "watchdog":
            continue  # a function's settings are mostly its image's: unknown without it
        env = container_env(service, config, base)
        try:
            load(env)
        except ValueError as exc:  # every loader's error is a ValueError naming the setting
            found.append(f"service {name} ({component}): {exc}")
    return found


def render(files: list[str], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The stack as `docker stack deploy` would see it (merged, interpolated)."""
    import yaml

    args = ["docker", "stack", "config"]
    for f in files:
        args += ["-c", f]
    out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    if out.returncode != 0:
        raise ValueError(out.stderr.strip() or "docker stack config failed")
    return yaml.safe_load(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--compose-file", action="append", required=True)
    args = parser.parse_args(argv)
    try:
        found = problems(render(args.compose_file))
    except ValueError as exc:
        found = [f"the stack file: {exc}"]
    for line in found:
        print(f"invalid setting: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
