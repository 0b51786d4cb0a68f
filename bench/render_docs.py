"""Render the "Latest figures" of docs/benchmarks.md from bench/results/.

The newest result of each benchmark (bench/report.py's common shape) becomes
one row: what was measured against what, the ratio and its rounds, the raw
figures, the date, the machine and its load, and the command. A benchmark of
bench/suite.py without a result yet is listed as not run, with its command.
Only the text between the two marker comments is replaced; the prose around
them is written by hand.

    .venv/bin/python bench/render_docs.py [--results bench/results] [--doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from report import RESULTS, SCHEMA
from suite import BENCHMARKS, Bench

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START = "<!-- bench:latest:start (bench/render_docs.py writes this part; edit outside it) -->"
END = "<!-- bench:latest:end -->"
WHEN = {"": "", "stack": "needs `make up`'s stack",
        "cluster": "only when the multi-node swarm is up (`make cluster && make cluster-up`)",
        "by hand": "by hand: needs a baseline tag and commit, not run by `make bench`"}


def newest(docs: Iterable[Mapping]) -> dict[str, Mapping]:
    """The newest result of each benchmark, by date; documents of another shape are ignored."""
    out: dict[str, Mapping] = {}
    for doc in docs:
        if doc.get("schema") != SCHEMA or not doc.get("name"):
            continue
        seen = out.get(doc["name"])
        if seen is None or doc.get("date", "") > seen.get("date", ""):
            out[doc["name"]] = doc
    return out


def cell(text: str) -> str:
    """Text safe inside one table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def code(text: str) -> str:
    text = cell(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def measured(doc: Mapping) -> str:
    ratio = doc.get("ratio")
    parts = []
    if ratio is None:
        parts.append("absolute")
    else:
        head = f"**{ratio:.2f}x**"
        rounds = doc.get("round_ratios") or []
        if len(rounds) > 1:
            head += f" (rounds {min(rounds):.2f}-{max(rounds):.2f})"
        parts.append(head + (f" {doc['metric']}" if doc.get("metric") else ""))
    if doc.get("summary"):
        parts.append(doc["summary"])
    if doc.get("target"):
        parts.append(f"target {doc['target']}")
    return cell("; ".join(parts))


def machine(doc: Mapping) -> str:
    m = doc.get("machine") or {}
    load = ""
    if m.get("load_start") and m.get("load_end"):
        load = f", load {m['load_start'][0]:.1f} -> {m['load_end'][0]:.1f}"
    took = f", {doc['seconds']:.0f} s" if doc.get("seconds") is not None else ""
    date = str(doc.get("date", "?")).replace("T", " ").replace("Z", " UTC")
    return cell(f"{date}; {m.get('cores', '?')} cores, {m.get('cpu_model', '?')}{load}{took}")


def what(doc: Mapping) -> str:
    subject, baseline = doc.get("subject"), doc.get("baseline")
    if not subject and not baseline:
        return "(the script states no subject or baseline)"
    if not baseline:  # measured against an absolute target
        return cell(subject)
    return cell(f"{subject or '?'} **vs** {baseline or '?'}")


TEST_FIGURES = "reliability-"


def render(catalogue: Sequence[Bench], results: Mapping[str, Mapping]) -> str:
    """The markdown between the markers: one row per benchmark, catalogue order
    first, then results of benchmarks the catalogue does not name."""
    lines = ["| benchmark | subject vs baseline | measured | date; machine; load | command |",
             "|---|---|---|---|---|"]
    named = {b.name for b in catalogue}
    for bench in catalogue:
        name = f"`{bench.name}`" + (f" ({WHEN[bench.needs]})" if bench.needs else "")
        doc = results.get(bench.name)
        if doc is None:
            lines.append(f"| {name} | | not run | | {code(bench.command)} |")
        else:
            lines.append(f"| {name} | {what(doc)} | {measured(doc)} | {machine(doc)} |"
                         f" {code(doc.get('command', bench.command))} |")
    # Figures the reliability suite records (reliability-*) are a test's, and
    # docs/reliability.md gives them.
    for key in sorted(k for k in set(results) - named if not k.startswith(TEST_FIGURES)):
        doc = results[key]
        lines.append(f"| `{key}` (not in bench/suite.py) | {what(doc)} | {measured(doc)} |"
                     f" {machine(doc)} | {code(doc.get('command', '?'))} |")
    return "\n".join(lines) + "\n"


def splice(text: str, block: str) -> str:
    """``text`` with what lies between the markers replaced by ``block``."""
    if text.count(START) != 1 or text.count(END) != 1:
        raise ValueError(f"the document needs each marker once: {START} ... {END}")
    head, rest = text.split(START)
    if END not in rest:
        raise ValueError("the end marker comes before the start marker")
    _, tail = rest.split(END)
    return f"{head}{START}\n{block}{END}{tail}"


def load(results: Path) -> list[dict]:
    docs = []
    for path in sorted(results.glob("*.json")):
        try:
            docs.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            print(f"skipped {path}: {exc}", file=sys.stderr)
    return docs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args()
    latest = newest(load(args.results))
    args.doc.write_text(splice(args.doc.read_text(), render(BENCHMARKS, latest)))
    ran = sum(1 for b in BENCHMARKS if b.name in latest)
    print(f"wrote {args.doc}: {ran} of {len(BENCHMARKS)} benchmarks with a result")
    return 0


if __name__ == "__main__":
    sys.exit(main())
