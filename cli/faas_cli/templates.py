"""Templates: where they are, what they say about themselves, which one a `lang` means.

A template is a folder with a template.yml, a Dockerfile and a `function/`
skeleton. They are looked up, first hit wins, in the project's `template/`
folder (faas-cli's convention, so a project's own templates win), then in the
templates shipped in this package. `find` is pure over a list of found templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import CliError, Exit

SHIPPED = Path(__file__).parent / "templates"
DEPS = {"pip", "npm", "go", "apt", "none"}


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    description: str = ""
    aliases: tuple[str, ...] = ()
    deps: str = "none"
    context: str = "template"  # "template": template + function/; "handler": the handler folder
    welcome: str = ""
    origin: str = "shipped"


def load(path: Path, origin: str) -> Template:
    meta_file = path / "template.yml"
    try:
        meta = yaml.safe_load(meta_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"template {path.name}: cannot read {meta_file} ({exc})",
                       Exit.USAGE) from None
    deps = str(meta.get("deps", "none"))
    if deps not in DEPS:
        raise CliError(f"{meta_file}: deps is {deps!r}", Exit.USAGE, f"one of {sorted(DEPS)}")
    return Template(
        name=path.name,
        path=path,
        description=str(meta.get("description", "")),
        aliases=tuple(str(a) for a in meta.get("aliases") or ()),
        deps=deps,
        context=str(meta.get("context", "template")),
        welcome=str(meta.get("welcome", "")).strip(),
        origin=origin,
    )


def discover(project_dir: Path) -> list[Template]:
    """Every template, the project's first; a name found twice keeps its first."""
    found: list[Template] = []
    for root, origin in ((project_dir / "template", "project"), (SHIPPED, "shipped")):
        if root.is_dir():
            found += [load(p, origin) for p in sorted(root.iterdir())
                      if (p / "template.yml").is_file()]
    seen: set[str] = set()
    unique = []
    for t in found:
        if t.name not in seen:
            seen.add(t.name)
            unique.append(t)
    return unique


def find(lang: str, templates: list[Template]) -> Template:
    """The template for `lang`: by name first, then by alias (python3 -> python)."""
    for t in templates:
        if t.name == lang:
            return t
    for t in templates:
        if lang in t.aliases:
            return t
    raise CliError(
        f"no template for lang {lang!r}",
        Exit.USAGE,
        "`faas template list` shows them: " + ", ".join(t.name for t in templates),
    )
