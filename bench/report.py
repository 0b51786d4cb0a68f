"""Where every benchmark writes its figures: bench/results/<name>-<epoch>.json.

One shape for every benchmark (docs/benchmarks.md is rendered from it by
bench/render_docs.py): what was measured against what, the ratio and its
per-round values, a one-line summary of the raw figures, the raw figures
themselves, and how and where it ran: the exact command line, the date, and
the machine (cores, CPU model, load average at start and at end).

The start is taken when a benchmark imports this module, which every one does
before it measures anything, so no script captures the machine itself.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent
SCHEMA = 1
# Settings some benchmarks take from the environment (SC_SIDECAR_IMAGE,
# BENCH_PYTHON, STACK, HTTPS_PORT ...): part of the command that reproduces a run.
COMMAND_ENV_PREFIXES = ("SC_", "BENCH_")
COMMAND_ENV_NAMES = ("STACK", "HTTPS_PORT", "TAG")


def cpu_model(cpuinfo: str) -> str:
    """The CPU's model name from the text of /proc/cpuinfo ("?" when absent)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "?"


def command_line(argv: Sequence[str], executable: str, env: dict[str, str],
                 root: Path = ROOT) -> str:
    """The command that reproduces this run from the repository's root: the
    benchmark's own settings from the environment, the interpreter and the arguments,
    with paths inside the repository made relative to it."""

    def relative(arg: str) -> str:
        path = Path(arg)
        if path.is_absolute() and path.is_relative_to(root):
            return str(path.relative_to(root))
        return arg

    settings = [f"{k}={env[k]}" for k in sorted(env)
                if k.startswith(COMMAND_ENV_PREFIXES) or k in COMMAND_ENV_NAMES]
    return shlex.join([*settings, relative(executable), *(relative(a) for a in argv)])


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


STARTED = time.time()
LOAD_AT_START = _loadavg()
COMMAND = command_line(sys.argv, sys.executable, dict(os.environ))


def result_doc(name: str, *, subject: str, baseline: str, ratio: float | None,
               round_ratios: Sequence[float] = (), metric: str = "", target: str = "",
               summary: str = "", figures: dict | None = None) -> dict:
    """The common shape of one run (see the module's docstring).

    ``ratio`` is subject / baseline as ``metric`` says (None for a benchmark
    measured against an absolute target); ``summary`` is the raw figures in
    one line, as the docs' table shows them."""
    now = time.time()
    return {
        "schema": SCHEMA, "name": name, "subject": subject, "baseline": baseline,
        "metric": metric, "target": target,
        "ratio": None if ratio is None else float(ratio),
        "round_ratios": [float(r) for r in round_ratios], "summary": summary,
        "command": COMMAND,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(STARTED)),
        "seconds": round(now - STARTED, 1),
        "machine": {"cores": os.cpu_count(), "cpu_model": cpu_model(_cpuinfo()),
                    "python": sys.version.split()[0],
                    "load_start": LOAD_AT_START, "load_end": _loadavg()},
        "figures": figures or {},
    }


def write_result(name: str, **fields) -> Path:
    """Write one run in the common shape (``result_doc``'s fields); print and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{int(time.time())}.json"
    path.write_text(json.dumps(result_doc(name, **fields), indent=2))
    print(f"wrote {path}")
    return path


def write_json(name: str, doc: dict) -> Path:
    """A benchmark that states no subject, baseline or ratio yet: its figures in
    the common shape, listed in the docs as such."""
    return write_result(name, subject="", baseline="", ratio=None, figures=doc)


def fmt_ratios(ratios: Sequence[float]) -> str:
    return ", ".join(f"{r:.2f}" for r in ratios)
