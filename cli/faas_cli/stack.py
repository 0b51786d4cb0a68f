"""OpenFaaS function stack files (stack.yml), parsed into plain data.

The format is faas-cli's, so an existing project deploys unchanged:
`provider`, `functions.<name>` with `lang`, `handler`, `image`, `fprocess`,
`environment`, `environment_file`, `labels`, `annotations`, `secrets`,
`constraints`, `limits`, `requests`, `build_args`, `readonly_root_filesystem`,
`namespace`, `skip_build`; and `configuration.templates`. `${VAR}` and
`${VAR:-default}` are replaced from the environment first, as faas-cli does.
Pure (the environment and a file reader come in), tested in tests/cli/test_stack.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import CliError, Exit

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

_FUNCTION_KEYS = {
    "lang", "handler", "image", "fprocess", "environment", "environment_file", "labels",
    "annotations", "secrets", "constraints", "limits", "requests", "build_args",
    "readonly_root_filesystem", "namespace", "skip_build", "build_options", "platforms",
}
# Accepted for compatibility, with no effect here (said in docs/cli.md).
IGNORED_KEYS = {"build_options", "platforms"}


@dataclass(frozen=True)
class Function:
    name: str
    lang: str
    handler: str
    image: str
    fprocess: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    limits: Mapping[str, str] = field(default_factory=dict)
    requests: Mapping[str, str] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)
    # None: not in the stack file, so the platform's default (a read-only root)
    readonly_root_filesystem: bool | None = None
    skip_build: bool = False


@dataclass(frozen=True)
class TemplateSource:
    name: str
    source: str = ""


@dataclass(frozen=True)
class Stack:
    provider: str
    gateway: str
    functions: tuple[Function, ...]
    templates: tuple[TemplateSource, ...] = ()

    def select(self, names: tuple[str, ...]) -> tuple[Function, ...]:
        if not names:
            return self.functions
        known = {f.name: f for f in self.functions}
        missing = [n for n in names if n not in known]
        if missing:
            raise CliError(
                f"no function {', '.join(map(repr, missing))} in the stack file",
                Exit.USAGE,
                f"it has: {', '.join(known) or 'none'}",
            )
        return tuple(known[n] for n in names)


def substitute(text: str, env: Mapping[str, str]) -> str:
    """faas-cli's `${VAR}` / `${VAR:-default}`; an unset VAR without a default is ''."""
    return _VAR_RE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


def parse_stack(
    text: str,
    *,
    env: Mapping[str, str],
    read: Callable[[str], str] = lambda p: "",
    where: str = "stack.yml",
) -> Stack:
    """The Stack in a stack file's text; every error names the file and the field."""
    try:
        doc = yaml.safe_load(substitute(text, env))
    except yaml.YAMLError as exc:
        raise CliError(f"{where} is not valid YAML ({exc})", Exit.USAGE) from None
    if not isinstance(doc, dict):
        raise CliError(f"{where}: expected a mapping with `provider` and `functions`", Exit.USAGE)
    provider = doc.get("provider") or {}
    if not isinstance(provider, dict):
        raise _bad(where, "provider", "a mapping")
    functions = doc.get("functions")
    if not isinstance(functions, dict) or not functions:
        raise CliError(f"{where}: no `functions`", Exit.USAGE, "add one with `faas new NAME`")
    parsed = tuple(
        _function(str(name), spec, where, env, read) for name, spec in functions.items()
    )
    templates = (doc.get("configuration") or {}).get("templates") or []
    if not isinstance(templates, list):
        raise _bad(where, "configuration.templates", "a list")
    return Stack(
        provider=str(provider.get("name", "")),
        gateway=str(provider.get("gateway", "") or ""),
        functions=parsed,
        templates=tuple(
            TemplateSource(str(t.get("name", "")), str(t.get("source", "")))
            for t in templates
            if isinstance(t, dict)
        ),
    )


