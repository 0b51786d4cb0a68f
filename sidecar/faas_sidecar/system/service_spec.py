"""Deployments <-> Swarm services, both ways (pure, no IO).

``service_kwargs`` turns a validated Deployment into the keyword arguments of
docker-py's ``services.create`` / ``Service.update``; ``function_status`` turns
a service's inspect JSON into the OpenFaaS FunctionStatus shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from docker.types import (
    EndpointSpec,
    Healthcheck,
    Mount,
    Resources,
    SecretReference,
    ServiceMode,
    UpdateConfig,
)

from faas_sidecar import labels as keys
from faas_sidecar.containment import FUNCTION_LOG_DRIVER, FUNCTION_LOG_OPTIONS
from faas_sidecar.labels import ANNOTATION_PREFIX, OPENFAAS_ANNOTATION_PREFIX
from faas_sidecar.routing import NAMESPACE
from faas_sidecar.scaler.labels import ScaleLabelError, parse_scale_labels
from faas_sidecar.schedule import parse_schedule, ticks_after
from faas_sidecar.spec import function_name, is_function

from .payloads import Deployment

__all__ = ["function_name_of", "function_status", "is_function", "service_kwargs"]

_DIGEST_RE = re.compile(r"^(?P<ref>.+:[^/@]+)@sha256:[a-f0-9]{64}$")


def function_name_of(service: Mapping[str, Any]) -> str:
    """The function name of a service (docs/labels.md; the core's one definition)."""
    spec = service.get("Spec") or {}
    return function_name(spec.get("Name", ""), spec.get("Labels") or {})


def service_labels(deployment: Deployment) -> dict[str, str]:
    labels = dict(deployment.labels)
    labels.update({ANNOTATION_PREFIX + k: v for k, v in deployment.annotations.items()})
    # Last, so nothing in the request can unmark or rename the function.
    labels[keys.FUNCTION] = "true"
    labels[keys.NAME] = deployment.name
    return labels


# The watchdog's healthcheck_interval for a function deployed here, as stack.yml
# sets it for the stack's: after SIGTERM the watchdog serves on that long, while
# the sidecars take the task out of rotation, then answers replica_draining
# (which a sidecar sends to another replica) as long again (docs/watchdog.md).
# The watchdog's own default, 0, closes its port at once. envVars can set it.
DRAIN_ENV = {"healthcheck_interval": "1s"}


def service_env(deployment: Deployment) -> list[str]:
    env = {**DRAIN_ENV, **deployment.env_vars}
    if deployment.env_process is not None:
        env["fprocess"] = deployment.env_process
    return [f"{key}={value}" for key, value in sorted(env.items())]


def pids_limit(deployment: Deployment) -> int:
    """The task's process limit: the label (checked by payloads), or the default."""
    return int(deployment.labels.get(keys.PIDS_LIMIT, keys.DEFAULT_PIDS_LIMIT))


def service_resources(deployment: Deployment) -> Resources | None:
    limits, requests = deployment.limits, deployment.requests
    pids = pids_limit(deployment)
    if limits is None and requests is None and not pids:
        return None
    resources = Resources(
        cpu_limit=limits.nano_cpus if limits else None,
        mem_limit=limits.memory_bytes if limits else None,
        cpu_reservation=requests.nano_cpus if requests else None,
        mem_reservation=requests.memory_bytes if requests else None,
    )
    if pids:  # a fork bomb stops here (Engine API 1.41; docker-py has no argument)
        resources.setdefault("Limits", {})["Pids"] = pids
    return resources


# Containment every function deployed through the API gets, as stack.yml's
# functions do (docs/watchdog.md, "Containment defaults"): no capabilities
# (the watchdog image runs as user 10001 and needs none) and a tmpfs at /tmp,
# so that a read-only root (readOnlyRootFilesystem) still has somewhere to write.
CAP_DROP = ("ALL",)
TMP_BYTES = 64 * 1024 * 1024


def tmp_mount() -> Mount:
    return Mount(target="/tmp", source=None, type="tmpfs", tmpfs_size=TMP_BYTES)


def service_kwargs(deployment: Deployment, *, service_name: str, network: str,
                   replicas: int, secret_ids: Mapping[str, str],
                   health_interval: float = 0.0,
                   secret_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """docker-py service kwargs; ``secret_ids`` maps each secret name to its id,
    ``secret_names`` to its Docker name where that differs (a secret made by
    /system/secrets is ``<prefix><name>``): the file is always /run/secrets/<name>.

    ``health_interval`` (seconds, 0: the image's own) sets only how often the
    image's health check runs: Docker keeps the image's command, timeout and
    retries. A replica joins the rotation at its first passing check, so this
    is most of the time from "running" to "routable" (5 s in the watchdog's
    image by default)."""
    kwargs: dict[str, Any] = {
        "name": service_name,
        "image": deployment.image,
        "labels": service_labels(deployment),
        "env": service_env(deployment),
        "networks": [network],
        # No IPVS is assumed: the sidecar connects to task addresses itself.
        "endpoint_spec": EndpointSpec(mode="dnsrr"),
        "mode": ServiceMode("replicated", replicas=replicas),
        # Start the new task before stopping the old one: no gap in a rolling update.
        "update_config": UpdateConfig(parallelism=1, order="start-first"),
        "constraints": list(deployment.constraints),
        "read_only": deployment.read_only_root,
        "cap_drop": list(CAP_DROP),
        "mounts": [tmp_mount()],
        "log_driver": FUNCTION_LOG_DRIVER,
        "log_driver_options": dict(FUNCTION_LOG_OPTIONS),
        "secrets": [
            SecretReference(secret_ids[name], (secret_names or {}).get(name, name), filename=name)
            for name in deployment.secrets
        ],
    }
    resources = service_resources(deployment)
    if resources is not None:
        kwargs["resources"] = resources
    if health_interval > 0:
        kwargs["healthcheck"] = Healthcheck(interval=round(health_interval * 1e9))
    return kwargs


def replicas_of(service: Mapping[str, Any]) -> int | None:
    """Desired replicas of a replicated service; None for a global one."""
    mode = (service.get("Spec") or {}).get("Mode") or {}
    replicated = mode.get("Replicated")
    if replicated is None:
        return None
    return int(replicated.get("Replicas", 0))


def display_image(image: str) -> str:
    """Drop the digest Docker pins after a tag: 'x:1@sha256:..' -> 'x:1'."""
    match = _DIGEST_RE.fullmatch(image)
    return match.group("ref") if match else image


def _format_cpu(nano: int) -> str:
    return f"{nano / 1_000_000_000:g}"


def _resources_json(resources: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not resources:
        return None
    doc = {}
    if resources.get("MemoryBytes"):
        doc["memory"] = str(resources["MemoryBytes"])
    if resources.get("NanoCPUs"):
        doc["cpu"] = _format_cpu(resources["NanoCPUs"])
    # Pids is not an OpenFaaS field: the swarmfaas.pids_limit label shows it
    return doc or None


NEXT_RUNS = 3  # ticks of a scheduled function shown in its status


def schedule_status(labels: Mapping[str, str], now: datetime) -> dict[str, Any] | None:
    """A scheduled function's label and its next runs (UTC), or why the label
    is not valid; None for a function without a schedule."""
    raw = labels.get(keys.SCHEDULE)
    if raw is None:
        return None
    try:
        schedule = parse_schedule(labels)
    except keys.LabelError as exc:
        return {"expression": raw, "error": str(exc)}
    assert schedule is not None
    return {"expression": raw, "timeZone": schedule.zone, "catchUp": schedule.catch_up,
            "nextRuns": [t.strftime("%Y-%m-%dT%H:%M:%SZ")
                         for t in ticks_after(schedule, now, NEXT_RUNS)]}


def scaling_status(labels: Mapping[str, str]) -> dict[str, Any]:
    """The scaler's reading of a function's labels (docs/scaling.md), or why
    it cannot read them (it then leaves the function alone)."""
    try:
        spec = parse_scale_labels(labels)
    except ScaleLabelError as exc:
        return {"error": str(exc)}
    return {"min": spec.min, "max": spec.max, "type": spec.type.value,
            "target": spec.target, "zero": spec.zero, "zeroDuration": spec.zero_duration}


# Where annotations live in a service's labels; the later prefix wins a key both give.
_ANNOTATION_PREFIXES = (OPENFAAS_ANNOTATION_PREFIX, ANNOTATION_PREFIX)


def split_annotations(all_labels: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) of a service's labels: ours (``swarmfaas.annotation.<key>``,
    set through the API) and faas-swarm's (``com.openfaas.annotations.<key>``)."""
    labels = {k: v for k, v in all_labels.items() if not k.startswith(_ANNOTATION_PREFIXES)}
    annotations = {k[len(prefix):]: v for prefix in _ANNOTATION_PREFIXES
                   for k, v in all_labels.items() if k.startswith(prefix)}
    return labels, annotations


def function_status(service: Mapping[str, Any], *, available: int,
                    invocations: int | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """A service's inspect JSON -> OpenFaaS FunctionStatus (env values are not shown)."""
    spec = service.get("Spec") or {}
    task = spec.get("TaskTemplate") or {}
    container = task.get("ContainerSpec") or {}
    all_labels = spec.get("Labels") or {}
    labels, annotations = split_annotations(all_labels)
    env = dict(item.partition("=")[::2] for item in container.get("Env") or [])
    replicas = replicas_of(service)
    status: dict[str, Any] = {
        "name": function_name_of(service),
        "image": display_image(container.get("Image", "")),
        "namespace": NAMESPACE,  # the one /system/namespaces lists; the stack is a label
        "labels": labels,
        "annotations": annotations,
        "constraints": list((task.get("Placement") or {}).get("Constraints") or []),
        "secrets": [s.get("SecretName", "") for s in container.get("Secrets") or []],
        "readOnlyRootFilesystem": bool(container.get("ReadOnly", False)),
        "replicas": replicas if replicas is not None else available,
        "availableReplicas": available,
        "scaling": scaling_status(all_labels),
    }
    if "fprocess" in env:
        status["envProcess"] = env["fprocess"]
    if service.get("CreatedAt"):
        status["createdAt"] = service["CreatedAt"]
    resources = task.get("Resources") or {}
    for key, source in (("limits", "Limits"), ("requests", "Reservations")):
        value = _resources_json(resources.get(source))
        if value is not None:
            status[key] = value
    if invocations is not None:
        status["invocationCount"] = invocations
    if now is not None:
        schedule = schedule_status(all_labels, now)
        if schedule is not None:
            status["schedule"] = schedule
    return status
