"""What a person reads (rich tables) and what a script reads (--json)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
# FunctionStatus.namespace is the platform's one namespace; the Docker stack a
# function belongs to is this label of it (set by `docker stack deploy`).
STACK_LABEL = "com.docker.stack.namespace"


def stack_of(f: dict[str, Any]) -> str:
    return str((f.get("labels") or {}).get(STACK_LABEL) or "-")


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def function_rows(functions: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """(name, stack, ready/desired, invocations, image) per function, by name. Pure."""
    rows = []
    for f in sorted(functions, key=lambda f: (str(f.get("name", "")), stack_of(f))):
        rows.append((
            str(f.get("name", "")),
            stack_of(f),
            f"{f.get('availableReplicas', 0)}/{f.get('replicas', 0)}",
            str(f.get("invocationCount", 0)),
            str(f.get("image", "")),
        ))
    return rows


def is_ready(status: dict[str, Any]) -> bool:
    """A function is ready when a replica takes calls (or none is wanted: scaled to 0)."""
    wanted = int(status.get("replicas", 0) or 0)
    return int(status.get("availableReplicas", 0) or 0) >= min(wanted, 1)


def describe_rows(f: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields of one FunctionStatus worth reading, in a stable order. Pure."""
    def kv(m: Any) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted((m or {}).items())) or "-"

    def res(m: Any) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted((m or {}).items())) or "-"

    return [
        ("name", str(f.get("name", ""))),
        ("status", "ready" if f.get("availableReplicas", 0) else "not ready"),
        ("replicas", f"{f.get('availableReplicas', 0)} ready of {f.get('replicas', 0)}"),
        ("image", str(f.get("image", ""))),
        ("process", str(f.get("envProcess") or "-")),
        ("invocations", str(f.get("invocationCount", 0))),
        ("stack", stack_of(f)),
        ("labels", kv(f.get("labels"))),
        ("annotations", kv(f.get("annotations"))),
        ("secrets", ", ".join(f.get("secrets") or []) or "-"),
        ("constraints", ", ".join(f.get("constraints") or []) or "-"),
        ("limits", res(f.get("limits"))),
        ("requests", res(f.get("requests"))),
        ("created", str(f.get("createdAt") or "-")),
    ]


def table(title: str, columns: list[str], rows: list[tuple[str, ...]]) -> None:
    t = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    # The first column names the row: it is never cut short, whatever the width.
    key_width = max([len(columns[0]), *(len(r[0]) for r in rows)]) if columns else 0
    for i, c in enumerate(columns):
        t.add_column(c, no_wrap=i == 0, min_width=key_width if i == 0 else None)
    for r in rows:
        t.add_row(*r)
    out.print(t)


def log_line(line: str) -> str:
    """One NDJSON log record (OpenFaaS: timestamp, instance, text) as a line to read. Pure."""
    try:
        rec = json.loads(line)
    except ValueError:
        return line
    if not isinstance(rec, dict):
        return line
    ts = str(rec.get("timestamp", ""))
    inst = str(rec.get("instance", ""))[:12]
    text = str(rec.get("text", "")).rstrip("\n")
    return " ".join(p for p in (ts, f"({inst})" if inst else "", text) if p)