def _function(
    name: str, spec: Any, where: str, env: Mapping[str, str], read: Callable[[str], str]
) -> Function:
    at = f"functions.{name}"
    if not NAME_RE.fullmatch(name):
        raise CliError(
            f"{where}: function name {name!r} is not valid", Exit.USAGE,
            "use 1-63 of a-z, 0-9 and -, starting and ending with a letter or digit",
        )
    if not isinstance(spec, dict):
        raise _bad(where, at, "a mapping")
    unknown = sorted(set(spec) - _FUNCTION_KEYS)
    if unknown:
        raise CliError(
            f"{where}: unknown field {at}.{unknown[0]}", Exit.USAGE,
            "check the spelling (fields: " + ", ".join(sorted(_FUNCTION_KEYS)) + ")",
        )
    lang = _str(spec, "lang", where, at)
    image = _str(spec, "image", where, at)
    if not image:
        raise CliError(f"{where}: {at}.image is missing", Exit.USAGE,
                       f"e.g. image: swarmfaas/fn-{name}:latest")
    environment: dict[str, str] = {}
    for path in _list(spec, "environment_file", where, at):
        environment.update(_env_file(path, read, where, env))
    environment.update(_map(spec, "environment", where, at))
    namespace = _str(spec, "namespace", where, at)
    if namespace not in ("", "openfaas-fn"):
        raise CliError(
            f"{where}: {at}.namespace is {namespace!r}", Exit.USAGE,
            "this platform has one namespace: remove the field (openfaas-fn is accepted)",
        )
    return Function(
        name=name,
        lang=lang,
        handler=_str(spec, "handler", where, at) or f"./{name}",
        image=image,
        fprocess=_str(spec, "fprocess", where, at),
        environment=environment,
        labels=_map(spec, "labels", where, at),
        annotations=_map(spec, "annotations", where, at),
        secrets=_list(spec, "secrets", where, at),
        constraints=_list(spec, "constraints", where, at),
        limits=_resources(spec, "limits", where, at),
        requests=_resources(spec, "requests", where, at),
        build_args=_map(spec, "build_args", where, at),
        readonly_root_filesystem=(None if spec.get("readonly_root_filesystem") is None
                                  else bool(spec["readonly_root_filesystem"])),
        skip_build=bool(spec.get("skip_build", False)),
    )


def _env_file(path: str, read: Callable[[str], str], where: str, env: Mapping[str, str]) -> dict:
    try:
        doc = yaml.safe_load(substitute(read(path), env)) or {}
    except OSError as exc:
        raise CliError(f"{where}: cannot read environment_file {path} ({exc})",
                       Exit.USAGE) from None
    except yaml.YAMLError:
        raise CliError(f"{where}: environment_file {path} is not valid YAML", Exit.USAGE) from None
    values = doc.get("environment", {}) if isinstance(doc, dict) else None
    if not isinstance(values, dict):
        raise CliError(f"{path}: expected `environment:` with a mapping", Exit.USAGE)
    return {str(k): _scalar(v) for k, v in values.items()}


def _bad(where: str, at: str, what: str) -> CliError:
    return CliError(f"{where}: {at} must be {what}", Exit.USAGE)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def _str(spec: dict, key: str, where: str, at: str) -> str:
    v = spec.get(key)
    if v is None:
        return ""
    if isinstance(v, dict | list):
        raise _bad(where, f"{at}.{key}", "a string")
    return _scalar(v)


def _map(spec: dict, key: str, where: str, at: str) -> dict[str, str]:
    v = spec.get(key) or {}
    if not isinstance(v, dict):
        raise _bad(where, f"{at}.{key}", "a mapping")
    return {str(k): _scalar(x) for k, x in v.items()}


def _list(spec: dict, key: str, where: str, at: str) -> tuple[str, ...]:
    v = spec.get(key) or []
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        raise _bad(where, f"{at}.{key}", "a list")
    return tuple(_scalar(x) for x in v)


def _resources(spec: dict, key: str, where: str, at: str) -> dict[str, str]:
    v = _map(spec, key, where, at)
    unknown = sorted(set(v) - {"memory", "cpu"})
    if unknown:
        raise CliError(f"{where}: unknown field {at}.{key}.{unknown[0]}", Exit.USAGE,
                       "only memory and cpu")
    return {k: x for k, x in v.items() if x}
